"""The student's compiled trees (nested ``torch.where`` closures, cheap fixpoint test) must agree bit
for bit with the tree's array form the fitter uses (features -> ``[N, P]`` -> ``tree.predict`` in numpy
-> gather), on random trees over random features, including NaN, infinities, signed zeros and ties.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from bits import same_bits
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.profiler import ProfilerActivity, profile

from dpdsl import execute
from dpdsl import tree as T
from dpdsl.api import load_spec_text
from dpdsl.execute import SERIAL_TEST_FROM, _any_differs, _differs, run_skeleton
from dpdsl.features import FeatureSet, candidate_features, evaluate_features, typed_features
from dpdsl.graphs.core import Graph, batch_graphs
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs
from dpdsl.student import FieldTree, Student


def array_transition(ft: FieldTree, spec: SpecIR):
    """The oracle: every feature evaluated into ``[N, P]`` bools and ``[N, K]`` terms, the tree's array
    form walked in numpy, the selected term gathered."""
    arrays = T.to_arrays(ft.tree)
    dtype = spec.states[ft.features.field].type.dtype()

    def run(**args: torch.Tensor) -> torch.Tensor:
        n = int(next(iter(args.values())).shape[0])
        X = evaluate_features(spec, ft.features.predicates, args, torch.bool)
        X = X if X.shape[1] else torch.zeros(n, 1, dtype=torch.bool)
        cls = torch.from_numpy(T.predict(arrays, X.numpy()))
        values = evaluate_features(spec, ft.features.terms, args, dtype)
        return values.gather(1, cls.unsqueeze(1)).squeeze(1)

    return run

# exercises every branch of compile_local: enum labels, bools, params, unary ops, all binary ops, Cond, Call
EXTRA_SPEC = """problem mixed
graph directed
param k : real = 2.5
input node seed : bool
input node x : real
state c : {red, green, blue}
state hot : bool
state y : real
init c = if seed then green else red
init hot = seed
init y = x
view any_hot = or over in-edges u -> v : hot[u]
view lo = min over in-edges u -> v : y[u] / x[v] - 1
transition c = unknown(c, any_hot, lo, x)
reference c = if any_hot then blue else c
transition hot = unknown(hot, any_hot, lo)
reference hot = hot or any_hot
transition y = unknown(y, lo, x)
reference y = min(y, lo)
rounds n until fixpoint
output c
output hot
output y
sample graph er(p = 0.4) nodes 4..12
sample seed one_hot
sample x uniform(-1, 2)
"""
EXTRA_FEATURES = {
    "c": (["not any_hot", "any_hot and lo < k", "any_hot or x == -inf", "lo != x", "lo <= x", "lo >= k",
           "if any_hot then lo > x else x == inf"], ["red", "blue", "if lo < x then green else c"]),
    "hot": (["not hot", "hot and any_hot", "-lo < 1"], ["false", "true", "hot or any_hot", "not hot"]),
    "y": (["y < lo", "y == inf", "lo - x > 0", "y * 2 < x / 3", "abs(y) < k"],
          ["y", "lo", "x", "inf", "k", "-y", "y + lo", "lo - x", "y * x", "lo / x", "min(y, lo)",
           "max(y, lo, x)", "abs(lo)", "if y < lo then y else lo", "0"]),
}
POOL = torch.tensor([math.nan, math.inf, -math.inf, -0.0, 0.0, 0.5, 1.0, 2.0, 2.5, -1.0], dtype=torch.float64)


@pytest.fixture(scope="module")
def spec_fields(node_specs: dict[str, SpecIR]) -> list[tuple[SpecIR, FeatureSet]]:
    specs = node_specs
    """Every shipped field's candidate features, plus the mixed spec's candidates and extra features."""
    out = [(spec, candidate_features(spec, f)) for spec in specs.values() for f in spec.states]
    mixed = load_spec_text(EXTRA_SPEC, "mixed.dp")
    for f, (preds, terms) in EXTRA_FEATURES.items():
        out.append((mixed, candidate_features(mixed, f)))
        out.append((mixed, typed_features(mixed, f, preds, terms)))
    return out


def trees(n_pred: int, n_term: int) -> st.SearchStrategy[T.Tree]:
    """Arbitrary trees: unbalanced, predicates re-tested on a path, terms repeated across leaves."""
    leaf = st.builds(T.Leaf, st.integers(0, n_term - 1))
    if n_pred == 0:
        return leaf
    return st.recursive(leaf, lambda sub: st.builds(T.Split, st.integers(0, n_pred - 1), sub, sub), max_leaves=12)


def random_args(spec: SpecIR, field: str, n: int, seed: int) -> dict[str, torch.Tensor]:
    """Local arguments drawn from a small pool (NaN, +-inf, +-0, ties), so every comparison branch fires."""
    gen = torch.Generator().manual_seed(seed)
    args = {}
    for a in spec.states[field].args:
        if spec.arg_type(a).kind == "bool":
            args[a] = torch.rand(n, generator=gen) < 0.5
        elif spec.arg_type(a).kind == "enum":
            args[a] = torch.randint(0, len(spec.arg_type(a).labels), (n,), generator=gen).to(torch.float64)
        else:
            args[a] = POOL[torch.randint(0, len(POOL), (n,), generator=gen)]
    return args




@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.data())
def test_compiled_tree_matches_array_form(spec_fields: list[tuple[SpecIR, FeatureSet]], data) -> None:
    spec, fs = data.draw(st.sampled_from(spec_fields), label="field")
    tree = data.draw(trees(len(fs.predicates), len(fs.terms)), label="tree")
    n = data.draw(st.integers(0, 40), label="nodes")
    args = random_args(spec, fs.field, n, data.draw(st.integers(0, 2**31 - 1), label="seed"))
    ft = FieldTree(fs, tree)
    fast, generic = ft.transition(spec)(**args), array_transition(ft, spec)(**args)
    assert same_bits(fast, generic), (fs.field, T.to_rules(tree, fs.predicate_names, fs.term_names))


def test_compiled_tree_matches_array_form_on_complete_random_trees(
    spec_fields: list[tuple[SpecIR, FeatureSet]],
) -> None:
    """Seeded sweep over the planted-benchmark tree shape (complete, distinct predicates on a path)."""
    rng = np.random.default_rng(0)
    for i, (spec, fs) in enumerate(spec_fields):
        for depth in range(min(4, len(fs.predicates)) + 1):
            tree = T.random_tree(len(fs.predicates), depth, len(fs.terms), rng, distinct_siblings=len(fs.terms) > 1)
            args = random_args(spec, fs.field, 257, 100 * i + depth)
            ft = FieldTree(fs, tree)
            assert same_bits(ft.transition(spec)(**args), array_transition(ft, spec)(**args))


def with_specials(g: Graph, seed: int) -> Graph:
    """A copy of ``g`` with a third of every real input replaced by NaN, +-inf or +-0."""
    gen = torch.Generator().manual_seed(seed)
    g = Graph(g.num_nodes, g.edge_index, g.directed, dict(g.node), dict(g.edge), g.batch, g.num_graphs)
    for store in (g.node, g.edge):
        for key, v in store.items():
            if v.dtype == torch.float64:
                hit = torch.rand(v.shape, generator=gen) < 0.35
                store[key] = torch.where(hit, POOL[torch.randint(0, 5, v.shape, generator=gen)], v)
    return g


@pytest.mark.parametrize("serial_from", [0, SERIAL_TEST_FROM])
def test_student_run_matches_array_form_transitions(
    node_specs: dict[str, SpecIR], serial_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whole runs with compiled vs array-form transitions (trajectories, outputs, rounds), and single-graph
    runs (the cheap fixpoint test, numpy and torch branch) against the batch's per-node test."""
    monkeypatch.setattr(execute, "SERIAL_TEST_FROM", serial_from)
    rng = np.random.default_rng(1)
    for spec in [*node_specs.values(), load_spec_text(EXTRA_SPEC, "mixed.dp")]:
        fields = {}
        for f in spec.states:
            fs = candidate_features(spec, f)
            depth = min(2, len(fs.predicates))
            fields[f] = FieldTree(fs, T.random_tree(len(fs.predicates), depth, len(fs.terms), rng,
                                                    distinct_siblings=len(fs.terms) > 1))
        student = Student(spec, fields)
        generic = {name: array_transition(ft, spec) for name, ft in fields.items()}
        graphs = sample_graphs(spec, 4, 3, nodes=(3, 12))
        odd = [with_specials(g, i) for i, g in enumerate(graphs)]
        for g in [graphs[0], batch_graphs(graphs), odd[0], batch_graphs(odd)]:
            a = student.run(g, record=True)
            b = run_skeleton(spec, g, generic, record=True)
            assert torch.equal(a.rounds, b.rounds), spec.name
            for sa, sb in zip(a.trajectory, b.trajectory, strict=True):
                assert all(same_bits(sa[k], sb[k]) for k in sa), spec.name
            assert all(same_bits(a.outputs[k], b.outputs[k]) for k in a.outputs), spec.name
        for batch in (graphs, odd):
            together = student.run(batch_graphs(batch))
            for i, g in enumerate(batch):
                alone = student.run(g)
                assert together.rounds[i] == alone.rounds[0], spec.name
                mask = together.graph.node_batch() == i
                # same values, NaN == NaN (a batch may reach a NaN by another op, with another sign bit)
                assert all(not _differs(together.outputs[k][mask], alone.outputs[k]).any() for k in alone.outputs)


