"""Fuzzing every input surface through the CLI entry point, in-process (``dpdsl.cli.main``).

The property (issue 11): exit code in {0, 1, 2}; for 2 exactly one line on stderr, or the three-line
caret block of a spec error; never 3 (an internal error), never an exception escaping ``main``.

Surfaces: spec text (token mutations of the shipped specs, deep nesting, huge numbers, odd unicode),
graph files in each format (JSON, edge list, GraphML), checkpoint headers, ``student.json`` and flags.
The fuzz runs under tight resource limits (env vars), which keeps cases fast and exercises the limit
errors too. A quick profile runs in the default suite; the long one (>= 20,000 cases) is ``-m slow``.
Violations are collected rather than stopping at the first, so a run reports cases and failures per
surface (printed; also written as JSON to ``$DPDSL_FUZZ_REPORT`` if set).
"""

from __future__ import annotations

import json
import os
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from clihelp import SPECS, TEACHERS, cli, is_caret_block
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dpdsl import tree as T
from dpdsl.api import load_spec_text
from dpdsl.features import typed_features
from dpdsl.student import FieldTree, Student, dumps_student

SPEC_PATHS = sorted(SPECS.glob("*.dp"))
SPEC_TEXTS = [p.read_text() for p in SPEC_PATHS]
BF = (SPECS / "bellman_ford.dp").read_text()

QUICK = {"spec": 500, "deep_spec": 80, "json_graph": 200, "edge_list": 200, "graphml": 120, "checkpoint": 30,
         "student": 200, "flags": 200}
LONG = {"spec": 6000, "deep_spec": 1000, "json_graph": 2500, "edge_list": 2500, "graphml": 1500,
        "checkpoint": 1500, "student": 3000, "flags": 2500}
TIGHT = {"DPDSL_MAX_NODES": "3000", "DPDSL_MAX_EDGES": "60000", "DPDSL_MAX_GRAPHS": "40",
         "DPDSL_MAX_ROUNDS": "5000", "DPDSL_MAX_GRAPH_BYTES": "200000"}


# ------------------------------------------------------------------------------------- the harness


class Surface:
    """Runs cases of one surface and records every violation of the exit-code contract."""

    def __init__(self, name: str) -> None:
        self.name, self.cases, self.failures = name, 0, []
        self.codes: dict[int, int] = {}

    def run(self, argv: list[Any]) -> None:
        self.cases += 1
        try:
            r = cli(*argv)
        except BaseException as err:  # noqa: BLE001 - anything escaping main is a failure
            self.failures.append(f"escaped main: {type(err).__name__}: {err} for {argv}")
            return
        self.codes[r.code] = self.codes.get(r.code, 0) + 1
        lines = r.lines
        if r.code not in (0, 1, 2):
            self.failures.append(f"exit {r.code}: {r.err.strip()[-400:]} for {_show(argv)}")
        elif r.code == 2 and not (len(lines) == 1 or is_caret_block(lines)):
            self.failures.append(f"exit 2 with {len(lines)} stderr lines: {lines[:4]} for {_show(argv)}")


def _show(argv: list[Any]) -> str:
    """The argv of a failing case, with the content of the files it names (to reproduce it)."""
    out = []
    for a in argv:
        p = Path(a) if isinstance(a, Path) else None
        if p is not None and p.is_file():
            out.append(f"{p.name}={p.read_bytes()[:1500]!r}")
        elif p is not None and (p / "student.json").is_file():
            out.append(f"{p.name}/student.json={(p / 'student.json').read_bytes()[:1500]!r}")
        else:
            out.append(str(a)[:80])
    return " ".join(out)


RESULTS: dict[str, Surface] = {}


