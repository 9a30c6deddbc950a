"""Frontier rounds (``dpdsl.frontier``) give the dense rounds' results bit for bit.

Every shipped spec, on hypothesis-drawn graphs from its own family plus isolated nodes and
unreachable parts, single and batched, with the sparse/dense switch forced both ways.
"""

from __future__ import annotations

import pytest
import torch
from bits import same_bits
from hypothesis import given, settings
from hypothesis import strategies as st

from dpdsl import frontier
from dpdsl.execute import reference_transitions, run_skeleton
from dpdsl.graphs.core import Graph, batch_graphs
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs


def with_isolated(g: Graph, extra: int) -> Graph:
    """``g`` plus ``extra`` nodes without edges (inputs copied from node 0: unreachable parts)."""
    if extra == 0 or g.num_nodes == 0:
        return g
    node = {k: torch.cat([v, v[:1].expand(extra)]) for k, v in g.node.items()}
    return Graph(g.num_nodes + extra, g.edge_index, g.directed, node, dict(g.edge))


def assert_same(spec: SpecIR, g: Graph) -> int:
    """Frontier vs dense; returns how many rounds ran sparse (so the test knows it exercised them)."""
    trans = reference_transitions(spec)
    dense = run_skeleton(spec, g, trans, frontier=False)
    calls = {"n": 0}
    real = frontier.Frontier.sparse_views

    def counting(self, changed):  # noqa: ANN001 - wraps the real method
        out = real(self, changed)
        calls["n"] += out is not None
        return out

    frontier.Frontier.sparse_views = counting
    try:
        sparse = run_skeleton(spec, g, trans, frontier=True)
    finally:
        frontier.Frontier.sparse_views = real
    assert torch.equal(dense.rounds, sparse.rounds), spec.name
    for k in dense.outputs:
        assert same_bits(dense.outputs[k], sparse.outputs[k]), (spec.name, k)
    for k in dense.final_state:
        assert same_bits(dense.final_state[k], sparse.final_state[k]), (spec.name, k)
    return calls["n"]


@pytest.mark.parametrize("fraction", [1.0, 0.2])
@settings(max_examples=25, deadline=None, derandomize=True)
@given(data=st.data())
def test_frontier_equals_dense_on_every_shipped_spec(node_specs: dict[str, SpecIR], fraction: float, data) -> None:
    specs = node_specs  # frontier rounds are for node domains
    name = data.draw(st.sampled_from(sorted(specs)), label="spec")
    spec = specs[name]
    seed = data.draw(st.integers(0, 2**31 - 1), label="seed")
    lo = data.draw(st.integers(1, 20), label="lo")
    graphs = sample_graphs(spec, 3, seed, nodes=(lo, lo + data.draw(st.integers(0, 30))))
    extra = data.draw(st.integers(0, 3), label="isolated")
    graphs = [with_isolated(g, extra) for g in graphs]
    old = frontier.DENSE_FRACTION
    frontier.DENSE_FRACTION = fraction
    try:
        assert_same(spec, graphs[0])
        assert_same(spec, batch_graphs(graphs))
    finally:
        frontier.DENSE_FRACTION = old


def test_sparse_rounds_really_run(node_specs: dict[str, SpecIR]) -> None:
    specs = node_specs
    """With the switch forced to sparse, every shipped spec runs some frontier rounds (and still agrees)."""
    old = frontier.DENSE_FRACTION
    frontier.DENSE_FRACTION = 1.0
    try:
        for name, spec in specs.items():
            g = batch_graphs(sample_graphs(spec, 4, 7, nodes=(12, 24)))
            assert assert_same(spec, g) > 0, name
    finally:
        frontier.DENSE_FRACTION = old