def test_depth_one_tree_costs_one_comparison_and_one_where(specs: dict[str, SpecIR]) -> None:
    """``if dist < best then dist else best``: exactly lt + where per call, nothing stacked or gathered."""
    spec = specs["bellman_ford"]
    fs = candidate_features(spec, "dist")
    p, t = fs.predicate_names.index("dist < best"), fs.term_names.index
    ft = FieldTree(fs, T.Split(p, T.Leaf(t("dist")), T.Leaf(t("best"))))
    run = ft.transition(spec)
    args = {"dist": torch.rand(64, dtype=torch.float64), "best": torch.rand(64, dtype=torch.float64)}
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run(**args)
    alloc = {"aten::empty", "aten::empty_strided", "aten::empty_like", "aten::resize_"}
    ops = sorted((e.key, e.count) for e in prof.key_averages() if e.key.startswith("aten::") and e.key not in alloc)
    assert ops == [("aten::lt", 1), ("aten::where", 1)], ops


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(POOL.tolist()), min_size=0, max_size=40), st.data())
def test_any_differs_is_differs_any(xs: list[float], data) -> None:
    """The fixpoint shortcut equals the per-node NaN-aware test, with NaN, both infinities and -0.0."""
    a = torch.tensor(xs, dtype=torch.float64)
    b = a.clone()
    for i in data.draw(st.lists(st.integers(0, max(len(xs) - 1, 0)), max_size=4)) if xs else []:
        b[i] = data.draw(st.sampled_from(POOL.tolist()))
    ab, bb = a > 0.7, b > 0.7
    for serial_from in (0, 10**9):  # the numpy and the torch branch
        execute.SERIAL_TEST_FROM = serial_from
        try:
            assert _any_differs(a, b) == bool(_differs(a, b).any())
            assert _any_differs(a, a.clone()) is False
            assert _any_differs(ab, bb) == bool(_differs(ab, bb).any())
        finally:
            execute.SERIAL_TEST_FROM = SERIAL_TEST_FROM
