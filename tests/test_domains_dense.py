"""Dense blocks for split/all/graph relations on index domains (docs/architecture.md §12): bit for bit the
per-message gather path, on every shipped domain spec and on specs written to hit every aggregator,
signed zeros, NaN payloads, infinities, defaults, out-of-domain reads, unsorted and parallel edges,
batches of ragged sizes and tiny chunk caps; and the registry's block reduction against its scatter."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dpdsl.api import load_spec_text
from dpdsl.domains import engine
from dpdsl.domains.instance import SeqInstance
from dpdsl.domains.lower import lower
from dpdsl.execute import run_reference
from dpdsl.graphs.core import Graph
from dpdsl.registry import AGGREGATORS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_domains import BATCHES, spec  # noqa: E402

POOL = [0.0, -0.0, 1.5, -2.0, math.inf, -math.inf, math.nan, 0.25, 3.0, -0.5]


def same_bits(a: torch.Tensor, b: torch.Tensor, nan_payload: bool = False) -> bool:
    """Equal bit for bit (signed zeros included); NaN where the other is NaN, and with ``nan_payload``
    the same NaN bits too. Between the two paths NaN payloads are not comparable: an elementwise
    NaN * NaN keeps one operand's payload, and torch's broadcast and contiguous kernels keep different
    ones, so a message's NaN can differ before any reduction (docs/architecture.md §12)."""
    if a.dtype == torch.bool or b.dtype == torch.bool:
        return a.dtype == b.dtype and torch.equal(a, b)
    a, b = a.to(torch.float64), b.to(torch.float64)
    bits = a.view(torch.int64) == b.view(torch.int64)
    if not nan_payload:
        bits |= a.isnan() & b.isnan()
    return a.shape == b.shape and bool(bits.all())


def both_paths(sp, items, monkeypatch: pytest.MonkeyPatch, cap: str | None) -> None:
    """The run with dense blocks == the run with gather lists, every output bit for bit."""
    if cap is not None:
        monkeypatch.setenv("DPDSL_CHUNK_MESSAGES", cap)
    monkeypatch.setattr(engine, "DENSE", True)
    dense = run_reference(sp, items)
    monkeypatch.setattr(engine, "DENSE", False)
    gather = run_reference(sp, items)
    assert torch.equal(dense.rounds, gather.rounds)
    for out in sp.outputs:
        assert same_bits(dense.outputs[out], gather.outputs[out]), (sp.name, out, cap)


def modes(sp, items) -> set[str]:
    """Which paths a run's aggregates take (so the tests below know they cover the dense ones)."""
    seen: set[str] = set()
    orig = engine.DomainAgg.mode

    def spy(self, lay):
        m = orig(self, lay)
        seen.add(f"{self.plan.relation}:{m}")
        return m

    engine.DomainAgg.mode = spy
    try:
        run_reference(sp, items)
    finally:
        engine.DomainAgg.mode = orig
    return seen


DENSE_SPECS = ["floyd_warshall", "transitive_closure", "matrix_chain_order", "optimal_bst", "max_subarray",
               "minimum"]  # the shipped specs with a split or an ``all`` relation (grids have none)


