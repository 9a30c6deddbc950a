"""End-to-end distillation with planted teachers: the pipeline recovers the DP's transition.

A planted *aligned* teacher runs the reference executor and exposes per-step embeddings that linearly
encode (rotated, plus noise) the indicators of the spec's candidate predicates at that round — exactly
the LRH assumption. A planted *non-aligned* teacher has the same outputs but random embeddings. The
shipped, trained teachers are exercised in tests/test_shipped.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dpdsl.api import load_spec
from dpdsl.distill.dataset import snap
from dpdsl.distill.pipeline import CompileConfig, compile_student
from dpdsl.distill.report import render_text
from dpdsl.execute import compute_views, local_args, make_context, run_reference
from dpdsl.features import candidate_features, evaluate_features
from dpdsl.student import dumps_student, load_student, student_from_json
from dpdsl.teachers.contract import TeacherOutput
from dpdsl.tolerances import close

ROOT = Path(__file__).resolve().parents[1]


class PlantedTeacher:
    """Reference trajectories as states; embeddings = rotated predicate indicators (+ noise)."""

    arch = "planted"

    def __init__(self, spec, *, aligned: bool = True, width: int = 48, seed: int = 0) -> None:
        self.spec, self.aligned, self.width = spec, aligned, width
        self.spec_name, self.spec_hash = spec.name, spec.hash
        self.feats = {f: candidate_features(spec, f) for f in spec.states}
        n_feat = sum(len(fs.predicates) for fs in self.feats.values())
        g = torch.Generator().manual_seed(seed)
        self.rot = torch.linalg.qr(torch.randn(width, width, generator=g, dtype=torch.float64))[0][:, :n_feat]
        self.gen = g

    def run(self, graph) -> TeacherOutput:
        spec = self.spec
        ref = run_reference(spec, graph, record=True)
        ctx = make_context(spec, graph)
        n = graph.num_nodes
        embs = [torch.zeros(n, self.width)]
        for t in range(1, len(ref.trajectory)):
            ctx.state = ref.trajectory[t - 1]
            compute_views(ctx)
            cols = [evaluate_features(spec, self.feats[f].predicates, local_args(spec, ctx, f), torch.float64)
                    for f in spec.states]
            ind = torch.cat(cols, dim=1)
            if self.aligned:
                h = ind @ self.rot.T + 0.01 * torch.randn(n, self.width, generator=self.gen, dtype=torch.float64)
            else:
                h = torch.randn(n, self.width, generator=self.gen, dtype=torch.float64)
            embs.append(h.float())
        return TeacherOutput(dict(ref.outputs), embs, [dict(s) for s in ref.trajectory])


FAST = dict(samples=48, verify_graphs=(8, 4, 2), max_samples=6000)


@pytest.mark.parametrize("name, rules", [
    ("bellman_ford", {"if best < dist then best else dist", "if dist < best then dist else best"}),
    ("components", {"if low < label then low else label", "if label < low then label else low"}),
])
def test_planted_teacher_recovers_exact_transition(name: str, rules: set[str]) -> None:
    spec = load_spec(ROOT / "specs" / f"{name}.dp")
    res = compile_student(spec, PlantedTeacher(spec), CompileConfig(seed=0, **FAST))
    field = next(iter(spec.states))
    assert res.student.rules()[field] in rules  # min written either way round
    assert res.faithful, res.problems
    for row in res.report["verification"]["reference"]:
        assert row["node_exact"] == 1.0 and row["graph_exact"] == 1.0, row


def test_planted_two_level_tree_for_bool_field() -> None:
    spec = load_spec(ROOT / "specs" / "kcore.dp")
    res = compile_student(spec, PlantedTeacher(spec), CompileConfig(seed=0, **FAST))
    assert res.faithful, res.problems
    assert res.report["verification"]["reference"][-1]["node_exact"] == 1.0


def test_same_seed_same_student_bytes_and_roundtrip(tmp_path: Path) -> None:
    spec = load_spec(ROOT / "specs" / "bellman_ford.dp")
    a = compile_student(spec, PlantedTeacher(spec), CompileConfig(seed=3, **FAST))
    b = compile_student(spec, PlantedTeacher(spec), CompileConfig(seed=3, **FAST))
    ta, tb = dumps_student(a.student.to_json()), dumps_student(b.student.to_json())
    assert ta == tb
    back = student_from_json(json.loads(ta))
    assert back.rules() == a.student.rules()
    d = tmp_path / "s"
    d.mkdir()
    (d / "student.json").write_text(ta)
    loaded = load_student(d)
    g = tmp_path / "g.json"
    g.write_text(json.dumps({"num_nodes": 4, "directed": True, "edges": [[0, 1], [1, 2], [0, 2]],
                             "node": {"source": [True, False, False, False]}, "edge": {"w": [0.5, 0.25, 1.0]}}))
    out = subprocess.run([sys.executable, "-m", "dpdsl", "run", str(d), "--graph", str(g), "--json"],
                         capture_output=True, text=True, check=True)
    res = json.loads(out.stdout)
    assert res["outputs"]["dist"] == [0.0, 0.5, 0.75, "inf"]
    assert res["outputs"]["parent"] == [0, 0, 1, 3]
    assert loaded.spec.hash == spec.hash


def test_non_aligned_teacher_is_reported_unfaithful() -> None:
    spec = load_spec(ROOT / "specs" / "bellman_ford.dp")
    res = compile_student(spec, PlantedTeacher(spec, aligned=False), CompileConfig(seed=0, **FAST))
    assert not res.faithful
    assert any("LRH" in p or "represent" in p for p in res.problems), res.problems
    scores = np.array(list(res.report["fields"]["dist"]["lrh_scores"].values()))
    assert (scores > 0.5).all()


def test_tampered_student_is_refused(tmp_path: Path) -> None:
    spec = load_spec(ROOT / "specs" / "bellman_ford.dp")
    res = compile_student(spec, PlantedTeacher(spec), CompileConfig(seed=0, **FAST))
    obj = res.student.to_json()
    obj["spec"]["source"] = obj["spec"]["source"].replace("min over", "max over", 1)
    d = tmp_path / "bad"
    d.mkdir()
    (d / "student.json").write_text(json.dumps(obj))
    out = subprocess.run([sys.executable, "-m", "dpdsl", "run", str(d), "--sample", "1"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "sha256" in out.stderr and len(out.stderr.strip().splitlines()) == 1


class WrongOutputsTeacher(PlantedTeacher):
    """Right transition, wrong final ``dist`` on every 5th node with a finite, nonzero distance."""

    last_corrupted = 0

    def run(self, graph) -> TeacherOutput:
        out = super().run(graph)
        d = out.outputs["dist"].clone()
        bad = (torch.arange(d.numel()) % 5 == 0) & torch.isfinite(d) & (d > 0)
        d[bad] = d[bad] * 1.5 + 1.0  # never within the match tolerance of the truth
        self.last_corrupted = int(bad.sum())
        return TeacherOutput({**out.outputs, "dist": d}, out.embeddings, out.states)


def test_report_separates_teacher_errors_from_student_errors() -> None:
    spec = load_spec(ROOT / "specs" / "bellman_ford.dp")
    teacher = WrongOutputsTeacher(spec)
    res = compile_student(spec, teacher, CompileConfig(seed=0, **FAST))
    fid = res.report["verification"]["fidelity"]
    assert not res.faithful and fid["node_agreement"] < 0.99
    # the last teacher run is verify's held-out batch: every disagreement is one of its corrupted nodes
    assert fid["disagreements"] == teacher.last_corrupted > 0
    assert fid["disagreements_teacher_wrong_student_exact"] == fid["disagreements"]
    assert fid["teacher_vs_reference"] == pytest.approx(fid["node_agreement"])
    assert "teacher errors the student gets exactly right" in render_text(res.report)


class NoisyStatesTeacher(PlantedTeacher):
    """Right decisions, approximate real-valued states: within 0.5 % and off zero by 0.003, like a
    trained teacher's value heads."""

    def run(self, graph) -> TeacherOutput:
        out = super().run(graph)
        g = torch.Generator().manual_seed(graph.num_nodes)
        states = []
        for s in out.states:
            d = s["dist"]
            noisy = d * (1 + 0.005 * (2 * torch.rand(d.shape, generator=g, dtype=torch.float64) - 1)) + 0.003
            states.append({**s, "dist": torch.where(torch.isfinite(d), noisy, d)})
        return TeacherOutput(out.outputs, out.embeddings, states)


def test_approximate_teacher_states_are_snapped_to_exact_terms() -> None:
    spec = load_spec(ROOT / "specs" / "bellman_ford.dp")
    res = compile_student(spec, NoisyStatesTeacher(spec), CompileConfig(seed=0, **FAST))
    f = res.report["fields"]["dist"]
    assert res.faithful, res.problems
    assert f["transition_agreement"] == 1.0 and f["unexplained_samples"] == 0
    assert res.student.rules()["dist"] in {"if best < dist then best else dist", "if dist < best then dist else best"}


def test_snap_picks_the_nearest_explaining_term() -> None:
    inf = float("inf")
    T = torch.tensor([[1.0, 1.01, 5.0], [inf, 2.0, 0.0], [3.0, 4.0, 5.0], [0.0, 0.01, inf]], dtype=torch.float64)
    target = torch.tensor([1.008, inf, 7.0, 0.004], dtype=torch.float64)
    E = close(T, target[:, None])
    assert snap(T, E, target).tolist() == [1.01, inf, 7.0, 0.0]