def fuzz(name: str, strategy: st.SearchStrategy, case: Callable[[Any], list[Any]], n: int,
         monkeypatch: pytest.MonkeyPatch) -> Surface:
    """Draw ``n`` examples, turn each into argv with ``case`` and run it; then assert no violation."""
    for k, v in TIGHT.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("DPDSL_TRUST_CODE", raising=False)
    surface = Surface(name)

    @settings(max_examples=n, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def inner(x: Any) -> None:
        surface.run(case(x))

    inner()
    RESULTS[name] = surface
    _report(surface)
    assert not surface.failures, f"{len(surface.failures)} of {surface.cases} cases failed:\n" + "\n".join(
        surface.failures[:10])
    return surface


def _report(s: Surface) -> None:
    print(f"\nfuzz {s.name}: {s.cases} cases, {len(s.failures)} failures, exit codes {sorted(s.codes.items())}")
    path = os.environ.get("DPDSL_FUZZ_REPORT")
    if path:
        data = json.loads(Path(path).read_text()) if Path(path).exists() else {}
        data[s.name] = {"cases": s.cases, "failures": len(s.failures), "exit_codes": s.codes}
        Path(path).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------- shared values

HUGE_NUMBERS = ["1e309", "1e308", "-1e308", "9" * 400, "9" * 5000, "99999999999999999999", "2147483647",
                "4294967296", "18446744073709551616", "0.0000000001", "1e-320", "nan", "inf", "-inf", "-0",
                "00", "1_000", "0x10", "1e", "1.5e3"]
ODD_UNICODE = ["é", "\u2028", "\u2029", "\x00", "\ufeff", "\u202e", "𝔵", "x\u0301", "Ⅻ", "٣", "\x85", "\r", "\t",
               "\\", '"', "'", "\U0001f600", "ß", "İ", "ﬁ"]
TOKEN = re.compile(r"[A-Za-z_][A-Za-z_0-9]*(?:-[A-Za-z_][A-Za-z_0-9]*)*|\d+(?:\.\d+)?(?:[eE][+-]?\d+)?"
                   r"|->|--|\.\.|<=|>=|==|!=|\S")
VOCAB = sorted({t for s in SPEC_TEXTS for t in TOKEN.findall(s)} | set(HUGE_NUMBERS) | set(ODD_UNICODE) | {
    "not", "and", "or", "argmin", "argmax", "mean", "prod", "count", "abs", "children", "parent", "out-edges",
    "neighbors", "tree", "dag", "undirected", "grid", "path", "height", "id", "n", "{a, b}", "int 0..3",
    "param", "predicate", "term", "randint", "const", "bernoulli", "problem", "graph", "#", "\n", "(", ")",
    "until fixpoint", "rounds", "nodes", "sample"})

JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.sampled_from([10**30, 10**12, 2**63, -1, 0, 1, 10**400]),
                        st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                        st.sampled_from(["inf", "-inf", "nan", "Infinity", "true", ""] + ODD_UNICODE))
JSON_VALUE = st.recursive(JSON_SCALAR, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c,
                                                                                           max_size=3),
                          max_leaves=6)


def deep(kind: str, depth: int, inner: str = "x") -> str:
    """Text nested ``depth`` levels in one of several shapes."""
    wrap = {"paren": ("(", ")"), "not": ("not ", ""), "neg": ("-", ""), "min": ("min(x, ", ")"),
            "if": ("if true then ", " else x"), "plus": ("", " + 0"), "list": ("[", "]"), "obj": ('{"a": ', "}")}
    a, b = wrap[kind]
    if kind == "plus":
        return inner + b * depth
    return a * depth + inner + b * depth


