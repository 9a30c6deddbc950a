"""Frontier rounds (``dpdsl.frontier``) give the dense rounds' results bit for bit.

Every shipped spec, on hypothesis-drawn graphs from its own family plus isolated nodes and
unreachable parts, single and batched, with the sparse/dense switch forced both ways.
"""

from __future__ import annotations

import numpy as np
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


def same_bits_but_nan(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Same bits except that any NaN equals any NaN: torch's vectorised min/max return a NaN with all
    bits set inside a SIMD vector and the default NaN in the scalar tail, so a NaN's payload depends on
    the node's position in the tensor, not on the values (the fixpoint test ignores payloads too)."""
    if a.dtype != torch.float64:
        return same_bits(a, b)
    both = torch.isnan(a) & torch.isnan(b)
    return same_bits(torch.where(both, 0.0, a), torch.where(both, 0.0, b))


def assert_same(spec: SpecIR, g: Graph, same=same_bits) -> int:  # noqa: ANN001 - a comparison
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
        assert same(dense.outputs[k], sparse.outputs[k]), (spec.name, k)
    for k in dense.final_state:
        assert same(dense.final_state[k], sparse.final_state[k]), (spec.name, k)
    assert torch.equal(dense.capped, sparse.capped), spec.name
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


# --- every push/pull mode, signed zeros, NaN, the CSR and the switch -----------------------------------

MIXED = """problem frontier_mixed
graph directed
input node a : real
input edge w : real
state x : real
state b : bool
init  x = a
init  b = a > 0.5
view  lo  = min over in-edges u -> v : x[u] + w[u, v]
view  hi  = max over in-edges u -> v : x[u] - x[v]
view  all = and over in-edges u -> v : b[u]
view  any = or over in-edges u -> v : b[u]
view  cnt = count over in-edges u -> v : b[u]
view  tot = sum over in-edges u -> v : x[u]
view  avg = mean over in-edges u -> v : w[u, v] * x[u]
view  far = max over in-edges u -> v : -x[u]
transition x = unknown(x, lo, hi, cnt, tot, avg, far)
reference  x = if cnt > 1 then min(x, lo) else max(x - 1, min(hi, tot + avg + far))
transition b = unknown(b, all, any)
reference  b = if all then not b else any
ROUNDS
output x
output b
output p = argmin over in-edges u -> v : x[u] + w[u, v]
output m = min over in-edges u -> v : x[u] + w[u, v]
"""
"""Views of every frontier mode (min/max push with monotone and non-monotone bodies, and/or/count push,
sum/mean pull, a body reading x[v]), a transition that moves values both ways (pushes that must fall
back to pulls), outputs that reuse a min view's edge values (argmin and min over the same body)."""

PALETTE = [-1.0, -0.0, 0.0, 0.25, 0.5, 1.0, 2.0, float("inf"), -float("inf"), float("nan")]


def mixed_spec(rounds: str) -> SpecIR:
    from dpdsl.api import load_spec_text

    return load_spec_text(MIXED.replace("ROUNDS", rounds), "frontier_mixed.dp")


def palette_graph(seed: int, n: int, m: int, nasty: bool) -> Graph:
    """A random multigraph (self loops allowed) with inputs from ``PALETTE`` (signed zeros, infinities,
    NaN) or, without ``nasty``, from U[0, 1)."""
    gen = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, max(n, 1), (2, m), generator=gen) if n else torch.zeros(2, 0, dtype=torch.long)
    pal = torch.tensor(PALETTE, dtype=torch.float64)
    if nasty:
        a = pal[torch.randint(0, len(PALETTE), (n,), generator=gen)]
        w = pal[torch.randint(0, len(PALETTE), (m,), generator=gen)]
    else:
        a = torch.rand(n, generator=gen, dtype=torch.float64)
        w = torch.rand(m, generator=gen, dtype=torch.float64)
    return Graph(n, ei, True, {"a": a}, {"w": w})


