"""Issue 14 items 2, 3, 4 and 7: enum features, new operators and relations, the round-cap warning,
and the small CLI/checker mends. Oracles are plain Python / networkx on random seeded graphs."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import networkx as nx
import numpy as np
import pytest
import torch
import z3
from bits import same_bits
from test_distill_pipeline import FAST, PlantedTeacher

from dpdsl import runtime
from dpdsl.api import load_spec_text
from dpdsl.codegen import RUNTIME_NAMES, emit
from dpdsl.distill.pipeline import CompileConfig, compile_student
from dpdsl.distill.report import render_text
from dpdsl.errors import DslError
from dpdsl.execute import (
    compute_views,
    local_args,
    make_context,
    reference_transitions,
    round_cap_warning,
    run_reference,
)
from dpdsl.expr.fold import fold
from dpdsl.expr.ops import BINARY
from dpdsl.expr.source import SourceGen
from dpdsl.expr.torch_eval import compile_local
from dpdsl.expr.unparse import unparse
from dpdsl.expr.z3_backend import ExtReal, Float64, Z3Encoder
from dpdsl.features import candidate_texts, evaluate_features, typed_features
from dpdsl.graphs.core import Graph, batch_graphs, unbatch_nodes
from dpdsl.sampling import sample_graphs
from dpdsl.teachers.contract import TeacherOutput

ROOT = Path(__file__).resolve().parents[1]

COLOUR_BFS = """\
problem colour_bfs
graph undirected
input node seed : {none, red, blue}
state col : {none, red, blue}
init col = seed
view red_near = or over neighbors u -- v : col[u] == red
view blue_near = or over neighbors u -- v : col[u] == blue
transition col = unknown(col, red_near, blue_near)
reference col = if col != none then col else (if red_near then red else (if blue_near then blue else none))
rounds n - 1 until fixpoint
output col
sample graph er(p = 0.2) nodes 4..16
sample seed randint(0, 2)
"""


def _error(text: str) -> DslError:
    with pytest.raises(DslError) as info:
        load_spec_text(text, "t.dp")
    return info.value


# --- item 2: enum states ------------------------------------------------------------------------------


def test_enum_arguments_give_equality_predicates_and_terms() -> None:
    spec = load_spec_text(COLOUR_BFS.replace("unknown(col, red_near", "unknown(col, seed, red_near"), "c.dp")
    preds, terms = candidate_texts(spec, "col")
    for lab in ("none", "red", "blue"):
        assert f"col == {lab}" in preds and f"seed == {lab}" in preds
    assert "col == seed" in preds
    assert terms[:3] == ["none", "red", "blue"] and "col" in terms and "seed" in terms


class ConjunctionTeacher(PlantedTeacher):
    """A planted aligned teacher whose embeddings also encode every conjunction of up to three predicate
    literals (what a depth-3 tree's nodes need; test_planted.py's synthetic representation)."""

    def __init__(self, spec, seed: int = 0) -> None:
        super().__init__(spec, width=8, seed=seed)
        p = sum(len(fs.predicates) for fs in self.feats.values())
        self.combos = [(c, signs) for k in (1, 2, 3) for c in itertools.combinations(range(p), k)
                       for signs in itertools.product((True, False), repeat=k)]
        width = len(self.combos) + 8
        self.width = width
        self.rot = torch.linalg.qr(torch.randn(width, width, generator=self.gen, dtype=torch.float64))[0]
        self.rot = self.rot[:, :len(self.combos)]

    def run(self, graph) -> TeacherOutput:
        ref = run_reference(self.spec, graph, record=True)
        ctx = make_context(self.spec, graph)
        embs = [torch.zeros(graph.num_nodes, self.width)]
        for t in range(1, len(ref.trajectory)):
            ctx.state = ref.trajectory[t - 1]
            ctx.views = compute_views(ctx)
            ind = torch.cat([evaluate_features(self.spec, self.feats[f].predicates,
                                               local_args(self.spec, ctx, f), torch.float64)
                             for f in self.spec.states], dim=1)
            cols = [torch.stack([ind[:, i] if s else 1 - ind[:, i] for i, s in zip(c, signs, strict=True)]).prod(0)
                    for c, signs in self.combos]
            h = torch.stack(cols, 1) @ self.rot.T
            embs.append((h + 0.01 * torch.randn(h.shape, generator=self.gen, dtype=torch.float64)).float())
        return TeacherOutput(dict(ref.outputs), embs, [dict(s) for s in ref.trajectory])


def test_colour_bfs_compiles_faithful_without_hints() -> None:
    spec = load_spec_text(COLOUR_BFS, "colour_bfs.dp")
    res = compile_student(spec, ConjunctionTeacher(spec), CompileConfig(seed=0, **FAST))
    assert res.faithful, res.problems
    for row in res.report["verification"]["reference"]:
        assert row["node_exact"] == 1.0, row


# --- item 7: small CLI / checker mends ------------------------------------------------------------------

TREE_SPEC = """\
problem subtree
graph tree
state size : int >= 0
init size = 1
view kids = sum over children u of v : size[u]
transition size = unknown(size, kids)
reference size = kids + 1
rounds height until fixpoint
output size
sample graph tree nodes 2..8
"""


@pytest.mark.parametrize(("old", "new", "message"), [
    ("unknown(size, kids)", "unknown(size, kid)", "unknown(...) argument 'kid' is not declared; arguments must be "
     "local names (the node's own state fields, node inputs or views); did you mean 'kids'?"),
    ("sum over children", "sum over childern", "unknown relation 'childern'; expected one of"),
    ("graph tree", "graph tre", "did you mean 'tree'?"),
    ("view kids = sum", "view kids = summ", "did you mean 'sum'?"),
    ("reference size = kids + 1", "reference sise = kids + 1", "did you mean 'size'?"),
    ("size[u]", "sise[u]", "only state fields, inputs and views can be indexed; did you mean 'size'?"),
    ("sample graph tree", "sample graph tee", "did you mean 'tree'?"),
    ("output size", "output sise", "did you mean 'size'?"),
])
def test_unknown_names_get_did_you_mean(old: str, new: str, message: str) -> None:
    err = _error(TREE_SPEC.replace(old, new))
    assert message in err.message, err.message
    if "childern" in new:
        assert "did you mean 'children'?" in err.message


def test_pair_state_without_a_domain_is_refused_with_a_caret_at_the_index() -> None:
    err = _error(TREE_SPEC.replace("state size : int >= 0", "state d[i, j] : int"))
    assert "index variables need an index domain: add 'domain pairs'" in err.message, err.message
    assert (err.line, err.column) == (3, 9)


def test_missing_sample_clause_points_at_the_input() -> None:
    text = TREE_SPEC.replace("graph tree\n", "graph tree\ninput node w : real\n")
    err = _error(text)
    assert "input 'w' has no sample clause" in err.message
    assert (err.line, err.column) == (3, 12)  # the input's name, as 'state x has no init' points at x


def test_compile_quiet_prints_only_the_verdict(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "dpdsl", "compile", str(ROOT / "specs" / "reachability.dp"), "--teacher",
           str(ROOT / "teachers" / "reachability.safetensors"), "-o", str(tmp_path / "s"), "--samples", "32",
           "--quiet"]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [out.stdout.strip()] and out.stdout.startswith("FAITHFUL: reachability")
    assert out.stderr == ""


# --- item 4: the round-cap warning --------------------------------------------------------------------

PATH_COUNT = """\
problem sp_count
graph undirected
input node source : bool
state dist : int >= 0
state count : int >= 0
init dist = if source then 0 else inf
init count = if source then 1 else 0
view best = min over neighbors u -- v : dist[u] + 1
view ways = sum over neighbors u -- v : if dist[u] + 1 == dist[v] then count[u] else 0
transition dist = unknown(dist, best)
reference dist = min(dist, best)
transition count = unknown(count, ways, source)
reference count = if source then 1 else ways
rounds n - 1
output count
sample graph path nodes 4..8
sample source one_hot
"""


def _path(n: int, source: int) -> Graph:
    ei = torch.tensor([list(range(n - 1)), list(range(1, n))], dtype=torch.long).reshape(2, -1)
    return Graph(n, ei, directed=False, node={"source": torch.arange(n) == source})


def test_round_cap_flag_per_graph_matches_path_oracle() -> None:
    """On a path the count reaches the far end one round after its distance: with ``rounds n - 1`` exactly
    the graphs whose source is an end node stop while still changing (and n = 1 never does)."""
    spec = load_spec_text(PATH_COUNT, "c.dp")
    rng = np.random.default_rng(0)
    cases = [(int(n), int(rng.integers(0, n))) for n in rng.integers(1, 12, size=40)] + [(5, 0), (5, 4), (1, 0)]
    res = run_reference(spec, batch_graphs([_path(n, s) for n, s in cases]))
    want = [n > 1 and s in (0, n - 1) for n, s in cases]
    assert res.capped.tolist() == want
    fixed = load_spec_text(PATH_COUNT.replace("rounds n - 1", "rounds n until fixpoint"), "c.dp")
    assert not run_reference(fixed, batch_graphs([_path(n, s) for n, s in cases])).capped.any()
    assert round_cap_warning(res).startswith("the run stopped on its round cap")


def test_run_warns_on_stderr_and_in_json(tmp_path: Path) -> None:
    spec = tmp_path / "c.dp"
    spec.write_text(PATH_COUNT)
    g = tmp_path / "p.json"
    g.write_text(json.dumps({"num_nodes": 5, "directed": False, "edges": [[0, 1], [1, 2], [2, 3], [3, 4]],
                             "node": {"source": [True, False, False, False, False]}}))
    out = subprocess.run([sys.executable, "-m", "dpdsl", "run", str(spec), "--graph", str(g), "--json"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"outputs": {"count": [1, 1, 1, 1, 0]}, "rounds": 4, "capped": True}
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("dpdsl: warning: the run stopped on its round cap (4 rounds)")
    # the shipped BFS reaches the far end of a path exactly on its cap n - 1: no false alarm
    bfs = subprocess.run([sys.executable, "-m", "dpdsl", "run", str(ROOT / "specs" / "bfs_distance.dp"),
                          "--graph", str(g), "--json"], capture_output=True, text=True, cwd=ROOT)
    assert bfs.returncode == 0 and bfs.stderr == "" and json.loads(bfs.stdout)["capped"] is False


def test_compile_reports_the_round_cap() -> None:
    spec = load_spec_text(PATH_COUNT, "c.dp")
    res = compile_student(spec, PlantedTeacher(spec), CompileConfig(seed=0, **FAST))
    assert any(w.startswith("the reference at 1x stopped on its round cap while states were still changing in")
               for w in res.report["warnings"]), res.report["warnings"]
    assert "warning: the reference at 1x stopped on its round cap" in render_text(res.report)
    fixed = load_spec_text(PATH_COUNT.replace("rounds n - 1", "rounds n until fixpoint"), "c.dp")
    assert compile_student(fixed, PlantedTeacher(fixed), CompileConfig(seed=0, **FAST)).report["warnings"] == []


# --- item 3: % and // -----------------------------------------------------------------------------------

OPS_SPEC = """\
problem ops
graph directed
input node x : real
input node y : real
state s : real
init s = 0
transition s = unknown(s, x, y)
rounds 1
output s
"""
SPECIALS = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -7.0, 7.0, 2.5, -0.5, 1e300, 1e-300, math.inf, -math.inf,
            math.nan]


def _pairs() -> dict[str, torch.Tensor]:
    xs, ys = zip(*itertools.product(SPECIALS, SPECIALS), strict=True)
    return {"x": torch.tensor(xs, dtype=torch.float64), "y": torch.tensor(ys, dtype=torch.float64),
            "s": torch.zeros(len(xs), dtype=torch.float64)}


@pytest.mark.parametrize("op", ["//", "%"])
def test_floor_ops_agree_across_torch_source_fold_and_z3(op: str) -> None:
    spec = load_spec_text(OPS_SPEC, "ops.dp")
    (e,) = typed_features(spec, "s", [], [f"x {op} y"]).terms
    args = _pairs()
    n = int(args["x"].shape[0])
    want = compile_local({}, e)(args, n)
    plain = [math.floor(a / b) if b and math.isfinite(a / b) else None for a, b in zip(
        args["x"].tolist(), args["y"].tolist(), strict=True)]
    for i, (a, b) in enumerate(zip(args["x"].tolist(), args["y"].tolist(), strict=True)):
        p = plain[i]
        if p is not None and math.isfinite(a) and abs(a) < 2**53 and float(a).is_integer() and float(b).is_integer():
            assert want[i].item() == (p if op == "//" else a - b * p), (a, op, b)  # Python's // and % on ints
    # the same bits from the emitted source, from constant folding and from z3 (float64: bit-exact)
    src = SourceGen({}, "_N", {k: k for k in args}).visit(e)
    ns = {alias: getattr(runtime, name) for alias, name in RUNTIME_NAMES.items()} | {"torch": torch, "_N": n}
    assert same_bits(eval(compile(src, "<src>", "eval"), ns | args), want)
    for i, (a, b) in enumerate(zip(args["x"].tolist(), args["y"].tolist(), strict=True)):
        folded, w = float(BINARY[op].scalar_fn(a, b)), want[i:i + 1]
        folded_t = torch.tensor([folded], dtype=torch.float64)
        assert (math.isnan(folded) and bool(w.isnan())) or same_bits(folded_t, w), (a, op, b)
        extreme = {abs(a), abs(b)} & {1e300, 1e-300}  # ExtReal is exact: 1e300 / 1e-300 is no float
        for domain in (Float64,) if extreme else (ExtReal, Float64):
            d = domain()
            val = Z3Encoder(d, {}, {"x": d.const(a), "y": d.const(b), "s": d.const(0.0)}).encode(e)
            s = z3.Solver()
            assert s.check() == z3.sat
            m = s.model()
            if any(z3.is_true(m.eval(c, model_completion=True)) for c, _ in d.exclusions):
                assert b == 0 and domain is ExtReal  # only the sign of a zero divisor is left out
                continue
            got, w = d.value(m, val), want[i].item()
            assert (math.isnan(got) and math.isnan(w)) or got == w, (domain.name, a, op, b, got, w)


def test_floor_ops_edge_cases_are_as_documented() -> None:
    spec = load_spec_text(OPS_SPEC, "ops.dp")
    cases = {"7 // 0": math.inf, "-7 // 0": -math.inf, "inf // 2": math.inf, "5 // inf": 0.0, "-7 // 2": -4.0,
             "-7 % 3": 2.0, "7 % -3": -2.0, "7 % 0": math.nan, "inf % 2": math.nan, "5 % inf": math.nan,
             "2 * 7 // 2": 7.0, "7 - 7 // 2 * 2": 1.0, "1 + 7 % 4": 4.0}
    terms = typed_features(spec, "s", [], list(cases)).terms
    for (text, want), e in zip(cases.items(), terms, strict=True):
        got = fold(e, {})
        assert (math.isnan(want) and math.isnan(got)) or got == want, (text, got)
        assert unparse(e) == text  # same precedence as * and /, left associative


def test_parity_and_half_distance_match_networkx() -> None:
    text = (ROOT / "specs" / "bfs_distance.dp").read_text().replace(
        "output dist\n", "output dist\noutput parity = if dist == inf then -1 else dist % 2\n"
        "output half = dist // 2\n")
    spec = load_spec_text(text, "bfs.dp")
    for seed in range(5):
        graphs = sample_graphs(spec, 4, seed, nodes=(5, 30))
        res = run_reference(spec, batch_graphs(graphs))
        par = unbatch_nodes(res.outputs["parity"], batch_graphs(graphs))
        half = unbatch_nodes(res.outputs["half"], batch_graphs(graphs))
        for g, p, h in zip(graphs, par, half, strict=True):
            nxg = nx.Graph()
            nxg.add_nodes_from(range(g.num_nodes))
            nxg.add_edges_from(g.edge_index.t().tolist())
            src = int(g.node["source"].nonzero()[0])
            dist = nx.single_source_shortest_path_length(nxg, src)
            assert p.tolist() == [dist[v] % 2 if v in dist else -1 for v in range(g.num_nodes)]
            assert h.tolist() == [dist[v] // 2 if v in dist else math.inf for v in range(g.num_nodes)]


@pytest.mark.parametrize(("old", "new", "message", "col"), [
    ("init s = 0", "init s = x % true", "'%' needs numbers, got bool", 14),
    ("init s = 0", "init s = x %% 2", "unexpected '%'", 13),
])
def test_floor_op_misuse_is_a_caret_error(old: str, new: str, message: str, col: int) -> None:
    err = _error(OPS_SPEC.replace(old, new))
    assert message in err.message and (err.line, err.column) == (6, col), (err.message, err.column)


# --- item 3: relation over all nodes, views reading views ------------------------------------------------

GLOBAL = """\
problem bipartite
graph undirected
input node source : bool
state dist : int >= 0
init dist = if source then 0 else inf
view best = min over neighbors u -- v : dist[u] + 1
view clash = or over neighbors u -- v : dist[u] == dist[v] and dist[u] < inf
view odd = or over all u : clash[u]
view top = max over neighbors u -- v : deg[u]
view deg = count over neighbors u -- v : true
transition dist = unknown(dist, best)
reference dist = min(dist, best)
rounds n until fixpoint
output bipartite = not odd
output far = argmax over all u : if dist[u] == inf then -1 else dist[u]
output reached = count over all u : dist[u] < inf
output nearest = min over all u : if source[u] then inf else dist[u]
output top_degree = top
sample graph er(p = 0.15) nodes 4..24
sample source one_hot
"""


def _nx(g: Graph) -> nx.Graph:
    out = nx.Graph()
    out.add_nodes_from(range(g.num_nodes))
    out.add_edges_from(g.edge_index.t().tolist())
    return out


def _global_oracle(g: Graph) -> dict[str, list]:
    """Plain Python over networkx: the source's component bipartite, its farthest node (smallest id on
    ties; an unreachable node counts -1), reached nodes, nearest non-source distance, max neighbour degree."""
    h = _nx(g)
    n = g.num_nodes
    src = int(g.node["source"].nonzero()[0])
    dist = nx.single_source_shortest_path_length(h, src)
    key = [dist.get(v, -1) for v in range(n)]
    far = key.index(max(key))
    nearest = min([dist.get(v, math.inf) for v in range(n) if v != src], default=math.inf)
    top = [max((h.degree(u) for u in h[v]), default=-math.inf) for v in range(n)]
    return {"bipartite": [nx.is_bipartite(h.subgraph(dist))] * n, "far": [far] * n, "reached": [len(dist)] * n,
            "nearest": [nearest] * n, "top_degree": top}


def test_global_aggregates_and_views_of_views_match_networkx_per_graph_of_a_batch() -> None:
    spec = load_spec_text(GLOBAL, "g.dp")
    assert list(spec.views) == ["best", "clash", "odd", "deg", "top"]  # dependency order
    graphs = sample_graphs(spec, 24, 5)
    batch = batch_graphs(graphs)
    res = run_reference(spec, batch)
    seen = set()
    for name, o in spec.outputs.items():
        for g, got in zip(graphs, unbatch_nodes(res.outputs[name], batch), strict=True):
            want = _global_oracle(g)[name]
            assert [x if o.type.kind != "bool" else bool(x) for x in got.tolist()] == want, (name, g.num_nodes)
            seen.add((name, want[0]) if name in ("bipartite",) else name)
    assert ("bipartite", True) in seen and ("bipartite", False) in seen  # both answers occur
    # one graph alone gives the same bits as inside the batch (graphs of a batch never mix)
    alone = run_reference(spec, graphs[3])
    for name in spec.outputs:
        assert same_bits(alone.outputs[name], unbatch_nodes(res.outputs[name], batch)[3]), name


def test_emitted_skeleton_runs_global_aggregates_and_views_of_views() -> None:
    spec = load_spec_text(GLOBAL, "g.dp")
    name = "dpdsl_test_language_global"
    mod = ModuleType(name)
    sys.modules[name] = mod  # torch-geometric's inspector looks the module up while defining classes
    exec(compile(emit(spec), f"<{name}>", "exec"), mod.__dict__)
    model = mod.Skeleton(transitions=reference_transitions(spec))
    for g in sample_graphs(spec, 8, 1):
        g = g.directed_view()
        outputs, rounds = model(g.edge_index, g.num_nodes, source=g.node["source"])
        ref = run_reference(spec, g)
        assert rounds == int(ref.rounds[0])
        for out, want in ref.outputs.items():
            assert same_bits(outputs[out].to(want.dtype), want), out


@pytest.mark.parametrize(("old", "new", "message", "at"), [
    ("view top = max over neighbors u -- v : deg[u]", "view top = max over neighbors u -- v : deg[u] + top[u]",
     "views read each other in a cycle (top -> top)", "top[u]"),
    ("view deg = count over neighbors u -- v : true", "view deg = count over neighbors u -- v : top[u] > 1",
     "views read each other in a cycle (top -> deg -> top)", "top[u] > 1"),
    ("or over all u : clash[u]", "or over all u : clash[v]", "reads only u's values", "clash[v]"),
    ("or over all u : clash[u]", "or over all u : id == 0", "built-in 'id' cannot be used in the body of or over",
     "id == 0"),
    ("or over all u : clash[u]", "or over al u : clash[u]", "did you mean 'all'?", "or over al"),
    ("view top = max over neighbors u -- v : deg[u]", "view top = max over neighbors u -- v : deg",
     "inside an aggregate, write deg[u]", "deg\n"),
])
def test_global_and_view_misuse_is_a_caret_error(old: str, new: str, message: str, at: str) -> None:
    text = GLOBAL.replace(old, new)
    err = _error(text)
    assert message in err.message, err.message
    offset = text.index(at, text.index(new))
    line = text.count("\n", 0, offset) + 1
    assert (err.line, err.column) == (line, offset - text.rfind("\n", 0, offset)), err.message


# --- item 3: predicates between composite terms ----------------------------------------------------------

NODE_COST = """\
problem node_cost_paths
graph directed
input node source : bool
input node cost : real >= 0
input node direct : real >= 0
input edge w : real >= 0
state dist : real
init dist = if source then 0 else direct
view best = min over in-edges u -> v : dist[u] + w[u, v]
transition dist = unknown(dist, best, cost)
reference dist = min(dist, best + cost)
rounds n - 1 until fixpoint
output dist
sample graph er(p = 0.3) nodes 4..12
sample source one_hot
sample cost uniform(0, 1)
sample direct uniform(0, 4)
sample w uniform(0, 1)
"""


def test_composite_predicates_in_spec_and_generated() -> None:
    spec = load_spec_text(NODE_COST + "predicate dist : cost + cost < best\n", "c.dp")
    preds, terms = candidate_texts(spec, "dist")
    assert {"best + cost < dist", "dist < best + cost", "dist + best < cost"} <= set(preds)
    assert "cost + cost < best" in preds and "best + cost" in terms
    two = load_spec_text(NODE_COST.replace("unknown(dist, best, cost)", "unknown(dist, best)").replace(
        "best + cost", "best").replace("input node cost : real >= 0\n", "").replace("sample cost uniform(0, 1)\n", ""),
        "two.dp")
    assert not [p for p in candidate_texts(two, "dist")[0] if "+" in p]  # two arguments: nothing to compare


def test_node_weighted_shortest_paths_compile_exact_and_match_networkx() -> None:
    spec = load_spec_text(NODE_COST, "c.dp")
    res = compile_student(spec, PlantedTeacher(spec), CompileConfig(seed=0, **FAST))
    assert res.faithful, res.problems
    assert "best + cost < dist" in res.student.rules()["dist"] or "dist < best + cost" in res.student.rules()["dist"]
    for g in sample_graphs(spec, 6, 9, nodes=(20, 60)):
        got = res.student.run(g).outputs["dist"].tolist()
        h = nx.DiGraph()  # node "root" reaches the source at 0 and every node v directly at direct[v]
        h.add_nodes_from(range(g.num_nodes))
        cost, direct, w = g.node["cost"].tolist(), g.node["direct"].tolist(), g.edge["w"].tolist()
        h.add_weighted_edges_from((u, v, w[i] + cost[v]) for i, (u, v) in enumerate(g.edge_index.t().tolist()))
        src = int(g.node["source"].nonzero()[0])
        h.add_weighted_edges_from([("root", v, 0.0 if v == src else direct[v]) for v in range(g.num_nodes)])
        d = nx.single_source_dijkstra_path_length(h, "root")
        want = [d[v] for v in range(g.num_nodes)]
        assert got == pytest.approx(want, rel=1e-12), (got, want)


def test_readme_hint_example_checks_and_its_hints_are_features() -> None:
    text = (ROOT / "README.md").read_text()
    start = text.index("problem colour_bfs")
    spec = load_spec_text(text[start:text.index("```", start)], "README.md")
    preds, terms = candidate_texts(spec, "col")
    assert "red_near and not blue_near" in preds and "if red_near then red else blue" in terms


def test_export_runs_views_of_views_and_global_aggregates() -> None:
    """The ONNX module computes views in dependency order and aggregates over all nodes (run eagerly
    here: the same code the exporter traces; tests/test_onnx.py runs the exported model)."""
    from dpdsl.export import RunModule, model_inputs, why_not_exportable

    spec = load_spec_text(GLOBAL, "g.dp")
    assert why_not_exportable(spec) is None
    module = RunModule(spec, reference_transitions(spec))
    for g in sample_graphs(spec, 4, 2):
        *outs, rounds = module(*model_inputs(spec, g))
        ref = run_reference(spec, g)
        assert int(rounds) == int(ref.rounds[0])
        for got, name in zip(outs, spec.outputs, strict=True):
            assert same_bits(got, ref.outputs[name]), name
