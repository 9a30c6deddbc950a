"""Issue 11: every reproducer of the hardening report, through the CLI entry point in-process.

Each gets exit 2 and one line naming the problem (three lines with a caret for spec errors), or
succeeds where it should. Exit codes, sealed students, trusted adapters and interrupted writes too.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from clihelp import ROOT, SPECS, TEACHERS, assert_user_error, cli, rewrite_checkpoint

from dpdsl import fsutil, limits
from dpdsl import tree as T
from dpdsl.api import load_spec, load_spec_text
from dpdsl.features import typed_features
from dpdsl.student import FieldTree, Student, dumps_student, load_student
from dpdsl.teachers.checkpoint import load_teacher, save_teacher

BF = (SPECS / "bellman_ford.dp").read_text()
REACH = SPECS / "reachability.dp"


def spec_file(tmp_path: Path, text: str, name: str = "s.dp") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def bf_with(old: str, new: str) -> str:
    assert old in BF
    return BF.replace(old, new)


def make_student(d: Path, spec_text: str = BF) -> Path:
    """A hand-made Bellman-Ford student (the textbook tree), sealed as compile writes it."""
    spec = load_spec_text(spec_text, "bellman_ford.dp")
    fs = typed_features(spec, "dist", ["dist < best"], ["dist", "best"])
    st = Student(spec, {"dist": FieldTree(fs, T.Split(0, T.Leaf(0), T.Leaf(1)))})
    d.mkdir(parents=True, exist_ok=True)
    (d / "student.json").write_text(dumps_student(st.to_json()))
    return d


def write_graph(tmp_path: Path, obj: object, name: str = "g.json") -> Path:
    p = tmp_path / name
    p.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return p


SMALL_BF_GRAPH = {"num_nodes": 3, "directed": True, "edges": [[0, 1], [1, 2]],
                  "node": {"source": [True, False, False]}, "edge": {"w": [0.5, 0.25]}}


# ------------------------------------------------------------------------------ 1. deep expressions


@pytest.mark.parametrize("expr", [
    "min(dist, best)" + " + 0" * 490,
    "if true then " * 490 + "dist" + " else dist" * 490,
    "min(dist, " * 330 + "best" + ")" * 330,
    "-" * 1000 + "dist",
    "(" * 5000 + "dist" + ")" * 5000,  # parentheses add no depth, but 5000 of them are fine
])
def test_deep_expressions_are_refused_at_parse_time(tmp_path: Path, expr: str) -> None:
    p = spec_file(tmp_path, bf_with("reference  dist = min(dist, best)", f"reference  dist = {expr}"))
    r = cli("check", p)
    if expr.startswith("((("):
        assert r.code == 0, r.err
        return
    assert_user_error(r, "nests deeper than 100 levels", "expr_depth", caret=True)


def test_expression_depth_cap_keeps_every_walker_inside_the_recursion_limit(tmp_path: Path) -> None:
    """At the cap, with a deliberately deep caller stack, parse/check/run/emit/student all work."""
    depth = limits.cap("expr_depth") - 2
    text = bf_with("reference  dist = min(dist, best)", "reference  dist = " + "min(dist, " * depth + "best"
                   + ")" * depth)

    def nested(k: int) -> int:
        if k:
            return nested(k - 1)
        p = spec_file(tmp_path, text)
        g = write_graph(tmp_path, SMALL_BF_GRAPH)
        assert cli("run", p, "--graph", g).code == 0
        assert cli("emit", p, "-o", tmp_path / "sk.py", "--force").code == 0
        fs = typed_features(load_spec(p), "dist", [], ["min(dist, " * depth + "best" + ")" * depth])
        assert len(fs.terms) == 1
        return 0

    nested(300)  # 300 frames of "caller" below the CLI


def test_student_predicate_of_5000_nots_is_refused(tmp_path: Path) -> None:
    d = make_student(tmp_path / "s")
    obj = json.loads((d / "student.json").read_text())
    obj["fields"]["dist"]["predicates"] = ["not " * 5000 + "dist < best"]
    (d / "student.json").write_text(dumps_student(obj))  # resealed: only the depth is wrong
    assert_user_error(cli("run", d, "--sample", "1"), "nests deeper than 100 levels")


# ------------------------------------------------------------------------------- 2. deep JSON


DEEP = "[" * 1000 + "]" * 1000


def test_deep_json_graph_student_and_adapter_are_refused(tmp_path: Path) -> None:
    g = write_graph(tmp_path, '{"num_nodes": 2, "directed": true, "edges": ' + DEEP + "}")
    assert_user_error(cli("run", REACH, "--graph", g), "nests deeper than 64 levels", "json_depth")
    s = tmp_path / "s"
    s.mkdir()
    (s / "student.json").write_text('{"format": "dpdsl-student/1", "x": ' + DEEP + "}")
    assert_user_error(cli("run", s, "--sample", "1"), "nests deeper than 64 levels")
    a = write_graph(tmp_path, '{"model": "m.py:M", "embedding_modules": ' + DEEP + "}", "t.json")
    assert_user_error(cli("compile", REACH, "--teacher", a, "-o", tmp_path / "o"), "nests deeper than 64")


def test_deep_json_in_checkpoint_headers_is_refused(tmp_path: Path) -> None:
    src = TEACHERS / "reachability.safetensors"

    def deep_st(st: dict, h: dict) -> None:
        st["__metadata__"]["extra"] = "x"
        st["deep"] = json.loads("[" * 50 + "]" * 50)  # fine for the decoder, wrong shape for a tensor
        st["deeper"] = {"a": json.loads("[" * 30 + "]" * 30)}

    for name, edit in [("meta", lambda st, h: st["__metadata__"].__setitem__("dpdsl", DEEP)),
                       ("st", deep_st)]:
        p = rewrite_checkpoint(src, tmp_path / f"{name}.safetensors", edit)
        r = cli("teacher", "eval", p, "--spec", REACH)
        assert_user_error(r)
        assert ("nests deeper" in r.err) if name == "meta" else ("corrupt safetensors header" in r.err)
    raw = json.dumps({"__metadata__": {"dpdsl": "{}"}}).encode()[:-1] + b', "x": ' + DEEP.encode() + b"}"
    p = tmp_path / "raw.safetensors"
    p.write_bytes(struct.pack("<Q", len(raw)) + raw)
    assert_user_error(cli("teacher", "eval", p, "--spec", REACH), "nests deeper than 64")


# ------------------------------------------------------------------------- 3. oversized graph files


def test_oversized_numbers_in_graph_files(tmp_path: Path) -> None:
    e = tmp_path / "g.edges"
    e.write_text("0 99999999999999999999\n")
    assert_user_error(cli("run", REACH, "--graph", e), "endpoint 99999999999999999999", "DPDSL_MAX_NODES")
    for n in (10**30, 10**12, 10**8):
        g = write_graph(tmp_path, {"num_nodes": n, "directed": True, "edges": []})
        assert_user_error(cli("run", SPECS / "components.dp", "--graph", g), "num_nodes", "limit 'nodes'")
    assert len(json.dumps({"num_nodes": 10**8, "directed": True, "edges": []})) < 60  # the 57-byte file
    e.write_text("# num_nodes: 1000000000000\n")
    assert_user_error(cli("run", SPECS / "components.dp", "--graph", e), "num_nodes", "DPDSL_MAX_NODES")


def test_graph_file_size_limit_and_how_to_raise_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = write_graph(tmp_path, SMALL_BF_GRAPH)
    monkeypatch.setenv("DPDSL_MAX_GRAPH_BYTES", "50")
    assert_user_error(cli("run", SPECS / "bellman_ford.dp", "--graph", g), "graph file", "DPDSL_MAX_GRAPH_BYTES")
    monkeypatch.setenv("DPDSL_MAX_GRAPH_BYTES", "100000")
    assert cli("run", SPECS / "bellman_ford.dp", "--graph", g).code == 0
    monkeypatch.setenv("DPDSL_MAX_GRAPH_BYTES", "lots")
    assert_user_error(cli("run", SPECS / "bellman_ford.dp", "--graph", g), "DPDSL_MAX_GRAPH_BYTES must be")


def test_edge_count_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DPDSL_MAX_EDGES", "1")
    g = write_graph(tmp_path, SMALL_BF_GRAPH)
    assert_user_error(cli("run", SPECS / "bellman_ford.dp", "--graph", g), "number of edges", "limit 'edges'")


# ------------------------------------------------------------------------------- 4. checkpoints


def _set(path: list, value: object):
    def edit(st: dict, h: dict) -> None:
        obj = h if path[0] == "h" else st
        for k in path[1:-1]:
            obj = obj[k]
        obj[path[-1]] = value
    return edit


def _first_tensor(st: dict) -> str:
    return next(k for k in st if k != "__metadata__")


@pytest.mark.parametrize("what, edit, needle", [
    ("data_offsets a string", lambda st, h: st[_first_tensor(st)].__setitem__("data_offsets", "0,4"),
     "corrupt safetensors header"),
    ("data_offsets of 3", lambda st, h: st[_first_tensor(st)].__setitem__("data_offsets", [0, 4, 8]),
     "corrupt safetensors header"),
    ("negative shape", lambda st, h: st[_first_tensor(st)].__setitem__("shape", [-1, 4]),
     "corrupt safetensors header"),
    ("metadata a list", lambda st, h: st.__setitem__("__metadata__", ["dpdsl"]), "__metadata__"),
    ("arch a list", _set(["h", "arch"], ["aligned"]), "arch must be a str"),
    ("config a list", _set(["h", "config"], [1]), "config must be a dict"),
    ("hidden 8192", _set(["h", "config", "hidden"], 8192), "bytes of weights but the file holds"),
    ("hidden negative", _set(["h", "config", "hidden"], -4), "invalid config"),
    ("labels 1e9", _set(["h", "config", "node_fields", 0],
                        {"name": "source", "kind": "enum", "labels": 10**9, "scale": 1.0, "lo": None,
                         "hi": None}), "has labels = 1000000000"),
    ("labels negative", _set(["h", "config", "node_fields", 0],
                             {"name": "source", "kind": "enum", "labels": -3, "scale": 1.0, "lo": None,
                              "hi": None}), "has labels = -3"),
    ("hidden 4096 layers", _set(["h", "config", "value_channels"], 1024), "bytes of weights but the file holds"),
])
def test_checkpoint_header_fields_are_validated_before_use(tmp_path: Path, what: str, edit, needle: str) -> None:
    p = rewrite_checkpoint(TEACHERS / "reachability.safetensors", tmp_path / "t.safetensors", edit)
    t0 = time.perf_counter()
    assert_user_error(cli("teacher", "eval", p, "--spec", REACH), needle)
    assert time.perf_counter() - t0 < 20, what  # no 3 GB / 52 s detour


def test_forged_spec_hash_is_refused(tmp_path: Path) -> None:
    reach = load_spec(REACH)

    def only_hash(st: dict, h: dict) -> None:
        h["spec_hash"] = reach.hash

    def hash_and_source(st: dict, h: dict) -> None:
        h["spec_hash"], h["spec_source"], h["spec_name"] = reach.hash, reach.source, reach.name

    p = rewrite_checkpoint(TEACHERS / "bellman_ford.safetensors", tmp_path / "a.safetensors", only_hash)
    assert_user_error(cli("teacher", "eval", p, "--spec", REACH), "inconsistent")
    p = rewrite_checkpoint(TEACHERS / "bellman_ford.safetensors", tmp_path / "b.safetensors", hash_and_source)
    assert_user_error(cli("teacher", "eval", p, "--spec", REACH), "does not fit spec 'reachability'")


# ---------------------------------------------------------------------------------- 5. NaN teachers


@pytest.fixture
def nan_checkpoint(tmp_path: Path) -> Path:
    t = load_teacher(TEACHERS / "reachability.safetensors", load_spec(REACH))
    with torch.no_grad():
        for prm in t.net.parameters():
            prm.fill_(float("nan"))
    return save_teacher(t, tmp_path / "nan.safetensors")


def test_nan_weights_are_refused_by_eval_and_compile(tmp_path: Path, nan_checkpoint: Path) -> None:
    assert_user_error(cli("teacher", "eval", nan_checkpoint, "--spec", REACH), "NaN or infinity")
    t0 = time.perf_counter()
    r = cli("compile", REACH, "--teacher", nan_checkpoint, "-o", tmp_path / "o")
    assert_user_error(r, "NaN or infinity")
    assert time.perf_counter() - t0 < 10 and not (tmp_path / "o").exists()


NAN_MODEL = '''
import torch
from torch import nn


class Nan(nn.Module):
    def forward(self, x):
        return x * float("nan")


class NanNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Linear(1, 4)
        self.bad = Nan()

    def forward(self, graph):
        h = self.bad(self.enc(graph.node["source"].float().unsqueeze(1)))
        return {"reached": graph.node["source"]}
'''


def test_adapter_teacher_emitting_nan_is_refused(tmp_path: Path) -> None:
    (tmp_path / "nanmodel.py").write_text(NAN_MODEL)
    cfg = write_graph(tmp_path, {"model": "nanmodel.py:NanNet", "embedding_modules": ["bad"]}, "t.json")
    assert_user_error(cli("compile", REACH, "--teacher", cfg, "--trust-code", "-o", tmp_path / "o"),
                      "NaN or infinity")


# -------------------------------------------------------------------------------- 6. student loader


@pytest.mark.parametrize("edit, needle", [
    (lambda o: o.__setitem__("fields", {}), "'fields' must be a non-empty object"),
    (lambda o: o.__setitem__("fields", []), "'fields' must be a non-empty object"),
    (lambda o: o["spec"].__setitem__("source", 5), "'spec' needs string 'source'"),
    (lambda o: o.__setitem__("spec", "x"), "'spec' needs string 'source'"),
    (lambda o: o["fields"]["dist"].__setitem__("predicates", [3]), "malformed tree for 'dist'"),
    (lambda o: o["fields"]["dist"].__setitem__("tree", {"pred": 7, "if_true": {"leaf": 0},
                                                        "if_false": {"leaf": 1}}), "tests predicate 7"),
])
def test_malformed_students_are_refused(tmp_path: Path, edit, needle: str) -> None:
    d = make_student(tmp_path / "s")
    obj = json.loads((d / "student.json").read_text())
    edit(obj)
    (d / "student.json").write_text(dumps_student(obj))
    assert_user_error(cli("run", d, "--sample", "1"), needle)


def test_non_utf8_student_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "s"
    d.mkdir()
    (d / "student.json").write_bytes(b'{"format": "\xff\xfe"}')
    assert_user_error(cli("run", d, "--sample", "1"), "not a UTF-8")


# --------------------------------------------------------------------------------- sealed students


def test_sealed_student_runs_and_tampering_is_refused(tmp_path: Path) -> None:
    d = make_student(tmp_path / "s")
    g = write_graph(tmp_path, SMALL_BF_GRAPH)
    r = cli("run", d, "--graph", g, "--json")
    assert r.code == 0 and r.err == "" and json.loads(r.out)["outputs"]["dist"] == [0.0, 0.5, 0.75]
    obj = json.loads((d / "student.json").read_text())
    assert obj["digest"]["algorithm"] == "sha256" and len(obj["digest"]["value"]) == 64
    # a hand edit: swap the leaves (dist <-> best); the spec still checks, the digest does not
    obj["fields"]["dist"]["tree"] = {"pred": 0, "if_true": {"leaf": 1}, "if_false": {"leaf": 0}}
    (d / "student.json").write_text(json.dumps(obj, indent=2))
    assert_user_error(cli("run", d, "--graph", g), "does not match its sha256 digest", "--allow-modified")
    assert_user_error(cli("eval", d, "--sizes", "8", "--graphs", "1"), "does not match its sha256 digest")
    r = cli("run", d, "--graph", g, "--json", "--allow-modified")
    assert r.code == 0 and "was modified after compilation" in r.err and len(r.lines) == 1
    assert json.loads(r.out)["outputs"]["dist"] != [0.0, 0.5, 0.75]  # the edit took effect
    r = cli("eval", d, "--sizes", "8", "--graphs", "1", "--allow-modified")
    assert r.code == 0 and "student: modified" in r.out and "was modified" in r.err


def test_unsealed_student_from_before_sealing_still_loads(tmp_path: Path) -> None:
    d = make_student(tmp_path / "s")
    obj = json.loads((d / "student.json").read_text())
    del obj["digest"]
    (d / "student.json").write_text(json.dumps(obj))
    r = cli("run", d, "--graph", write_graph(tmp_path, SMALL_BF_GRAPH))
    assert r.code == 0 and r.lines == [r.lines[0]] and "unsealed" in r.lines[0]
    assert load_student(d).seal_status == "unsealed"


def test_malformed_digest_is_refused(tmp_path: Path) -> None:
    d = make_student(tmp_path / "s")
    obj = json.loads((d / "student.json").read_text())
    obj["digest"] = "abc"
    (d / "student.json").write_text(json.dumps(obj))
    assert_user_error(cli("run", d, "--sample", "1"), "digest is malformed")


# ------------------------------------------------------------------------------------ 7. outputs


def test_output_paths_are_checked_before_the_work(tmp_path: Path) -> None:
    spec = SPECS / "bellman_ford.dp"
    (tmp_path / "dir").mkdir()
    assert_user_error(cli("emit", spec, "-o", tmp_path / "dir", "--force"), "is a directory")
    f = tmp_path / "file"
    f.write_text("x")
    assert_user_error(cli("emit", spec, "-o", f / "x.py"), "is not a directory")
    assert_user_error(cli("emit", spec, "-o", "/sys/x.py"), "not writable")
    t0 = time.perf_counter()
    r = cli("teacher", "train", spec, "-o", f / "t.safetensors", "--epochs", "1")
    assert_user_error(r, "is not a directory")
    r2 = cli("teacher", "train", spec, "-o", "/sys/t.safetensors", "--epochs", "1")
    assert_user_error(r2, "not writable")
    r3 = cli("compile", spec, "--teacher", TEACHERS / "bellman_ford.safetensors", "-o", f / "out")
    assert_user_error(r3, "is not a directory")
    assert_user_error(cli("compile", spec, "--teacher", TEACHERS / "bellman_ford.safetensors", "-o", f,
                          "--force"), "is a file, not a student directory")
    assert time.perf_counter() - t0 < 15 and r.out == "" and r2.out == ""  # nothing trained, nothing sampled


def test_force_replaces_only_student_directories(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "precious.txt").write_text("keep me")
    r = cli("compile", SPECS / "bellman_ford.dp", "--teacher", TEACHERS / "bellman_ford.safetensors", "-o", home,
            "--force")
    assert_user_error(r, "--force only replaces student directories")
    assert (home / "precious.txt").read_text() == "keep me"


# -------------------------------------------------------------------------------------- 8. flags


@pytest.mark.parametrize("args, needle", [
    (["compile", "BF", "--teacher", "BFT", "--seed", "-1"], "--seed must be in 0..4294967295"),
    (["compile", "BF", "--teacher", "BFT", "--seed", str(2**64)], "--seed must be in"),
    (["compile", "BF", "--teacher", "BFT", "--tau", "nan"], "--tau must be a finite number"),
    (["compile", "BF", "--teacher", "BFT", "--tau", "inf"], "--tau must be a finite number"),
    (["compile", "BF", "--teacher", "BFT", "--fidelity", "nan"], "--fidelity must be a finite number"),
    (["compile", "BF", "--teacher", "BFT", "--max-depth", "1000"], "limit 'tree_depth'"),
    (["compile", "BF", "--teacher", "BFT", "--samples", "100000000"], "limit 'graphs'"),
    (["teacher", "train", "BF", "-o", "OUT", "--value-weight", "inf"], "--value-weight must be a finite"),
    (["teacher", "train", "BF", "-o", "OUT", "--hidden", "1e20"], "invalid int value"),
    (["teacher", "train", "BF", "-o", "OUT", "--hidden", str(10**20)], "--hidden must be in 8..8192"),
    (["teacher", "train", "BF", "-o", "OUT", "--seed", "-3"], "--seed must be in"),
    (["teacher", "eval", "BFT", "--spec", "BF", "--nodes", str(2**63)], "limit 'nodes'"),
    (["eval", "STUDENT", "--sizes", "100000000"], "limit 'nodes'"),
    (["eval", "STUDENT", "--sizes", "8,x"], "--sizes must be a comma-separated"),
    (["run", "BF", "--sample", "1", "--seed", str(2**70)], "--seed must be in"),
    (["run", "BF", "--sample", "1000000"], "limit 'graphs'"),
    (["run", "BF", "--sample", "1", "--max-rounds", "-1"], "--max-rounds must be >= 0"),
])
def test_bad_flags_fail_fast(tmp_path: Path, args: list[str], needle: str) -> None:
    sub = {"BF": str(SPECS / "bellman_ford.dp"), "BFT": str(TEACHERS / "bellman_ford.safetensors"),
           "OUT": str(tmp_path / "t.safetensors"), "STUDENT": str(make_student(tmp_path / "s"))}
    t0 = time.perf_counter()
    r = cli(*[sub.get(a, a) for a in args])
    assert_user_error(r, needle)
    assert time.perf_counter() - t0 < 10 and not (tmp_path / "t.safetensors").exists()


# ---------------------------------------------------------------------------------- 9. sample section


@pytest.mark.parametrize("old, new, needle", [
    ("input edge w      : real >= 0\n", "input edge w      : int >= 0\n", None),
    ("nodes 4..16", "nodes 2147483647..2147483647", "limit 'nodes'"),
    ("nodes 4..16", "nodes 1..100000000", "limit 'nodes'"),
    ("sample w uniform(0, 1)", "sample w uniform(0, 1e308)", None),
])
def test_sample_section_is_checked_for_what_it_can_run(tmp_path: Path, old: str, new: str, needle) -> None:
    text = bf_with(old, new)
    if needle is None and "int" in new:
        text = text.replace("sample w uniform(0, 1)", "sample w randint(0, 1e30)")
        needle = "within +-2**53"
    r = cli("check", spec_file(tmp_path, text))
    if needle is None:  # 0..1e308 is a fine range to draw from
        assert r.code == 0, r.err
        assert cli("run", spec_file(tmp_path, text), "--sample", "2").code == 0
        return
    assert_user_error(r, needle, caret=True)


def test_wide_uniform_and_huge_grid_aspect(tmp_path: Path) -> None:
    text = bf_with("input edge w      : real >= 0", "input edge w      : real")
    r = cli("check", spec_file(tmp_path, text.replace("sample w uniform(0, 1)", "sample w uniform(-1e308, 1e308)")))
    assert_user_error(r, "b - a must be finite", caret=True)
    text = (SPECS / "dag_shortest_paths.dp").read_text()
    fam = next(line for line in text.splitlines() if line.startswith("sample graph"))
    t2 = text.replace(fam, "sample graph grid(max_aspect = 1e308) nodes 4..16")
    assert cli("run", spec_file(tmp_path, t2), "--sample", "2").code == 0


def test_dense_sample_hits_the_edge_limit_before_allocating(tmp_path: Path) -> None:
    t0 = time.perf_counter()
    r = cli("run", spec_file(tmp_path, bf_with("nodes 4..16", "nodes 5000000..5000000")), "--sample", "1")
    assert_user_error(r, "number of edges drawn", "limit 'edges'")
    assert time.perf_counter() - t0 < 10


# ---------------------------------------------------------------------------------------- 10. rounds


def test_non_finite_and_negative_rounds_are_errors(tmp_path: Path) -> None:
    r = cli("check", spec_file(tmp_path, bf_with("rounds n - 1 until fixpoint", "rounds n * 0 + 1e308 * 10")))
    assert_user_error(r, "round count is inf", caret=True)
    r = cli("run", spec_file(tmp_path, bf_with("rounds n - 1 until fixpoint", "rounds 0 - n")), "--sample", "1")
    assert_user_error(r, "negative for every graph size", caret=True)
    # negative only for some graphs: refused at run time on the graph where it is
    p = spec_file(tmp_path, bf_with("rounds n - 1 until fixpoint", "rounds n - 4"))
    g = write_graph(tmp_path, SMALL_BF_GRAPH)
    assert cli("check", p).code == 0
    assert_user_error(cli("run", p, "--graph", g), "evaluates to -1 on a graph with n = 3")


def test_huge_rounds_without_fixpoint_need_max_rounds(tmp_path: Path) -> None:
    p = spec_file(tmp_path, bf_with("rounds n - 1 until fixpoint", "rounds 1e18"))
    g = write_graph(tmp_path, SMALL_BF_GRAPH)
    t0 = time.perf_counter()
    assert_user_error(cli("run", p, "--graph", g), "limit 'rounds'", "--max-rounds", "DPDSL_MAX_ROUNDS")
    r = cli("run", p, "--graph", g, "--json", "--max-rounds", "5")
    assert r.code == 0 and json.loads(r.out)["rounds"] == 5
    assert time.perf_counter() - t0 < 10
    # with a fixpoint the count is only a cap: a huge one is fine
    p2 = spec_file(tmp_path, bf_with("rounds n - 1 until fixpoint", "rounds 1e18 until fixpoint"), "f.dp")
    r = cli("run", p2, "--graph", g, "--json")
    assert r.code == 0 and json.loads(r.out)["outputs"]["dist"] == [0.0, 0.5, 0.75]


# ------------------------------------------------------------------------------------- 11. emit


@pytest.mark.parametrize("name", ["C:\\Users\\me\\bf.dp", 'tri"""ple.dp', "uni\u00e9\u2028x.dp"])
def test_emitted_skeleton_compiles_whatever_the_spec_name(tmp_path: Path, name: str) -> None:
    p = spec_file(tmp_path, BF, name)
    out = tmp_path / "sk.py"
    r = cli("emit", p, "-o", out)
    assert r.code == 0, r.err
    ns: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), ns)  # noqa: S102 - our own generated code
    assert str(p) in ns["__doc__"]