@pytest.mark.parametrize("cap", [None, "97", "7"])
@pytest.mark.parametrize("name", DENSE_SPECS)
def test_shipped_specs_dense_equals_gather(name: str, cap: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    both_paths(spec(name), BATCHES[name](), monkeypatch, cap)


def test_shipped_specs_take_the_dense_path() -> None:
    """Not vacuous: the split, all and in-edges aggregates of the shipped specs run as blocks."""
    from dpdsl.graphs.generators import generate_graph, sample_input

    g = generate_graph("er", 12, 0, directed=True, p=0.5, loops=1)  # self loops last: edge ids give the order
    g.edge["w"] = sample_input("uniform", (0, 1), g.num_edges, 1, dtype_kind="real")
    assert {"split:dense", "in-edges:dense"} <= modes(spec("floyd_warshall"), [g])
    assert "split:dense" in modes(spec("optimal_bst"), BATCHES["optimal_bst"]())
    assert "all:dense" in modes(spec("minimum"), BATCHES["minimum"]())


# ------------------------------------------------------------------------------------ synthetic specs

PAIRS_MIX = """problem mix
domain pairs
graph directed
input node x : real
input edge w : real
state d[i, j] : real
init d = x[i] * x[j] - x[j]
transition d = unknown(d)
reference d = d
rounds 1
output smin = min over split k : d[i, k] + d[k, j]
output smax = max over split k : d[i, k] * d[k, j]
output ssum = sum over split k : d[i, k] * d[k, j] + x[k]
output sprod = prod over split k : d[i, k] - x[k]
output smean = mean over split k : d[i, k] - x[k]
output sarg = argmin over split k : d[i, k] + d[k, j]
output sargx = argmax over split k : d[k, j] * k default j
output sor = or over split k : d[i, k] < d[k, j]
output sand = and over split k : d[i, k] <= n
output scount = count over split k : d[i, k] < 0
output imin = min over in-edges u -> j : d[i, u] + w[u, j]
output iarg = argmin over in-edges u -> j : d[i, u] * w[u, j]
output isum = sum over in-edges u -> j : d[i, u] + w[u, j]
output omax = max over out-edges i -> u : d[u, j] + w[i, u]
output oarg = argmax over out-edges i -> u : d[u, j] default j
output twin = if (max over split k : d[i, k] - d[k, j]) > 0 then i else argmax over split k : d[i, k] - d[k, j]
output twin2 = (min over in-edges u -> j : d[i, u] + w[u, j]) + (argmin over in-edges u -> j : d[i, u] + w[u, j])
"""

INTERVALS_MIX = """problem ivmix
domain intervals
input p[i] : real
state m[i, j] : real
init m = if i == j then p[i] else p[i] - p[j]
transition m = unknown(m)
reference m = m
rounds 1
output a = sum over split k : m[i, k] * m[k + 1, j] + p[k - 1]
output b = argmax over split k : m[i, k] - m[k + 1, j] default j
output c = mean over split k : m[i, k] + p[k + 2]
output e = min over split k : m[i, k] + m[k + 1, j] default -1
output f = and over split k : m[i, k] < m[k + 1, j]
output g = argmin over split k : p[k + 1] * m[i, k]
"""

SEQUENCE_MIX = """problem sqmix
domain sequence
input x[i] : real
state q[i] : real
init q = x[i] * 2
transition q = unknown(q)
reference q = q
rounds 1
output a = sum over all k : q[k] * x[i] + k
output b = argmin over all k : q[k] + i
output c = max over all k : x[k - 1] default -7
output e = argmax over all k : q[k + 1] - x[k]
output f = or over all k : q[k] > q[i]
"""


def pool(rng: np.random.Generator, size: int) -> torch.Tensor:
    return torch.tensor(rng.choice(POOL, size=size), dtype=torch.float64)


def mix_graph(rng: np.random.Generator, n: int, how: str) -> Graph:
    """sorted: edges row by row; shuffled: the same, in random order; parallel: some edges twice."""
    mat = rng.random((n, n)) < 0.5
    src, dst = (torch.tensor(a, dtype=torch.long) for a in np.nonzero(mat))
    if how != "sorted":
        perm = torch.tensor(rng.permutation(src.shape[0]), dtype=torch.long)
        src, dst = src[perm], dst[perm]
    if how == "parallel" and src.shape[0]:
        src, dst = torch.cat([src, src[:3]]), torch.cat([dst, dst[:3]])
    m = int(src.shape[0])
    return Graph(n, torch.stack([src, dst]).reshape(2, m), True, node={"x": pool(rng, n)},
                 edge={"w": pool(rng, m)})


@pytest.mark.parametrize("how", ["sorted", "shuffled", "parallel"])
def test_pairs_mix_dense_equals_gather(how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng({"sorted": 1, "shuffled": 2, "parallel": 3}[how])
    sp = load_spec_text(PAIRS_MIX)
    graphs = [mix_graph(rng, n, how) for n in (1, 5, 3, 8, 2, 6)]
    seen = modes(sp, graphs)
    assert "split:dense" in seen
    pairs = []
    orig = AGGREGATORS["max"].__class__.aggregate_dense_pair
    monkeypatch.setattr(AGGREGATORS["max"].__class__, "aggregate_dense_pair",
                        lambda self, *a, **k: pairs.append(self.name) or orig(self, *a, **k))
    run_reference(sp, graphs)
    assert "max" in pairs  # the twin outputs share one pass (and are checked below like the rest)
    monkeypatch.undo()
    if how == "sorted":
        assert {"in-edges:dense", "out-edges:dense"} <= seen
    if how == "parallel":
        assert "in-edges:edges" in seen and "in-edges:dense" not in seen
    for cap in (None, "40", "3"):
        both_paths(sp, graphs, monkeypatch, cap)
        both_paths(sp, graphs[3:4], monkeypatch, cap)


def test_intervals_and_sequence_mix_dense_equals_gather(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    iv, sq = load_spec_text(INTERVALS_MIX), load_spec_text(SEQUENCE_MIX)
    ivs = [SeqInstance((n,), {"p": pool(rng, n)}) for n in (1, 4, 7, 2, 9)]
    sqs = [SeqInstance((n,), {"x": pool(rng, n)}) for n in (1, 6, 3, 10)]
    assert "split:dense" in modes(iv, ivs) and "all:dense" in modes(sq, sqs)
    for cap in (None, "30", "3"):
        both_paths(iv, ivs, monkeypatch, cap)
        both_paths(sq, sqs, monkeypatch, cap)


def test_dense_chunks_respect_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every block of a cut instance holds at most the cap's cells (a row over the cap: pieces of j)."""
    from dpdsl.domains.lower import RelationPlan, dense_blocks

    sp = spec("floyd_warshall")
    rng = np.random.default_rng(5)
    lay = lower(sp, [mix_graph(rng, 20, "sorted"), mix_graph(rng, 3, "sorted")])
    plan = RelationPlan("split", "k", "i")
    for cap in (1, 50, 400, 1000, 10**6):
        blocks = dense_blocks(plan, sp, lay, cap)
        covered = [t for b in blocks for t in range(b.t0, b.t1)]
        assert covered == list(range(lay.num_tuples))
        for b in blocks:
            nb, R, K, J = b.shape
            assert nb * R * K * J <= max(cap, K), (cap, b.shape)


# ------------------------------------------------------------------------------------ the registry law

values_pool = st.sampled_from(POOL + [float(x) for x in range(-2, 3)])


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(0, 6), st.integers(1, 3), st.integers(0, 2**31 - 1),
       st.sampled_from(sorted(a for a, x in AGGREGATORS.items() if x.dense)), st.booleans())
def test_aggregate_dense_equals_the_scatter(nb: int, R: int, K: int, J: int, seed: int, name: str,
                                            shuffled: bool) -> None:
    """``aggregate_dense`` over a block == ``aggregate`` over the same messages in the same order (or,
    with ``order``, in that order), bit for bit, NaN payloads and signed zeros included."""
    agg = AGGREGATORS[name]
    if shuffled and not agg.order_free:
        shuffled = False
    rng = np.random.default_rng(seed)
    shape = (nb, R, K, J)
    vals = torch.tensor(rng.choice(POOL, size=shape), dtype=torch.float64)
    nan2 = torch.tensor(0xFFF8000000000002 - 2**64, dtype=torch.int64).view(torch.float64)  # another NaN
    vals = torch.where(torch.tensor(rng.random(shape) < 0.1), nan2, vals)
    if agg.accepts == ("bool",):
        vals = vals > 0
    valid = torch.tensor(rng.random(shape) < 0.7)
    nbr = torch.arange(K).view(1, 1, K, 1)
    own = torch.arange(nb * R * J, dtype=torch.float64).view(nb, R, J) + 100
    order = torch.tensor(rng.permutation(nb * R * K * J), dtype=torch.long).view(shape) if shuffled else None
    got = agg.aggregate_dense(vals, valid, 2, nbr, own, order)
    # the same messages as a gather list: target (b, r, j), messages in k order (or in ``order``)
    tgt = torch.arange(nb * R * J).view(nb, R, 1, J).expand(shape)
    key = (order if order is not None else torch.arange(nb * R * K * J).view(nb, R, J, K).transpose(2, 3))
    keep = valid.reshape(-1)
    perm = torch.argsort(key.reshape(-1)[keep])
    v, me = vals.reshape(-1)[keep][perm], tgt.reshape(-1)[keep][perm]
    k = nbr.expand(shape).reshape(-1)[keep][perm].to(torch.float64)
    want = agg.aggregate(v, me, k, nb * R * J, own=own.reshape(-1))
    assert same_bits(got.reshape(-1), want, nan_payload=True), name