@st.composite
def text_mutation(draw: st.DrawFn, text: str, vocab: list[str], max_ops: int = 4) -> str:
    """Delete, insert or replace tokens/characters; swap, drop or duplicate lines; truncate."""
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(["del", "ins", "rep", "ins_tok", "swap", "drop", "dup", "cut", "deep"]))
        spans = [m.span() for m in TOKEN.finditer(text)] or [(0, 0)]
        lines = text.split("\n")
        a, b = draw(st.sampled_from(spans))
        if op == "del":
            text = text[:a] + text[b:]
        elif op == "ins":
            i = draw(st.integers(0, len(text)))
            text = text[:i] + draw(st.sampled_from(ODD_UNICODE + list("()[]{}:=,.#-+*/<>! \n"))) + text[i:]
        elif op == "rep":
            text = text[:a] + draw(st.sampled_from(vocab)) + text[b:]
        elif op == "ins_tok":
            text = text[:a] + draw(st.sampled_from(vocab)) + " " + text[a:]
        elif op in ("swap", "drop", "dup") and lines:
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if op == "swap":
                lines[i], lines[j] = lines[j], lines[i]
            elif op == "drop":
                del lines[i]
            else:
                lines.insert(j, lines[i])
            text = "\n".join(lines)
        elif op == "cut":
            text = text[:draw(st.integers(0, len(text)))]
        elif op == "deep":
            kind = draw(st.sampled_from(["paren", "not", "neg", "min", "if", "plus"]))
            text = text[:a] + deep(kind, draw(st.integers(1, 1500)), text[a:b] or "x") + text[b:]
    return text


# -------------------------------------------------------------------------------------------- specs


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


def _spec_case(work: Path, run: bool) -> Callable[[str], list[Any]]:
    def case(text: str) -> list[Any]:
        p = work / "fuzz.dp"
        p.write_bytes(text.encode("utf-8", "surrogatepass"))
        if not run:
            return ["check", p]
        return ["run", p, "--sample", "1", "--max-rounds", "30"]
    return case


SPEC_CASES = st.tuples(st.sampled_from(SPEC_TEXTS), st.booleans()).flatmap(
    lambda tb: st.tuples(text_mutation(tb[0], VOCAB), st.just(tb[1])))


def _spec_run_or_check(work: Path) -> Callable[[tuple[str, bool]], list[Any]]:
    check, run = _spec_case(work, False), _spec_case(work, True)
    return lambda tr: run(tr[0]) if tr[1] else check(tr[0])


DEEP_SPECS = st.tuples(st.sampled_from(["paren", "not", "neg", "min", "if", "plus"]), st.integers(1, 3000),
                       st.sampled_from(["reference  dist = min(dist, best)", "init  dist = if source then 0 else inf",
                                        "rounds n - 1 until fixpoint", "output dist"])).map(
    lambda t: BF.replace(t[2], t[2].split("=")[0] + ("= " if "=" in t[2] else " ")
                         + deep(t[0], t[1], t[2].split("=")[-1].strip() if "=" in t[2] else "n - 1")
                         + (" until fixpoint" if t[2].startswith("rounds") else "")))


def test_fuzz_specs_quick(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz("spec", SPEC_CASES, _spec_run_or_check(work), QUICK["spec"], monkeypatch)


def test_fuzz_deep_specs_quick(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz("deep_spec", DEEP_SPECS, _spec_case(work, False), QUICK["deep_spec"], monkeypatch)


# ------------------------------------------------------------------------------------------- graphs

GRAPH = {"num_nodes": 4, "directed": True, "edges": [[0, 1], [1, 2], [2, 3], [0, 2]],
         "node": {"source": [True, False, False, False]}, "edge": {"w": [0.5, 1, 0.25, 2]}}
GRAPH_SPECS = [SPECS / "bellman_ford.dp", SPECS / "reachability.dp", SPECS / "components.dp",
               SPECS / "mwis_tree.dp"]


def _paths(obj: Any, prefix: tuple = ()) -> list[tuple]:
    out, stack = [prefix], [(obj, prefix)]
    while stack:
        o, p = stack.pop()
        items = o.items() if isinstance(o, dict) else enumerate(o) if isinstance(o, list) else ()
        for k, v in items:
            out.append(p + (k,))
            stack.append((v, p + (k,)))
    return out


@st.composite
def json_mutation(draw: st.DrawFn, base: Any) -> str:
    """Replace, delete or deeply nest a value at a random path; sometimes mangle the text after."""
    obj = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(obj)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["set", "set", "del", "deep", "grow"]))
        if not path:
            obj = draw(JSON_VALUE) if op == "set" else obj
            continue
        parent = obj
        for k in path[:-1]:
            parent = parent[k]
        key = path[-1]
        if op == "set":
            parent[key] = draw(JSON_VALUE)
        elif op == "del":
            del parent[key]
        elif op == "deep":
            parent[key] = json.loads(deep(draw(st.sampled_from(["list", "obj"])), draw(st.integers(1, 200)), "1"))
        elif isinstance(parent[key], list):
            parent[key] = parent[key] * draw(st.integers(2, 50))
    text = json.dumps(obj)
    if draw(st.integers(0, 9)) == 0:
        text = draw(text_mutation(text, ["[", "]", "{", "}", ",", ":", "null", "NaN", *HUGE_NUMBERS], 2))
    return text