# ----------------------------------------------------------------------------------- 12. plugins


@pytest.mark.parametrize("body, needle", [
    ("raise RuntimeError('boom')", "failed to import: RuntimeError: boom"),
    ("def f(:\n", "failed to import: SyntaxError"),
    ("x = 1\x00\n", "failed to import"),
    ("import sys\nsys.exit(3)", "called sys.exit(3)"),
    ("GRAMMAR = 'nope.lark'", "GRAMMAR must name an existing .lark file"),
    ("GRAMMAR = 5", "GRAMMAR must name an existing .lark file"),
    ("GRAMMAR = __file__.replace('.py', '.lark')\nopen(GRAMMAR, 'w').write('start: ???')",
     "does not build"),
    ("AST_RULES = {'x': 5}", "AST_RULES must map rule names to functions"),
])
def test_bad_plugins_are_one_line_errors(tmp_path: Path, body: str, needle: str) -> None:
    p = tmp_path / f"plug{abs(hash(body))}.py"
    p.write_bytes(body.encode())
    assert_user_error(cli("--plugin", p, "check", SPECS / "bellman_ford.dp"), needle)


def test_empty_and_missing_plugins(tmp_path: Path) -> None:
    assert_user_error(cli("--plugin", "", "check", SPECS / "bellman_ford.dp"), "--plugin needs")
    assert_user_error(cli("--plugin", tmp_path / "no.py", "check", SPECS / "bellman_ford.dp"), "does not exist")
    assert_user_error(cli("--plugin", "no_such_module_x", "check", SPECS / "bellman_ford.dp"), "cannot import")