@pytest.mark.parametrize("rounds", ["rounds 6", "rounds n - 1", "rounds n until fixpoint"])
@pytest.mark.parametrize(("fraction", "csr_after"), [(1.0, 0), (1.0, 10**6), (0.3, 2)])
@settings(max_examples=15, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(0, 30), deg=st.integers(0, 4), nasty=st.booleans(),
       parts=st.integers(1, 3))
def test_every_view_mode_equals_dense(rounds: str, fraction: float, csr_after: int, seed: int, n: int,
                                      deg: int, nasty: bool, parts: int) -> None:
    spec = mixed_spec(rounds)
    graphs = [palette_graph(seed + i, n + i, (n + i) * deg, nasty) for i in range(parts)]
    old = frontier.DENSE_FRACTION, frontier.CSR_AFTER
    frontier.DENSE_FRACTION, frontier.CSR_AFTER = fraction, csr_after
    try:
        assert_same(spec, graphs[0], same_bits_but_nan)
        assert_same(spec, batch_graphs(graphs), same_bits_but_nan)
    finally:
        frontier.DENSE_FRACTION, frontier.CSR_AFTER = old


def count_rounds(spec: SpecIR, g: Graph) -> tuple[int, int, int]:
    """(dense rounds, sparse rounds, rounds) of a frontier run, checked equal to the dense run."""
    from dpdsl.execute import _Run

    calls = {"dense": 0}
    real = _Run.dense_round

    def counting(self, t, fr):  # noqa: ANN001 - wraps the real method
        calls["dense"] += fr is not None  # frontier runs only (assert_same also runs a dense one)
        return real(self, t, fr)

    _Run.dense_round = counting
    try:
        sparse = assert_same(spec, g)
    finally:
        _Run.dense_round = real
    rounds = int(run_skeleton(spec, g, reference_transitions(spec), frontier=False).rounds.max())
    return calls["dense"], sparse, rounds


def test_switch_at_both_extremes(specs: dict[str, SpecIR]) -> None:
    """DENSE_FRACTION 0: every round dense; 1: every round after the first sparse (the first has no
    frontier yet); both equal the dense run (Bellman-Ford on an ER graph with unreachable nodes)."""
    spec = specs["bellman_ford"]
    g = with_isolated(sample_graphs(spec, 1, 3, nodes=(60, 60))[0], 5)
    old = frontier.DENSE_FRACTION
    try:
        frontier.DENSE_FRACTION = 0.0
        dense, sparse, rounds = count_rounds(spec, g)
        assert sparse == 0 and dense == rounds + 1  # + the round that finds the fixpoint
        frontier.DENSE_FRACTION = 1.0
        dense, sparse, rounds = count_rounds(spec, g)
        assert dense == 1 and sparse == rounds
    finally:
        frontier.DENSE_FRACTION = old


def test_csr_slices_equal_scans() -> None:
    """A CSR slice and a scan give the same edges (as sets, and each node's edges in edge order)."""
    gen = torch.Generator().manual_seed(5)
    key = torch.randint(0, 50, (400,), generator=gen)
    nodes = torch.unique(torch.randint(0, 50, (12,), generator=gen))
    csr = frontier.Csr(key, 50).edges_of(nodes)
    want = torch.tensor([e for v in nodes.tolist() for e in range(400) if key[e] == v])  # plain Python
    assert torch.equal(csr, want)
    scan = frontier.EdgeSide(key, 50).edges_of(nodes)
    assert torch.equal(scan, torch.tensor(sorted(want.tolist())))
    assert np.array_equal(frontier.Csr(torch.sort(key).values, 50).perm, np.arange(400))  # sorted input
    other = torch.randint(0, 50, (400,), generator=gen)
    eids, ends, others = frontier.Csr(key, 50).edges_and_ends(nodes, other)
    assert torch.equal(eids, want) and torch.equal(ends, key[want]) and torch.equal(others, other[want])