def _graph_case(work: Path, suffix: str) -> Callable[[tuple[Path, str]], list[Any]]:
    def case(x: tuple[Path, str]) -> list[Any]:
        spec, text = x
        p = work / f"g{suffix}"
        p.write_bytes(text.encode("utf-8", "surrogatepass"))
        return ["run", spec, "--graph", p, "--max-rounds", "50", *(["--symmetrize"] if "components" in str(spec)
                                                                   else [])]
    return case


JSON_GRAPHS = st.tuples(st.sampled_from(GRAPH_SPECS), json_mutation(GRAPH))

EDGE_TOKENS = ["0", "1", "2", "3", "-1", "0.5", "inf", "-inf", "nan", "true", "false", "w=0.5", "w=inf", "w=",
               "=3", "cap=2", "w=0.7", "#", "# undirected", "# directed: false", "# num_nodes: 5",
               "# num_nodes: 1e12", "# num_nodes: 99999999999999999999", "# node source: 1 0 0 0",
               "# node source: true", "# node source:", *HUGE_NUMBERS, *ODD_UNICODE]
EDGE_LINES = st.lists(st.lists(st.sampled_from(EDGE_TOKENS), min_size=0, max_size=5).map(" ".join),
                      min_size=0, max_size=12).map("\n".join)
EDGE_LISTS = st.tuples(st.sampled_from(GRAPH_SPECS), st.one_of(
    EDGE_LINES, text_mutation("# node source: 1 0 0 0\n0 1 0.5\n1 2 0.25\n2 3 1\n", EDGE_TOKENS)))

GRAPHML = """<?xml version="1.0" encoding="UTF-8"?>
<graphml xmlns="http://graphml.graphdrawing.org/xmlns">
  <key id="d0" for="node" attr.name="source" attr.type="boolean"><default>false</default></key>
  <key id="d1" for="edge" attr.name="w" attr.type="double"/>
  <graph edgedefault="directed">
    <node id="0"><data key="d0">true</data></node>
    <node id="1"/>
    <node id="2"/>
    <edge source="0" target="1"><data key="d1">0.5</data></edge>
    <edge source="1" target="2"><data key="d1">0.25</data></edge>
  </graph>
</graphml>
"""
XML_TOKENS = ['"', "<", ">", "/>", "</graph>", "<node id=\"9\"/>", '<edge source="0" target="7"/>', "undirected",
              "double", "long", "string", "int", "NaN", "INF", "-1", "1e400", "&amp;", "&lol;", "&xxe;",
              '<!DOCTYPE g [<!ENTITY lol "lol">]>', '<!DOCTYPE g [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
              *HUGE_NUMBERS, *ODD_UNICODE]
GRAPHMLS = st.tuples(st.sampled_from(GRAPH_SPECS), text_mutation(GRAPHML, XML_TOKENS, 3))