# ------------------------------------------------------------------------- 13. interrupted writes


KILLED_WRITER = """
import sys, time
from pathlib import Path
from dpdsl.fsutil import write_dir_atomic
text = Path(sys.argv[2]).read_text()
def fill(tmp):
    (tmp / "student.json").write_text(text)
    print("filled", flush=True)
    time.sleep(120)
write_dir_atomic(sys.argv[1], fill)
"""


def test_sigkilled_write_never_leaves_a_loadable_student(tmp_path: Path) -> None:
    good = make_student(tmp_path / "good")
    target = tmp_path / "out" / "bf"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target), str(good / "student.json")],
                            stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout is not None and proc.stdout.readline().strip() == "filled"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    (tmp,) = [d for d in target.parent.iterdir() if d.name.startswith(".bf.")]
    assert (tmp / "student.json").read_text() == (good / "student.json").read_text()  # complete content...
    assert_user_error(cli("run", tmp, "--sample", "1"), "not a finished student")  # ...yet refused
    renamed = tmp_path / "renamed"
    tmp.rename(renamed)  # renaming it does not help: the marker is inside
    assert_user_error(cli("run", renamed, "--sample", "1"), "marked incomplete")
    renamed.rename(tmp)
    fsutil.write_dir_atomic(target, lambda d: (d / "student.json").write_text("{}"))
    assert not tmp.exists() and [d.name for d in target.parent.iterdir()] == ["bf"]  # stale one cleaned
    assert not (target / fsutil.INCOMPLETE).exists()


