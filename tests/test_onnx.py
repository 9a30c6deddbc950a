"""ONNX export (``dpdsl export``, ``dpdsl.export``): onnxruntime runs the exported student with outputs
and round counts equal, bit for bit (any NaN counts as NaN), to the torch student on random graphs of
the spec's family (plus isolated nodes and larger graphs than the trace saw). The default suite
exports two specs (~15 s each); ``-m slow`` exports every shipped spec's reference student, a
random-tree student and the student compiled from its shipped teacher, each on 100 random graphs."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from clihelp import SPECS, TEACHERS, assert_user_error, cli
from students import random_student, reference_student
from test_frontier import with_isolated

from dpdsl.api import load_spec
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs
from dpdsl.student import Student, dumps_student

for _mod in ("onnx", "onnxscript", "onnxruntime"):
    pytest.importorskip(_mod, reason=f"{_mod} is not installed: pip install 'dpdsl[onnx]' to run the ONNX tests")

import onnxruntime as ort  # noqa: E402

from dpdsl.export import export_onnx, model_inputs  # noqa: E402

ALL = sorted(p.stem for p in SPECS.glob("*.dp") if "\ndomain " not in p.read_text())  # node specs


def _bits(x: np.ndarray) -> np.ndarray:
    """Bits of each value, NaN as one canonical NaN: IEEE leaves a NaN result's sign and payload to the
    hardware (x86 makes inf - inf negative), and onnxruntime's kernels pick them differently."""
    if x.dtype != np.float64:
        return x
    return np.where(np.isnan(x), np.float64("nan"), x).view(np.int64)


def graphs_for(spec: SpecIR, count: int, seed: int) -> list[Graph]:
    """The spec's own family at 1x-4x its training sizes, every third graph with isolated nodes."""
    lo, hi = spec.sample.nodes
    gs = sample_graphs(spec, count, seed, nodes=(max(2, lo), 4 * hi))
    return [with_isolated(g, 2) if i % 3 == 2 else g for i, g in enumerate(gs)]


def assert_runs_equal(spec: SpecIR, student: Student, model: Path, graphs: list[Graph]) -> None:
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    outs = [o.name for o in sess.get_outputs()]
    assert outs == [*spec.outputs, "rounds"]
    for i, g in enumerate(graphs):
        feeds = {k: v.numpy() for k, v in zip(names, model_inputs(spec, g), strict=True)}
        got = dict(zip(outs, sess.run(None, feeds), strict=True))
        want = student.run(g)
        assert int(got["rounds"]) == int(want.rounds[0]), (spec.name, i)
        for k in spec.outputs:
            w = want.outputs[k].numpy()
            assert got[k].dtype == w.dtype and np.array_equal(_bits(got[k]), _bits(w)), (spec.name, k, i)


def test_cli_export_of_a_student_dir_runs_in_onnxruntime(tmp_path: Path) -> None:
    spec = load_spec(SPECS / "bellman_ford.dp")
    student = reference_student(spec)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "student.json").write_text(dumps_student(student.to_json()))
    r = cli("export", tmp_path / "s", "--format", "onnx", "-o", tmp_path / "bf.onnx")
    assert r.code == 0, r.err
    assert "inputs id, edge_index, node_source, edge_w" in r.out
    graphs = graphs_for(spec, 12, 5)
    # with +-inf and zero weights, ties for the parent pointer, unreachable nodes
    g = graphs[0]
    g.edge["w"] = torch.where(torch.arange(g.num_edges) % 4 == 0, torch.tensor(0.0, dtype=torch.float64), g.edge["w"])
    g.edge["w"][1] = math.inf
    assert_runs_equal(spec, student, tmp_path / "bf.onnx", graphs)
    assert_user_error(cli("export", tmp_path / "s", "-o", tmp_path / "bf.onnx"), "exists")


def test_random_tree_student_on_a_bool_tree_spec(tmp_path: Path) -> None:
    """Bool states and bool ``where`` (onnxruntime lacks a bool Where: exported through uint8), a tree
    spec (``height`` as a loop), several splits per tree."""
    spec = load_spec(SPECS / "vertex_cover_tree.dp")
    student = random_student(spec, seed=3)
    export_onnx(spec, student.transitions(), tmp_path / "m.onnx")
    assert_runs_equal(spec, student, tmp_path / "m.onnx", graphs_for(spec, 12, 6))


def test_unexportable_aggregator_is_a_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dpdsl import registry
    from dpdsl.errors import UserError

    spec = load_spec(SPECS / "bellman_ford.dp")
    custom = registry.Aggregator("min", ("real",), lambda t: t, math.inf, "amin", None, "", custom=lambda *a: a[0])
    monkeypatch.setitem(registry.AGGREGATORS, "min", custom)
    with pytest.raises(UserError, match="custom reduction has no ONNX form"):
        export_onnx(spec, reference_student(spec).transitions(), tmp_path / "m.onnx")


def test_global_aggregates_and_views_of_views_run_in_onnxruntime(tmp_path: Path) -> None:
    """``all`` relations (one reduction over the graph, argmax to the smallest id) and views reading
    views: the issue-14 spec of tests/test_language.py, exported and run on 30 graphs."""
    from test_language import GLOBAL

    from dpdsl.api import load_spec_text

    spec = load_spec_text(GLOBAL, "g.dp")
    student = reference_student(spec)
    export_onnx(spec, student.transitions(), tmp_path / "g.onnx")
    assert_runs_equal(spec, student, tmp_path / "g.onnx", graphs_for(spec, 30, 3))


def _compiled(spec: SpecIR) -> Student:
    from test_shipped import QUICK

    from dpdsl.distill.pipeline import CompileConfig, compile_student
    from dpdsl.teachers.checkpoint import load_teacher

    path = TEACHERS / f"{spec.name}.safetensors"
    if not path.exists():
        pytest.skip(f"no shipped teacher {path.name}")
    return compile_student(spec, load_teacher(path, spec), CompileConfig(seed=0, **QUICK)).student


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["reference", "random", "compiled"])
@pytest.mark.parametrize("name", ALL)
def test_every_shipped_spec_on_100_graphs(name: str, kind: str, tmp_path: Path) -> None:
    spec = load_spec(SPECS / f"{name}.dp")
    student = {"reference": reference_student, "random": lambda s: random_student(s, seed=1),
               "compiled": _compiled}[kind](spec)
    export_onnx(spec, student.transitions(), tmp_path / "m.onnx")
    assert_runs_equal(spec, student, tmp_path / "m.onnx", graphs_for(spec, 100, 11))