def test_fuzz_json_graphs_quick(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz("json_graph", JSON_GRAPHS, _graph_case(work, ".json"), QUICK["json_graph"], monkeypatch)


def test_fuzz_edge_lists_quick(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz("edge_list", EDGE_LISTS, _graph_case(work, ".edges"), QUICK["edge_list"], monkeypatch)


def test_fuzz_graphml_quick(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz("graphml", GRAPHMLS, _graph_case(work, ".graphml"), QUICK["graphml"], monkeypatch)


# -------------------------------------------------------------------------------------- checkpoints

CKPT = (TEACHERS / "reachability.safetensors").read_bytes()
(_HLEN,) = struct.unpack("<Q", CKPT[:8])
ST_HEADER = json.loads(CKPT[8:8 + _HLEN])
DPDSL_HEADER = json.loads(ST_HEADER["__metadata__"]["dpdsl"])


@st.composite
def checkpoints(draw: st.DrawFn) -> bytes:
    """The shipped reachability teacher with a mutated dpdsl header, safetensors header or bytes."""
    where = draw(st.sampled_from(["dpdsl", "dpdsl", "st", "bytes"]))
    st_header = json.loads(json.dumps(ST_HEADER))
    if where == "dpdsl":
        st_header["__metadata__"]["dpdsl"] = draw(json_mutation(DPDSL_HEADER))
    raw = (draw(json_mutation(st_header)) if where == "st" else json.dumps(st_header)).encode("utf-8", "surrogatepass")
    data = struct.pack("<Q", len(raw)) + raw + CKPT[8 + _HLEN:]
    if where == "bytes":
        i = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["cut", "flip", "len"]))
        if op == "cut":
            data = data[:i]
        elif op == "flip":
            data = data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1:]
        else:
            data = struct.pack("<Q", draw(st.integers(0, 2**64 - 1))) + data[8:]
    return data


def _ckpt_case(work: Path) -> Callable[[bytes], list[Any]]:
    def case(data: bytes) -> list[Any]:
        p = work / "t.safetensors"
        p.write_bytes(data)
        return ["teacher", "eval", p, "--spec", SPECS / "reachability.dp", "--graphs", "1", "--nodes", "4"]
    return case