def test_live_writers_temp_dirs_are_left_alone(tmp_path: Path) -> None:
    target = tmp_path / "bf"
    live = tmp_path / f".bf{fsutil.PARTIAL_TAG}{os.getpid()}-abcdefgh"
    live.mkdir()
    fsutil.write_dir_atomic(target, lambda d: None)
    assert live.exists()


def test_killed_between_rename_and_unmark_is_refused(tmp_path: Path) -> None:
    d = make_student(tmp_path / "bf")
    (d / fsutil.INCOMPLETE).write_text("1\n")
    assert_user_error(cli("run", d, "--sample", "1"), "marked incomplete", "rerun compile")


# -------------------------------------------------------------------------------------- 14. minor


def test_warnings_do_not_pollute_the_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dpdsl.api

    real = dpdsl.api.load_spec

    def noisy(path, grammar=None):
        warnings.warn("torch says something", UserWarning, stacklevel=1)
        return real(path, grammar)

    monkeypatch.setattr(dpdsl.api, "load_spec", noisy)
    r = cli("run", SPECS / "bellman_ford.dp", "--graph", tmp_path / "missing.json")
    assert_user_error(r, "no such file")
    r = cli("--debug", "run", SPECS / "bellman_ford.dp", "--graph", tmp_path / "missing.json")
    assert r.code == 2 and "torch says something" in r.err and "Traceback" in r.err