@pytest.mark.parametrize("count", [0, 1, 7, 40, 3000])
def test_unique_nodes_both_ways(count: int) -> None:
    """Sorted distinct ids by sort (few ids) and by the node mask (many), each equal to torch.unique,
    and the mask left all false."""
    gen = torch.Generator().manual_seed(count)
    mark = torch.zeros(1500, dtype=torch.bool)
    parts = [torch.randint(0, 1500, (count,), generator=gen), torch.randint(0, 1500, (count // 3,), generator=gen)]
    assert torch.equal(frontier.unique_nodes(parts, mark), torch.unique(torch.cat(parts)))
    assert not mark.any()


@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=st.integers(0, 2**31 - 1))
def test_monotone_signs_hold(node_specs: dict[str, SpecIR], seed: int) -> None:
    """Where ``monotone_signs`` vouches for a body, raising one neighbour state never lowers (+1) /
    never raises (-1) an edge value, on random finite states (checked by evaluating the body)."""
    from dpdsl.execute import CompiledAgg, make_context

    gen = torch.Generator().manual_seed(seed)
    for spec in [*node_specs.values(), mixed_spec("rounds 6")]:
        g = palette_graph(seed, 12, 40, nasty=False) if spec.name == "frontier_mixed" else \
            sample_graphs(spec, 1, seed % 1000, nodes=(8, 12))[0]
        ctx = make_context(spec, g)
        for name, v in spec.views.items():
            sig = frontier.monotone_signs(v.agg.body)
            if not sig:
                continue
            agg = CompiledAgg(spec.param_values, v.agg)
            base = {f: torch.randn(ctx.graph.num_nodes, generator=gen, dtype=torch.float64) * 3
                    for f in spec.states}
            ctx.state = base
            before = agg.edge_values(ctx)[0].to(torch.float64)
            for f, sign in sig.items():
                ctx.state = {**base, f: base[f] + torch.rand(ctx.graph.num_nodes, generator=gen,
                                                              dtype=torch.float64)}
                after = agg.edge_values(ctx)[0].to(torch.float64)
                assert bool((sign * (after - before) >= 0).all()), (spec.name, name, f)


def test_early_stop_keeps_the_cap_flag() -> None:
    """Without a fixpoint a frontier run stops once no bit changes; graphs already on their cap may still
    be changing (shortest-path counts on paths: test_language's oracle), and ``capped`` must say so as
    the dense run does."""
    import numpy as np
    from test_language import PATH_COUNT, _path

    from dpdsl.api import load_spec_text

    spec = load_spec_text(PATH_COUNT, "c.dp")
    rng = np.random.default_rng(1)
    cases = [(int(n), int(rng.integers(0, n))) for n in rng.integers(1, 8, size=30)] + [(5, 0), (1, 0)]
    cases.append((15, 7))  # the largest cap, but settled by round 9: the run stops before round 14
    g = batch_graphs([_path(n, s) for n, s in cases])
    assert assert_same(spec, g) > 0
    sparse = run_skeleton(spec, g, reference_transitions(spec), frontier=True)
    assert sparse.capped.tolist() == [n > 1 and s in (0, n - 1) for n, s in cases]


@pytest.mark.parametrize("name", ["bellman_ford", "widest_path"])
def test_inputs_that_require_grad(node_specs: dict[str, SpecIR], name: str) -> None:
    """Inputs a user left attached to autograd run frontier rounds too (the numpy bookkeeping reads
    detached values) and give the dense rounds' bits: BF also exercises the static push, widest the
    push with compared edges."""
    spec = node_specs[name]
    g = sample_graphs(spec, 1, seed=3, nodes=(400, 400), family="er", family_args={"p": 0.02})[0]
    for store in (g.node, g.edge):
        for k, v in store.items():
            if v.dtype.is_floating_point:
                store[k] = v.clone().requires_grad_()
    assert assert_same(spec, g) > 0
