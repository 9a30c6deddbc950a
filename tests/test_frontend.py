"""The front end: every shipped spec loads and runs; malformed specs give one positioned ``DslError``;
mutated specs never crash the front end; the aggregator registry's identities and tie-breaking."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dpdsl.api import load_spec, load_spec_text
from dpdsl.errors import DslError, UserError
from dpdsl.execute import run_reference
from dpdsl.graphs.core import Graph, batch_graphs, unbatch_nodes
from dpdsl.ir import SpecIR
from dpdsl.registry import AGGREGATORS, RELATIONS, Relation, register_relation
from dpdsl.sampling import sample_graphs
from dpdsl.types import BOOL, INT, REAL

SPEC_DIR = Path(__file__).resolve().parents[1] / "specs"
SPEC_PATHS = sorted(SPEC_DIR.glob("*.dp"))
SPEC_TEXTS = [p.read_text() for p in SPEC_PATHS]

# ------------------------------------------------------------------------------- shipped specs


@pytest.mark.parametrize("path", SPEC_PATHS, ids=lambda p: p.stem)
def test_every_spec_parses_checks_and_runs(path: Path) -> None:
    spec = load_spec(path)
    assert spec.name == path.stem
    assert spec.sample is not None, "every shipped spec needs a sample section"
    for name, st_ in spec.states.items():
        assert st_.reference is not None, f"state {name} has no reference"
        assert st_.args, f"state {name} has an empty unknown(...)"
    for g in sample_graphs(spec, 3, seed=0):
        res = run_reference(spec, g)
        assert set(res.outputs) == set(spec.outputs)
        for name, out in res.outputs.items():
            rows = g.num_nodes if res.layout is None else res.layout.num_tuples  # index domains: per tuple
            assert out.shape == (rows,), name
            assert not torch.isnan(out.to(torch.float64)).any(), name


def test_there_are_at_least_eleven_specs() -> None:
    assert len(SPEC_PATHS) >= 11


# ----------------------------------------------------------------------------- malformed specs

BASE = """\
# single-source shortest paths
problem sssp
graph directed
input node source : bool
input edge w      : real >= 0
state dist        : real
init  dist = if source then 0 else inf
view  best = min over in-edges u -> v : dist[u] + w[u, v]
transition dist = unknown(dist, best)
reference  dist = min(dist, best)
rounds n - 1 until fixpoint
output dist
output parent = if source or dist == inf then id else argmin over in-edges u -> v : dist[u] + w[u, v]
sample graph er(p = 0.5) nodes 4..16
sample w uniform(0, 1)
sample source one_hot
"""

TREE = """\
problem t
graph tree
state x : int >= 0
init x = 0
view kids = sum over children u of v : x[u] + 1
transition x = unknown(kids)
reference x = kids
rounds height until fixpoint
output x
sample graph tree nodes 2..8
"""

MARK = "‸"  # marks the expected error position in a case's text; removed before parsing


def _edit(old: str, new: str, base: str = BASE) -> str:
    assert base.count(old) == 1, f"{old!r} must occur once in the base spec"
    return base.replace(old, new)


# (id, spec text with MARK at the expected line:column, a substring of the message)
BAD: list[tuple[str, str, str]] = [
    ("syntax-mid-expression", _edit("dist[u] + w[u, v]\ntransition", "dist[u] + ‸* w[u, v]\ntransition"),
     "unexpected '*'"),
    ("syntax-bad-character", _edit("output dist\n", "output dist ‸$\n"), "unexpected character '$'"),
    ("syntax-missing-colon", _edit("in-edges u -> v : dist[u] + w[u, v]\ntransition",
                                   "in-edges u -> v ‸dist[u] + w[u, v]\ntransition"), "expected"),
    ("syntax-unexpected-eof", "problem p\ngraph directed\nstate x : real\ninit x = if x then 1 else‸\n",
     "unexpected end of file"),
    ("syntax-no-problem", "‸graph directed\n", "expected problem"),
    ("syntax-empty-file", "‸", "unexpected end of file"),
    ("unknown-name", _edit("reference  dist = min(dist, best)", "reference  dist = min(dist, ‸bset)"),
     "unknown name 'bset'; did you mean 'best'"),
    ("unknown-function", _edit("reference  dist = min(dist, best)", "reference  dist = ‸mn(dist, best)"),
     "unknown function 'mn'"),
    ("unknown-aggregator", _edit("view  best = min over", "view  best = ‸minn over"),
     "unknown aggregator 'minn'"),
    ("unknown-graph-kind", _edit("graph directed", "graph ‸directd"), "unknown graph kind 'directd'"),
    ("state-without-init", _edit("state dist        : real\ninit  dist = if source then 0 else inf\n",
                                 "state ‸dist        : real\n"), "state 'dist' has no init"),
    ("state-without-transition", _edit("state dist        : real\n", "state ‸dist        : real\n",
                                       _edit("transition dist = unknown(dist, best)\n", "")),
     "state 'dist' has no transition"),
    ("or-over-reals-aggregate", _edit("view  best = min over in-edges u -> v : dist[u] + w[u, v]",
                                      "view  best = or over in-edges u -> v : ‸dist[u]"),
     "'or' aggregates bool, got real"),
    ("or-over-reals-operator", _edit("reference  dist = min(dist, best)", "reference  dist = ‸dist or best"),
     "'or' needs bool operands, got real"),
    ("compare-bool-with-real", _edit("output dist\n", "output dist\noutput odd = source ‸== dist\n"),
     "cannot compare bool with real"),
    ("children-in-non-tree", _edit("view  best = min over in-edges u -> v : dist[u] + w[u, v]",
                                   "view  best = ‸min over children u of v : dist[u]"),
     "relation 'children' needs a tree graph"),
    ("unknown-arg-edge-input", _edit("unknown(dist, best)", "unknown(dist, ‸w)"), "'w' is an edge input"),
    ("unknown-arg-builtin", _edit("unknown(dist, best)", "unknown(dist, ‸n)"), "'n' is a built-in"),
    ("unknown-arg-undeclared", _edit("unknown(dist, best)", "unknown(dist, ‸bst)"), "'bst' is not declared"),
    ("reference-wrong-type", _edit("reference  dist = min(dist, best)", "reference  dist = ‸true"),
     "type mismatch: the reference is bool but state dist is real"),
    ("reference-reads-non-argument", _edit("reference  dist = min(dist, best)",
                                           "reference  dist = min(dist, ‸source)"),
     "not an argument of its unknown"),
    ("rounds-real", _edit("rounds n - 1", "rounds ‸2.5"), "rounds must be an int expression"),
    ("rounds-real-division", _edit("rounds n - 1", "rounds n ‸/ 2"), "rounds must be an int expression"),
    ("rounds-negative", _edit("rounds n - 1", "rounds ‸-1"), "rounds must be a finite number >= 0, got -1"),
    ("rounds-negative-param", _edit("rounds n - 1", "rounds ‸k", _edit("graph directed\n",
                                                                     "graph directed\nparam k : int = -2\n")),
     "got -2"),
    ("rounds-infinite", _edit("rounds n - 1", "rounds n * ‸inf"), "rounds must be finite"),
    ("rounds-reads-state", _edit("rounds n - 1", "rounds ‸dist"), "rounds cannot read the state 'dist'"),
    ("rounds-height-non-tree", _edit("rounds n - 1", "rounds ‸height"), "built-in 'height' cannot be used"),
    ("sample-unknown-family", _edit("sample graph er(p = 0.5)", "sample graph ‸foo(p = 0.5)"),
     "unknown graph family 'foo'"),
    ("sample-family-bad-param", _edit("sample graph er(p = 0.5)", "sample graph er(‸q = 0.5)"),
     "has no parameter 'q'"),
    ("sample-family-bad-value", _edit("sample graph er(p = 0.5)", "sample graph er(‸p = 1.5)"),
     "p must be in [0, 1]"),
    ("sample-family-wrong-kind", _edit("graph directed", "graph dag", _edit("sample graph er", "sample graph ‸er")),
     "does not produce dag graphs"),
    ("sample-unknown-sampler", _edit("sample w uniform(0, 1)", "sample w ‸gaussian(0, 1)"),
     "unknown sampler 'gaussian'"),
    ("sample-uniform-outside-range", _edit("sample w uniform(0, 1)", "sample ‸w uniform(-1, 1)"),
     "can draw -1, outside the input's range >= 0"),
    ("sample-missing-for-input", _edit("input edge w", "input edge ‸w", _edit("sample w uniform(0, 1)\n", "")),
     "input 'w' has no sample clause"),
    ("sample-bad-node-range", _edit("sample graph er", "sample graph ‸er", _edit("nodes 4..16", "nodes 16..4")),
     "bad node range 16..4"),
    ("sample-enum-out-of-labels", "problem p\ngraph directed\ninput node c : {r, g}\nstate x : real\n"
     "init x = 0\ntransition x = unknown(x, c)\nreference x = if c == r then 1 else 2\nrounds 1\noutput x\n"
     "sample graph er(p = 0.5) nodes 2..4\nsample ‸c randint(0, 2)\n", "can draw 2"),
    ("duplicate-state", _edit("state dist        : real\n", "state dist        : real\n‸state dist : real\n"),
     "duplicate state dist; first declared at line 6"),
    ("duplicate-init", _edit("init  dist = if source then 0 else inf\n",
                             "init  dist = if source then 0 else inf\n‸init dist = 0\n"), "duplicate init dist"),
    ("duplicate-name-across-kinds", _edit("state dist        : real\n", "state ‸w : real\nstate dist : real\n"),
     "name 'w' already declared as input"),
    ("edge-input-wrong-order", _edit("dist[u] + w[u, v]\ntransition", "dist[u] + ‸w[v, u]\ntransition"),
     "expected w[u, v]"),
    ("index-outside-aggregate", _edit("reference  dist = min(dist, best)",
                                      "reference  dist = min(‸dist[v], best)"),
     "indexing is only allowed inside an aggregate"),
    ("index-unbound-variable", _edit("dist[u] + w[u, v]\ntransition", "‸dist[x] + w[u, v]\ntransition"),
     "unknown index 'x'"),
    ("nested-aggregate", _edit("dist[u] + w[u, v]\ntransition",
                               "dist[u] + (‸min over in-edges a -> b : dist[a])\ntransition"), "no nesting"),
    ("init-outside-range", _edit("state x : int >= 0\ninit x = 0", "state x : int >= 0\ninit x = ‸-1", TREE),
     "outside the range of state x"),
    ("bool-with-range", _edit("input node source : bool", "input node source : ‸bool >= 0"),
     "bool takes no range"),
    ("parent-relation-in-non-tree",
     _edit("view kids = sum over children", "view kids = ‸sum over parent",
           _edit("graph tree", "graph dag", _edit("sample graph tree", "sample graph dag", TREE))),
     "relation 'parent' needs a tree graph"),
    # constants fold through dpdsl.expr.fold, so calls and 'if' fold too
    ("rounds-negative-folded-call", _edit("rounds n - 1", "rounds ‸min(-1, 2)"),
     "rounds must be a finite number >= 0, got -1"),
    ("init-outside-range-folded-if", _edit("state x : int >= 0\ninit x = 0",
                                           "state x : int >= 0\ninit x = ‸if true then -1 else 0", TREE),
     "init x = -1 is outside the range of state x"),
]


@pytest.mark.parametrize(("decl", "value"), [
    ("param h : real = 1 / 4", 0.25), ("param k : int = max(2, 3)", 3.0), ("param b : bool = not true", 0.0),
    ("param c : {r, g} = g", 1.0), ("param k : int = if 1 < 2 then 4 else 5", 4.0),
])
def test_param_values_fold_to_floats(decl: str, value: float) -> None:
    """Any constant expression is a param value (folded as the torch backend computes it)."""
    spec = load_spec_text(_edit("graph directed\n", f"graph directed\n{decl}\n"))
    (p,) = spec.params.values()
    assert p.value == value and type(p.value) is float


def _locate(marked: str) -> tuple[str, int, int]:
    assert marked.count(MARK) == 1
    pos = marked.index(MARK)
    text = marked.replace(MARK, "")
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return text, line, col


def test_at_least_fifteen_malformed_specs() -> None:
    assert len(BAD) >= 15
    assert len({case[0] for case in BAD}) == len(BAD)


@pytest.mark.parametrize(("marked", "msg"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_malformed_spec_raises_positioned_dsl_error(marked: str, msg: str) -> None:
    text, line, col = _locate(marked)
    with pytest.raises(DslError) as info:
        load_spec_text(text, "bad.dp")
    err = info.value
    assert msg in err.message, err.message
    assert (err.line, err.column) == (line, col), f"at {err.line}:{err.column}, expected {line}:{col}\n{err}"
    rendered = str(err).splitlines()
    assert rendered[0].startswith(f"bad.dp:{line}:{col}: error: ")
    assert msg in rendered[0]
    lines = text.splitlines()
    if lines:  # the source line, then a caret under the column
        assert rendered[1] == "    " + lines[line - 1]
        assert rendered[2] == "    " + " " * (col - 1) + "^"
    else:
        assert len(rendered) == 1


@pytest.mark.parametrize(("marked", "msg"), [c[1:] for c in BAD[:20]], ids=[c[0] for c in BAD[:20]])
def test_malformed_spec_file_exits_2_with_position(
    marked: str, msg: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dpdsl.cli import main

    text, line, col = _locate(marked)
    path = tmp_path / "bad.dp"
    path.write_text(text)
    with pytest.raises(DslError) as info:
        load_spec(path)
    assert info.value.filename == str(path)
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{path}:{line}:{col}: error: ")
    assert "Traceback" not in err


def test_error_message_renders_tabs_and_keeps_caret_aligned() -> None:
    text = "problem p\ngraph directed\nstate x : real\ninit x = 0\ntransition x = unknown(x)\n" \
           "reference x =\tmn(x)\nrounds 1\noutput x\n"
    with pytest.raises(DslError) as info:
        load_spec_text(text, "tab.dp")
    lines = str(info.value).splitlines()
    assert lines[0].startswith("tab.dp:6:")
    assert lines[1][lines[2].index("^")] == "m"



def test_syntax_error_lists_registered_relations_including_plugin_ones() -> None:
    """The "expected a relation" message is built from ``registry.RELATIONS`` when the error happens,
    so a relation a plugin registered after import is offered too (and a removed one is not)."""
    text = (SPEC_DIR / "bellman_ford.dp").read_text().replace("min over in-edges u", "min over : u")
    extra = Relation("up-edges", ("directed",), "->", True, "nbr_me", False, "test-only relation")
    saved = dict(RELATIONS)
    register_relation(extra)
    try:
        with pytest.raises(DslError) as info:
            load_spec_text(text, "rel.dp")
    finally:
        RELATIONS.clear()
        RELATIONS.update(saved)
    first = str(info.value).splitlines()[0]
    assert "expected a relation (" in first
    for name in (*saved, "up-edges"):
        assert name in first, (name, first)
    with pytest.raises(DslError) as info:
        load_spec_text(text, "rel.dp")
    assert "up-edges" not in str(info.value)

# ----------------------------------------------------------------------------- mutation fuzzing

TOKEN = re.compile(
    r"[A-Za-z_][A-Za-z_0-9]*(?:-[A-Za-z_][A-Za-z_0-9]*)*|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
    r"|->|--|\.\.|<=|>=|==|!=|\S"
)
VOCAB = sorted(
    {t for s in SPEC_TEXTS for t in TOKEN.findall(s)}
    | {"inf", "-inf", "1e999", "1e308", "-1", "0", "2.5", "nan", "true", "false", "not", "and", "or",
       "argmin", "argmax", "mean", "prod", "count", "abs", "children", "parent", "out-edges", "neighbors",
       "tree", "dag", "undirected", "grid", "path", "height", "id", "n", "{a, b}", "int 0..3", "param",
       "predicate", "term", "randint", "const", "bernoulli", "problem", "graph", "#", "\n", "(", ")", "[",
       "]", "/", "é", "\t", "$", '"', "\\"}
)
CHARS = "abxyz019_ -+*/<>=!(),:.[]{}#\n\t$é"


@st.composite
def mutated_spec(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SPEC_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["del_chars", "ins_char", "del_token", "replace_token", "insert_token",
                                   "swap_lines", "del_line", "dup_line"]))
        spans = [m.span() for m in TOKEN.finditer(text)]
        lines = text.split("\n")
        if op == "del_chars" and text:
            i = draw(st.integers(0, len(text) - 1))
            text = text[:i] + text[i + draw(st.integers(1, 6)):]
        elif op == "ins_char":
            i = draw(st.integers(0, len(text)))
            text = text[:i] + draw(st.sampled_from(CHARS)) + text[i:]
        elif op in ("del_token", "replace_token", "insert_token") and spans:
            a, b = draw(st.sampled_from(spans))
            tok = draw(st.sampled_from(VOCAB))
            text = {"del_token": text[:a] + text[b:], "replace_token": text[:a] + tok + text[b:],
                    "insert_token": text[:a] + tok + " " + text[a:]}[op]
        elif op == "swap_lines":
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif op == "del_line":
            del lines[draw(st.integers(0, len(lines) - 1))]
            text = "\n".join(lines)
        elif op == "dup_line":
            line = lines[draw(st.integers(0, len(lines) - 1))]
            lines.insert(draw(st.integers(0, len(lines))), line)
            text = "\n".join(lines)
    return text


def _load_or_dsl_error(text: str) -> SpecIR | None:
    try:
        return load_spec_text(text, "mutant.dp")
    except DslError as err:  # the only exception allowed; it must render and point inside the text
        rendered = str(err)
        assert rendered.startswith("mutant.dp:")
        if err.line is not None:
            assert 1 <= err.line <= max(1, len(text.splitlines()) + 1)
            assert err.column is not None and err.column >= 1
        return None


@settings(max_examples=400, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_spec())
def test_mutated_specs_raise_nothing_but_dsl_error(text: str) -> None:
    _load_or_dsl_error(text)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_spec())
def test_mutated_specs_that_check_also_run(text: str) -> None:
    """A spec the checker accepts must run (or refuse with a ``UserError``), never crash."""
    spec = _load_or_dsl_error(text)
    if spec is None or spec.sample is None:
        return
    try:
        graphs = sample_graphs(spec, 2, seed=0, nodes=(1, 6))
        for g in graphs:
            res = run_reference(spec, g, max_rounds=20)
            rows = g.num_nodes if res.layout is None else res.layout.num_tuples  # index domains: per tuple
            assert all(v.shape == (rows,) for v in res.outputs.values())
    except UserError:
        pass


# --------------------------------------------------------------------------------- the registry

AGG_SPEC = """\
problem agg
graph {kind}
input node x : real
input node b : bool
state s : real
init s = 0
transition s = unknown(s)
reference s = s
rounds 0
output o = {agg} over {rel} : {body}
"""
RELS = {"directed": ("in-edges u -> v", "out-edges v -> u"), "undirected": ("neighbors u -- v",)}


def _graph(n: int, edges: list[tuple[int, int]], directed: bool, x: list[float], b: list[bool]) -> Graph:
    ei = torch.tensor(edges, dtype=torch.long).reshape(-1, 2).T.contiguous()
    return Graph(n, ei, directed, node={"x": torch.tensor(x, dtype=torch.float64),
                                        "b": torch.tensor(b, dtype=torch.bool)})


def _agg_spec(agg: str, kind: str, rel: str) -> SpecIR:
    a = AGGREGATORS[agg]
    body = "b[u]" if BOOL in a.accepts else "x[u]"
    return load_spec_text(AGG_SPEC.format(kind=kind, agg=agg, rel=rel, body=body), f"{agg}.dp")


def _identity_value(agg: str, node: int) -> float | bool:
    a = AGGREGATORS[agg]
    return float(node) if a.selects else a.identity


@pytest.mark.parametrize("agg", sorted(AGGREGATORS))
def test_aggregator_identity_on_empty_neighbourhood(agg: str) -> None:
    a = AGGREGATORS[agg]
    assert a.identity is not None and a.doc
    # straight through the registry: no edges at all
    empty = torch.zeros(0, dtype=torch.long)
    values = torch.zeros(0, dtype=torch.bool if BOOL in a.accepts else torch.float64)
    out = a.aggregate(values, empty, empty, 3)
    want = torch.tensor([_identity_value(agg, i) for i in range(3)])
    assert torch.equal(out.to(want.dtype), want), f"{agg}: {out.tolist()}"
    # through a spec: node 3 is isolated, nodes 0 and 2 have no in-edges
    if a.accepts[0] not in (BOOL, INT, REAL):
        pytest.skip(f"{agg} aggregates {a.accepts}")
    for kind, rels in RELS.items():
        for rel in rels:
            spec = _agg_spec(agg, kind, rel)
            g = _graph(4, [(0, 1), (2, 1)], kind == "directed", [3.0, 1.0, -2.0, 5.0], [True, False, True, False])
            o = run_reference(spec, g).outputs["o"]
            assert o[3].item() == _identity_value(agg, 3), f"{agg} over {rel}: isolated node gave {o[3].item()}"
            if rel.startswith("in-edges"):
                for v in (0, 2):
                    assert o[v].item() == _identity_value(agg, v), f"{agg}: node {v} gave {o[v].item()}"
            # in a batch the identity (and argmin/argmax's "itself") is per graph, with local ids
            b = batch_graphs([g, g])
            parts = unbatch_nodes(run_reference(spec, b).outputs["o"], b)
            assert torch.equal(parts[0], o) and torch.equal(parts[1], o), f"{agg} over {rel} in a batch"


@pytest.mark.parametrize("agg", sorted(AGGREGATORS))
def test_aggregator_values_match_numpy(agg: str) -> None:
    a = AGGREGATORS[agg]
    if a.accepts[0] not in (BOOL, INT, REAL):
        pytest.skip(f"{agg} aggregates {a.accepts}")
    rng = np.random.default_rng(11)
    n = 9
    edges = [(int(u), int(v)) for u, v in rng.integers(0, n, size=(30, 2)) if u != v]
    x = rng.integers(-3, 4, size=n).astype(float).tolist()  # small ints: many ties
    bl = (rng.random(n) < 0.5).tolist()
    spec = _agg_spec(agg, "directed", "in-edges u -> v")
    out = run_reference(spec, _graph(n, edges, True, x, bl)).outputs["o"]
    for v in range(n):
        nbrs = sorted(u for u, w in edges if w == v)
        if not nbrs:
            want: float | bool = _identity_value(agg, v)
        else:
            xs = [x[u] for u in nbrs]
            bs = [bl[u] for u in nbrs]
            want = {
                "min": min(xs), "max": max(xs), "sum": sum(xs), "prod": math.prod(xs), "mean": sum(xs) / len(xs),
                "or": any(bs), "and": all(bs), "count": float(sum(bs)),
                "argmin": float(min(nbrs, key=lambda u: (x[u], u))),
                "argmax": float(min(nbrs, key=lambda u: (-x[u], u))),
            }.get(agg)  # type: ignore[assignment]
            if want is None:
                continue  # a plugin aggregator: only its identity is checked here
        assert out[v].item() == want, f"{agg} at node {v} over {nbrs}: {out[v].item()} != {want}"


@pytest.mark.parametrize(
    ("agg", "x", "want"),
    [
        ("argmin", [9.0, 1.0, 1.0, 1.0, 1.0], 1),  # a four-way tie: the smallest id
        ("argmin", [9.0, 5.0, 1.0, 1.0, 1.0], 2),
        ("argmin", [9.0, math.inf, math.inf, math.inf, math.inf], 1),  # ties at inf count too
        ("argmax", [0.0, 1.0, 7.0, 7.0, 3.0], 2),
        ("argmax", [0.0, 4.0, 4.0, 4.0, 4.0], 1),
        ("argmax", [0.0, -math.inf, -math.inf, -math.inf, -math.inf], 1),
    ],
)
def test_argmin_argmax_ties_go_to_the_smallest_neighbour(agg: str, x: list[float], want: int) -> None:
    order = [(4, 0), (2, 0), (3, 0), (1, 0)]  # listed out of index order on purpose
    b = [False] * 5
    g = _graph(5, order, True, x, b)
    spec = _agg_spec(agg, "directed", "in-edges u -> v")
    assert run_reference(spec, g).outputs["o"][0].item() == want
    # the same through out-edges (edges reversed) and undirected neighbours
    spec_out = _agg_spec(agg, "directed", "out-edges v -> u")
    g_out = _graph(5, [(v, u) for u, v in order], True, x, b)
    assert run_reference(spec_out, g_out).outputs["o"][0].item() == want
    spec_und = _agg_spec(agg, "undirected", "neighbors u -- v")
    assert run_reference(spec_und, _graph(5, order, False, x, b)).outputs["o"][0].item() == want
    # and in a batch behind another graph: ids stay local
    other = _graph(3, [(0, 1)], True, [0.0, 0.0, 0.0], [False] * 3)
    batch = batch_graphs([other, g])
    assert unbatch_nodes(run_reference(spec, batch).outputs["o"], batch)[1][0].item() == want