def test_json_graph_quirks(tmp_path: Path) -> None:
    g = write_graph(tmp_path, '{"num_nodes": 2, "directed": true, "edges": [[0, 1]], "node": {"source": '
                    '[true, false]}, "edge": {"w": [' + "9" * 5000 + "]}}")
    assert_user_error(cli("run", SPECS / "bellman_ford.dp", "--graph", g), "5000 digits")
    g = write_graph(tmp_path, {"num_nodes": 2, "directed": True, "edges": [[True, 1]],
                               "node": {"source": [True, False]}})
    assert_user_error(cli("run", REACH, "--graph", g), "endpoint is True")
    e = tmp_path / "g.edges"
    e.write_text("# node source: 1 0\n0 1 w=0.5 w=0.7\n")
    assert_user_error(cli("run", SPECS / "bellman_ford.dp", "--graph", e), "'w' is given twice")
    g = write_graph(tmp_path, '{"num_nodes": 2, "directed": true, "edges": [], "node": {"source": [NaN, 1]}}')
    assert_user_error(cli("run", REACH, "--graph", g), "NaN is not a valid value")


# -------------------------------------------------------------------------------------- exit codes


def test_internal_errors_exit_3_with_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import dpdsl.cli

    def bug(args):
        raise KeyError("oops")

    monkeypatch.setattr(dpdsl.cli, "_print_check", bug)
    r = cli("check", SPECS / "bellman_ford.dp")
    assert r.code == 3 and len(r.lines) == 1
    assert "internal error: KeyError" in r.err and "bug in dpdsl" in r.err and "--debug" in r.err
    r = cli("--debug", "check", SPECS / "bellman_ford.dp")
    assert r.code == 3 and "Traceback" in r.err and r.lines[-1].startswith("dpdsl: internal error")


