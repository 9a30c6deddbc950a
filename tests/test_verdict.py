"""The faithfulness verdict: teacher noise passes, a represented pattern the tree misses fails, and a
student exact in training but wrong at a larger scale fails with a shrunk failing instance named."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_distill_pipeline import PlantedTeacher

from dpdsl.api import load_spec, load_spec_text
from dpdsl.distill.config import CompileConfig
from dpdsl.distill.pipeline import compile_student
from dpdsl.distill.report import render_text
from dpdsl.distill.verdict import noise_of, wilson
from dpdsl.errors import UserError
from dpdsl.execute import run_reference
from dpdsl.graphs.io import graph_from_json
from dpdsl.teachers.contract import TeacherOutput
from dpdsl.tolerances import exact_equal

ROOT = Path(__file__).resolve().parents[1]
FAST = dict(samples=48, max_samples=6000)


class LabelNoiseTeacher(PlantedTeacher):
    """The planted (right) computation, but every decoded value is wrong with probability ``rate``,
    independently per node and step: noise with no pattern a predicate could explain."""

    rate = 0.03

    def run(self, graph) -> TeacherOutput:
        out = super().run(graph)
        g = torch.Generator().manual_seed(graph.num_nodes * 7919 + graph.num_edges)

        def corrupt(d: torch.Tensor) -> torch.Tensor:
            hit = (torch.rand(d.shape, generator=g, dtype=torch.float64) < self.rate) & torch.isfinite(d)
            return torch.where(hit, d * 1.5 + 1.0, d)

        states = [{**s, "dist": corrupt(s["dist"])} for s in out.states]
        return TeacherOutput({**out.outputs, "dist": corrupt(out.outputs["dist"])}, out.embeddings, states)


def test_label_noise_teacher_is_faithful_up_to_noise_and_strict_refuses() -> None:
    spec = load_spec(ROOT / "specs" / "bellman_ford.dp")
    cfg = dict(FAST, verify_graphs=(32, 4, 2))
    res = compile_student(spec, LabelNoiseTeacher(spec), CompileConfig(seed=0, **cfg))
    fid = res.report["verification"]["fidelity"]["node_agreement"]
    assert fid < 0.99  # the old hard gate would have refused this student
    assert res.faithful, res.problems
    assert res.student.rules()["dist"] in {"if best < dist then best else dist", "if dist < best then dist else best"}
    assert res.report["verdict"]["patterns"] == []
    assert any("faithful up to teacher noise" in n for n in res.report["notes"])
    noise = res.report["verdict"]["noise"]
    assert noise["ci95"][0] <= 1 - fid <= noise["ci95"][1] <= 0.1
    strict = compile_student(spec, LabelNoiseTeacher(spec), CompileConfig(seed=0, faithfulness="strict", **cfg))
    assert not strict.faithful and any("(strict)" in p for p in strict.problems)


CLAMP = """
problem clamp
graph directed
input node x0 : real
state x : real
init x = x0
view lo = min over in-edges u -> v : x[u]
view hi = max over in-edges u -> v : x[u]
transition x = unknown(x, lo, hi)
{reference}
rounds 3
output x
sample graph er(p = 0.3) nodes 4..12
sample x0 uniform(0, 1)
"""


def test_represented_second_rule_the_tree_misses_is_unfaithful() -> None:
    """The teacher clamps x into [lo, hi] (two rules); a depth-1 tree can keep only one of them."""
    ref = load_spec_text(CLAMP.format(reference="reference x = if x < lo then lo else (if hi < x then hi else x)"))
    spec = load_spec_text(CLAMP.format(reference=""))  # no reference: only the teacher can judge
    teacher = PlantedTeacher(ref)
    teacher.spec_name, teacher.spec_hash = spec.name, spec.hash
    res = compile_student(spec, teacher, CompileConfig(seed=0, max_depth=1, **FAST))
    assert not res.faithful
    pats = res.report["verdict"]["patterns"]
    assert pats and any("represented pattern the tree leaves unexplained" in p for p in res.problems)
    assert pats[0]["term"] in {"lo", "hi"} and pats[0]["fixes"] > pats[0]["breaks"]
    # with the depth the rule needs, the same teacher gives a faithful student and no pattern
    ok = compile_student(spec, teacher, CompileConfig(seed=0, max_depth=2, **FAST))
    assert ok.faithful, ok.problems
    assert ok.report["verdict"]["patterns"] == []


HOP_BUDGET = """
problem hop_budget_bfs
graph undirected
input node source : bool
param budget : int = 6
state dist : int >= 0
init  dist = if source then 0 else inf
view  best = min over neighbors u -- v : dist[u] + 1
transition dist = unknown(dist, best)
reference  dist = if best <= budget then min(dist, best) else dist
rounds n - 1 until fixpoint
output dist
sample graph path nodes 4..7
sample source one_hot
"""


def test_student_exact_in_training_but_wrong_at_4x_is_named_with_a_small_instance() -> None:
    spec = load_spec_text(HOP_BUDGET)
    res = compile_student(spec, PlantedTeacher(spec), CompileConfig(seed=0, verify_graphs=(8, 6, 2), **FAST))
    rows = res.report["verification"]["reference"]
    assert rows[0]["node_exact"] == 1.0  # exact at the training size: only a larger scale shows it
    assert not res.faithful
    cx = res.report["verification"]["counterexample"]
    assert cx["scale"] == 4 and cx["output"] == "dist"
    assert cx["nodes"] < cx["found_in"]["nodes"] and cx["nodes"] <= 12
    assert any("smallest failing instance" in p and f"{cx['nodes']} nodes" in p for p in res.problems)
    assert "NOT FAITHFUL" in render_text(res.report)
    # the instance is real: the student and the reference differ on it, where the report says
    g = graph_from_json(cx["graph"])
    st, rf = res.student.run(g).outputs["dist"], run_reference(spec, g).outputs["dist"]
    assert not bool(exact_equal(st[cx["node"]], rf[cx["node"]]))


def test_wilson_interval_covers_the_rate_and_matches_a_known_value() -> None:
    lo, hi = wilson(10, 100)
    assert lo == pytest.approx(0.0552, abs=1e-4) and hi == pytest.approx(0.1744, abs=1e-4)  # textbook value
    n = noise_of(0, 50)
    assert n.rate == 0.0 and n.lo == 0.0 and 0.05 < n.hi < 0.08


@pytest.mark.parametrize("kw, needle", [
    (dict(method="lrm"), "--method"), (dict(beam=0), "--beam"), (dict(fidelity=1.5), "--fidelity"),
    (dict(faithfulness="lax"), "faithfulness"), (dict(max_noise=0.9), "--max-noise"),
    (dict(verify_scales=(1, 4), verify_graphs=(8,)), "verify_scales"), (dict(seed=-1), "--seed"),
    (dict(tau=float("nan")), "--tau"),
])
def test_config_refuses_bad_values_with_the_parameter_named(kw: dict, needle: str) -> None:
    with pytest.raises(UserError, match=needle):
        CompileConfig(**kw)


def test_seed_streams_are_distinct_and_stable() -> None:
    cfg = CompileConfig(seed=5)
    seeds = [cfg.stream(s) for s in ("sample", "dataset", "held_out")] + [cfg.stream("scale", k) for k in (1, 4)]
    assert len(set(seeds)) == len(seeds)
    assert seeds == [CompileConfig(seed=5).stream(s) for s in ("sample", "dataset", "held_out")] + \
        [CompileConfig(seed=5).stream("scale", k) for k in (1, 4)]
    assert CompileConfig(seed=6).stream("sample") != seeds[0]
