"""``dpdsl.runtime``: the helpers emitted skeletons import, tested directly, and shared with the executor
and the registry (one implementation each, so the skeleton cannot drift from the reference)."""

from __future__ import annotations

import math

import pytest
import torch

from dpdsl import execute, runtime
from dpdsl.graphs.core import Graph
from dpdsl.registry import AGGREGATORS, FUNCTIONS
from dpdsl.sampling import sample_graphs

INF, NAN = math.inf, math.nan


def _t(*xs: float) -> torch.Tensor:
    return torch.tensor(xs, dtype=torch.float64)


def test_full_encodes_like_the_executor() -> None:
    assert torch.equal(runtime.full(True, 3), torch.ones(3, dtype=torch.bool))
    assert runtime.full(False, 0).shape == (0,) and runtime.full(False, 0).dtype == torch.bool
    assert torch.equal(runtime.full(2, 2), _t(2.0, 2.0))  # ints become float64
    assert torch.equal(runtime.full(-INF, 1), _t(-INF))
    assert runtime.full(1.5, 4).dtype == torch.float64


def test_fmin_fmax_reduce_pairwise_and_propagate_nan() -> None:
    a, b, c = _t(1, 5, NAN, -INF), _t(2, 3, 0, 7), _t(0, 4, 1, INF)
    torch.testing.assert_close(runtime.fmin(a, b, c), _t(0, 3, NAN, -INF), rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(runtime.fmax(a, b, c), _t(2, 5, NAN, INF), rtol=0, atol=0, equal_nan=True)
    assert torch.equal(runtime.fmin(b, c), torch.minimum(b, c))
    assert FUNCTIONS["min"].torch_fn is runtime.fmin and FUNCTIONS["max"].torch_fn is runtime.fmax


def test_fill_empty_puts_the_identity_only_where_no_edge_arrives() -> None:
    edge_index = torch.tensor([[0, 1, 1], [2, 2, 0]])  # nodes 1 and 3 receive nothing
    out = _t(0, 0, 0, 0)  # what PyG leaves: node 0's and 2's zeros are real values
    assert torch.equal(runtime.fill_empty(out, edge_index, 4, INF), _t(0, INF, 0, INF))
    assert torch.equal(runtime.fill_empty(_t(), torch.zeros(2, 0, dtype=torch.long), 0, -INF), _t())


@pytest.mark.parametrize("name", ["min", "max", "sum", "prod", "count", "mean"])
def test_fill_empty_gives_the_registry_identity(name: str) -> None:
    agg = AGGREGATORS[name]
    edge_index = torch.tensor([[0], [1]])
    values = torch.tensor([True]) if name == "count" else _t(3.0)
    want = agg.aggregate(values, edge_index[1], edge_index[0], 3)
    filled = runtime.fill_empty(torch.zeros(3, dtype=torch.float64), edge_index, 3, float(agg.identity))
    assert filled[0] == want[0] and filled[2] == want[2]  # the empty neighbourhoods


def _depths_by_walking(g: Graph) -> list[float]:
    parent = {int(c): int(p) for p, c in g.edge_index.T.tolist()}
    out = []
    for v in range(g.num_nodes):
        d = 0
        while v in parent:
            v, d = parent[v], d + 1
        out.append(float(d))
    return out


def test_tree_depths_and_height(specs: dict) -> None:
    forest = torch.tensor([[0, 0, 2, 4], [1, 2, 3, 5]])  # 0 -> 1, 0 -> 2 -> 3; 4 -> 5; 6 alone
    assert torch.equal(runtime.tree_depths(forest, 7), _t(0, 1, 1, 2, 0, 1, 0))
    assert runtime.tree_height(forest, 7) == 2.0
    assert runtime.tree_height(torch.zeros(2, 0, dtype=torch.long), 0) == 0.0
    assert runtime.tree_height(torch.zeros(2, 0, dtype=torch.long), 1) == 0.0
    chain = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    assert runtime.tree_height(chain, 5) == 4.0  # the longest path needs every one of its passes
    for g in sample_graphs(specs["mwis_tree"], 20, 0, nodes=(1, 30)):
        depths = runtime.tree_depths(g.edge_index, g.num_nodes)
        assert depths.tolist() == _depths_by_walking(g)


def test_round_cap_follows_tolerances_round_caps() -> None:
    assert runtime.round_cap(_t(3, 7.9, 2)) == 7
    assert runtime.round_cap(_t(NAN, INF, -4)) == 0  # no rounds for nan, +inf or negatives
    assert runtime.round_cap(_t(NAN, 2.0)) == 2
    assert runtime.round_cap(_t()) == 0


def test_differs_and_same_are_the_fixpoint_rule() -> None:
    a, b = _t(1, NAN, INF, 0.0, 2), _t(1, NAN, INF, -0.0, 3)
    assert runtime.differs(a, b).tolist() == [False, False, False, False, True]
    assert not runtime.same(a, b) and runtime.same(a, a.clone())
    assert runtime.same(_t(NAN), _t(NAN)) and not runtime.same(_t(NAN), _t(1))
    x, y = torch.tensor([True, False]), torch.tensor([True, True])
    assert runtime.differs(x, y).tolist() == [False, True] and runtime.same(x, x.clone())
    assert runtime.same(_t(), _t())


def test_executor_uses_the_runtime_helpers() -> None:
    """One implementation each: the executor's change test and tree depths are the runtime's."""
    assert execute._differs is runtime.differs
    assert execute.tree_depths is runtime.tree_depths