def test_exit_codes_are_documented() -> None:
    r = cli("--help")
    assert r.code == 0
    for code in ("0 ", "1 ", "2 ", "3 "):
        assert f"\n  {code}" in r.out
    readme = (ROOT / "README.md").read_text()
    assert "exit code" in readme.lower() and "internal error" in readme and "--debug" in readme


def test_bad_flag_is_exit_2_one_line() -> None:
    r = cli("compile", "--nope")
    assert r.code == 2 and len(r.lines) == 1


# -------------------------------------------------------------------------------- trusted adapters


def _adapter(tmp_path: Path, model: str, **extra: object) -> Path:
    (tmp_path / "model.py").write_text((ROOT / "examples" / "user_teacher" / "model.py").read_text())
    return write_graph(tmp_path, {"model": model, "init_kwargs": {"hidden": 8, "steps": 3},
                                  "embedding_modules": ["encoder", "layer"], **extra}, "teacher.json")


def test_adapter_needs_trust_and_a_local_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _adapter(tmp_path, "model.py:ReachGNN")
    args = ["teacher", "eval", cfg, "--spec", REACH, "--graphs", "2"]
    assert_user_error(cli(*args), "--trust-code", "DPDSL_TRUST_CODE")
    assert cli(*args, "--trust-code").code == 0
    monkeypatch.setenv("DPDSL_TRUST_CODE", "1")
    assert cli(*args).code == 0
    for model, needle in [("subprocess:run", "module 'subprocess' is not allowed"),
                          ("os:system", "--teacher-module os"),
                          (str(ROOT / "examples" / "user_teacher" / "model.py") + ":ReachGNN", "next to the JSON"),
                          ("../model.py:ReachGNN", "next to the JSON"),
                          ("model.py:nope nope", "must look like")]:
        cfg = _adapter(tmp_path, model)
        r = cli("teacher", "eval", cfg, "--spec", REACH, "--trust-code")
        assert_user_error(r, needle)
    cfg = _adapter(tmp_path, "model.py:ReachGNN", call="subprocess:run")
    assert_user_error(cli("teacher", "eval", cfg, "--spec", REACH, "--trust-code"), "call module 'subprocess'")