def test_fuzz_checkpoints_quick(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz("checkpoint", checkpoints(), _ckpt_case(work), QUICK["checkpoint"], monkeypatch)


# ------------------------------------------------------------------------------------------ students


def _student_obj() -> dict:
    spec = load_spec_text(BF, "bellman_ford.dp")
    fs = typed_features(spec, "dist", ["dist < best", "dist == inf"], ["dist", "best", "0"])
    st_ = Student(spec, {"dist": FieldTree(fs, T.Split(0, T.Leaf(0), T.Split(1, T.Leaf(2), T.Leaf(1))))})
    return json.loads(dumps_student(st_.to_json()))


STUDENT = _student_obj()
EXPR_TOKENS = ["dist", "best", "<", "==", "+", "not", "and", "inf", "-", "(", ")", "true", "1e309", "nope",
               "min(", ",", *HUGE_NUMBERS[:6], *ODD_UNICODE[:6]]


@st.composite
def students(draw: st.DrawFn) -> tuple[str, bool]:
    """A mutated student.json and whether to reseal it (to get past the digest to deeper checks)."""
    how = draw(st.sampled_from(["json", "json", "expr", "tree"]))
    obj = json.loads(json.dumps(STUDENT))
    if how == "json":
        return draw(json_mutation(obj)), draw(st.booleans())
    f = obj["fields"]["dist"]
    if how == "expr":
        key = draw(st.sampled_from(["predicates", "terms"]))
        i = draw(st.integers(0, len(f[key]) - 1))
        f[key][i] = draw(text_mutation(f[key][i], EXPR_TOKENS, 3))
    else:
        f["tree"] = json.loads(deep("obj", draw(st.integers(0, 100)), json.dumps({"leaf": draw(JSON_SCALAR)}))
                               .replace('"a"', '"if_true"'))
    return json.dumps(obj), True


def _student_case(work: Path) -> Callable[[tuple[str, bool]], list[Any]]:
    g = work / "g.json"
    g.write_text(json.dumps(GRAPH))

    def case(x: tuple[str, bool]) -> list[Any]:
        text, reseal = x
        d = work / "student"
        d.mkdir(exist_ok=True)
        if reseal:
            try:
                obj = json.loads(text)
                if isinstance(obj, dict):
                    text = dumps_student(obj)
            except (ValueError, RecursionError, TypeError):
                pass
        (d / "student.json").write_bytes(text.encode("utf-8", "surrogatepass"))
        return ["run", d, "--graph", g, "--max-rounds", "50"]
    return case


def test_fuzz_students_quick(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz("student", students(), _student_case(work), QUICK["student"], monkeypatch)


# --------------------------------------------------------------------------------------------- flags

FLAG_VALUES = ["0", "1", "-1", "3", "1e20", "nan", "inf", "-inf", "0.5", "2", "8,16", "8,x", "", "abc",
               str(2**32), str(2**64), str(2**63), "100000000", "1000", "é", "--force", "4..16"]
FLAGS = ["--seed", "--samples", "--beam", "--max-depth", "--tau", "--fidelity", "--hidden", "--epochs",
         "--value-weight", "--nodes", "--graphs", "--sizes", "--sample", "--max-rounds", "--family",
         "--method", "--arch", "--decoder", "--json", "--force", "--keep-unfaithful", "--allow-modified",
         "--trust-code", "--symmetrize", "--quiet"]


@st.composite
def argvs(draw: st.DrawFn) -> list[str]:
    """A command with random flags; targets chosen so that nothing slow can succeed."""
    cmd = draw(st.sampled_from(["run", "compile", "teacher train", "teacher eval", "eval", "check", "emit"]))
    flags: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        flags.append(draw(st.sampled_from(FLAGS)))
        if draw(st.booleans()):
            flags.append(draw(st.sampled_from(FLAG_VALUES)))
    return [*cmd.split(), "@", *flags]


def _flags_case(work: Path) -> Callable[[list[str]], list[Any]]:
    student = work / "student"
    student.mkdir()
    (student / "student.json").write_text(dumps_student(STUDENT))
    blocker = work / "file"
    blocker.write_text("x")
    bf, bft = SPECS / "bellman_ford.dp", TEACHERS / "bellman_ford.safetensors"
    targets = {"run": [bf, "--sample", "1"], "compile": [bf, "--teacher", work / "missing.safetensors"],
               "train": [bf, "-o", blocker / "t.safetensors"], "eval": [bft, "--spec", bf],
               "check": [bf], "emit": [bf, "-o", blocker / "x.py"]}

    def case(argv: list[str]) -> list[Any]:
        i = argv.index("@")
        head = argv[:i]
        if head == ["eval"]:
            fixed = [student]
        else:
            fixed = targets[head[-1]]
        return [*head, *fixed, *argv[i + 1:]]
    return case


def test_fuzz_flags_quick(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fuzz("flags", argvs(), _flags_case(work), QUICK["flags"], monkeypatch)


# --------------------------------------------------------------------------------------- long profile

LONG_SURFACES = {
    "spec": (lambda w: SPEC_CASES, _spec_run_or_check),
    "deep_spec": (lambda w: DEEP_SPECS, lambda w: _spec_case(w, False)),
    "json_graph": (lambda w: JSON_GRAPHS, lambda w: _graph_case(w, ".json")),
    "edge_list": (lambda w: EDGE_LISTS, lambda w: _graph_case(w, ".edges")),
    "graphml": (lambda w: GRAPHMLS, lambda w: _graph_case(w, ".graphml")),
    "checkpoint": (lambda w: checkpoints(), _ckpt_case),
    "student": (lambda w: students(), _student_case),
    "flags": (lambda w: argvs(), _flags_case),
}


@pytest.mark.slow
@pytest.mark.parametrize("surface", list(LONG_SURFACES))
def test_fuzz_long(surface: str, work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The long profile: sum(LONG) = 20,500 cases over all surfaces."""
    strategy, case = LONG_SURFACES[surface]
    fuzz(surface, strategy(work), case(work), LONG[surface], monkeypatch)


def test_long_profile_is_at_least_20000_cases() -> None:
    assert sum(LONG.values()) >= 20_000 and set(LONG) == set(QUICK) == set(LONG_SURFACES)