def test_installed_module_named_on_the_command_line(tmp_path: Path) -> None:
    pkg = tmp_path / "pkgs"
    pkg.mkdir()
    (pkg / "my_reach_model.py").write_text((ROOT / "examples" / "user_teacher" / "model.py").read_text())
    sys.path.insert(0, str(pkg))
    try:
        cfg = write_graph(tmp_path, {"model": "my_reach_model:ReachGNN", "init_kwargs": {"hidden": 8, "steps": 3},
                                     "embedding_modules": ["encoder", "layer"]}, "teacher.json")
        assert_user_error(cli("teacher", "eval", cfg, "--spec", REACH, "--trust-code"), "--teacher-module")
        r = cli("teacher", "eval", cfg, "--spec", REACH, "--trust-code", "--teacher-module", "my_reach_model",
                "--graphs", "2")
        assert r.code == 0, r.err
        not_a_module = write_graph(tmp_path, {"model": "my_reach_model:torch", "embedding_modules": ["x"]}, "b.json")
        assert_user_error(cli("teacher", "eval", not_a_module, "--spec", REACH, "--trust-code", "--teacher-module",
                              "my_reach_model"), "not a torch.nn.Module class")
    finally:
        sys.path.remove(str(pkg))
        sys.modules.pop("my_reach_model", None)


def test_user_model_failures_are_the_users(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("import torch\nclass M(torch.nn.Module):\n    def __init__(self):\n"
                                   "        super().__init__(); self.l = torch.nn.Linear(1, 2)\n"
                                   "    def forward(self, g):\n        raise ValueError('my bug')\n")
    cfg = write_graph(tmp_path, {"model": "m.py:M", "embedding_modules": ["l"]}, "t.json")
    assert_user_error(cli("compile", REACH, "--teacher", cfg, "--trust-code", "-o", tmp_path / "o"),
                      "the user teacher raised ValueError: my bug")


@pytest.mark.slow
def test_sigkilled_real_compile_leaves_nothing_loadable(tmp_path: Path) -> None:
    """SIGKILL a real ``dpdsl compile`` while it fills its temporary directory."""
    out = tmp_path / "reach"
    proc = subprocess.Popen([sys.executable, "-m", "dpdsl", "compile", str(REACH), "--teacher",
                             str(TEACHERS / "reachability.safetensors"), "-o", str(out), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    caught = None
    while proc.poll() is None and caught is None:
        caught = next((d for d in tmp_path.glob(f".reach{fsutil.PARTIAL_TAG}*") if (d / "student.json").exists()),
                      None)
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert caught is not None, "the compile finished before its temporary directory was seen"
    assert not out.exists()
    assert_user_error(cli("run", caught, "--sample", "1"), "not a finished student")
    assert_user_error(cli("eval", caught, "--sizes", "8"), "not a finished student")


def test_uniform_with_negative_zero_bound(tmp_path: Path) -> None:
    """Found by tests/test_fuzz.py: numpy refuses uniform(0, -0) ("high - low < 0")."""
    p = spec_file(tmp_path, bf_with("sample w uniform(0, 1)", "sample w uniform(0, -0)"))
    assert cli("check", p).code == 0
    r = cli("run", p, "--sample", "2", "--json")
    assert r.code == 0 and all(d == 0.0 or d == "inf" for g in json.loads(r.out) for d in g["outputs"]["dist"])
