"""Recorded traces (issue 13 §3) and adapter outputs from decoded states (issue 14 item 6)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from clihelp import SPECS, TEACHERS, assert_user_error, cli
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from dpdsl.api import load_spec
from dpdsl.distill.pipeline import CompileConfig, compile_instances, compile_student
from dpdsl.graphs import batch_graphs
from dpdsl.sampling import sample_graphs
from dpdsl.student import dumps_student
from dpdsl.teachers.checkpoint import load_teacher
from dpdsl.teachers.load import open_teacher, teacher_kind
from dpdsl.teachers.traces import (
    SplitTrace,
    TraceTeacher,
    record_traces,
    save_traces,
    split_from_instances,
    split_from_output,
    unbatch_graphs,
)

CFG = CompileConfig(samples=48, verify_graphs=(8, 4, 2))


@pytest.fixture(scope="module")
def bf():
    return load_spec(SPECS / "bellman_ford.dp")


@pytest.fixture(scope="module")
def live(bf):
    return load_teacher(TEACHERS / "bellman_ford.safetensors", bf)


@pytest.fixture(scope="module")
def traces(bf, live, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("traces") / "bf.traces.safetensors"
    return record_traces(bf, live, compile_instances(bf, CFG), path, producer={"framework": "torch"})


def test_traces_give_the_live_teachers_student_bit_for_bit(bf, live, traces) -> None:
    teacher = open_teacher(traces, bf)
    assert isinstance(teacher, TraceTeacher) and teacher_kind(traces) == "traces"
    a = compile_student(bf, live, CFG)
    b = compile_student(bf, teacher, CFG)
    assert dumps_student(a.student.to_json()) == dumps_student(b.student.to_json())
    assert b.report["teacher"]["arch"] == "aligned" and b.report["verification"] == a.report["verification"]


def test_trace_teacher_runs_any_batch_of_its_instances(bf, live, traces) -> None:
    """A shuffled subset of recorded instances gives the live teacher's values on them (up to float
    rounding: a batch of other graphs may round differently); a new graph is refused in one line."""
    teacher = open_teacher(traces, bf)
    graphs = teacher.instances.held_out[::-1][:3] + teacher.instances.distill[5:7]
    got, want = teacher.run(batch_graphs(graphs)), live.run(batch_graphs(graphs))
    for name in bf.outputs:
        assert torch.allclose(got.outputs[name], want.outputs[name], rtol=1e-5, atol=1e-5)
    assert len(got.embeddings) == len(want.embeddings)
    for g_e, w_e in zip(got.embeddings, want.embeddings, strict=True):
        assert torch.allclose(g_e, w_e, atol=1e-5)
    new = sample_graphs(bf, 1, 999)[0]
    with pytest.raises(Exception, match="not one of the recorded instances"):
        teacher.run(new)


def test_unbatch_inverts_batch(bf) -> None:
    gs = sample_graphs(bf, 5, 3)
    back = unbatch_graphs(batch_graphs(gs))
    for a, b in zip(gs, back, strict=True):
        assert a.num_nodes == b.num_nodes and torch.equal(a.edge_index, b.edge_index)
        assert all(torch.equal(a.edge[k], b.edge[k]) for k in a.edge)


def _oracle_parent(g, dist: list[float]) -> list[int]:
    """The spec's parent written plainly: argmin over in-edges of dist[u] + w, ties to the smallest id."""
    out = []
    src, dst = g.edge_index.tolist()
    w = g.edge["w"].tolist()
    for v in range(g.num_nodes):
        if bool(g.node["source"][v]) or math.isinf(dist[v]):
            out.append(v)
            continue
        cands = [(dist[u] + w[e], u) for e, (u, x) in enumerate(zip(src, dst, strict=True)) if x == v]
        out.append(min(cands)[1] if cands else v)
    return out


def test_outputs_are_computed_from_recorded_states(bf, live, tmp_path: Path) -> None:
    """Traces with per-step states and no outputs: ``parent`` comes from the spec's own expression on the
    final decoded state, per instance (graph-local ids)."""
    inst = compile_instances(bf, CompileConfig(samples=6, verify_graphs=(3, 4, 2)))
    splits = {}
    for name, gs in (("distill", inst.distill), ("held_out", inst.held_out)):
        sp = split_from_output(gs, live.run(batch_graphs(gs)))
        splits[name] = SplitTrace(sp.graphs, sp.embeddings, sp.steps, None, sp.states)
    path = save_traces(tmp_path / "s.safetensors", bf, splits, arch="aligned")
    teacher = open_teacher(path, bf)
    out = teacher.run(batch_graphs(inst.distill))
    final = out.states[-1]["dist"]
    assert torch.equal(out.outputs["dist"], final)
    off = 0
    for g in inst.distill:
        d = final[off:off + g.num_nodes].tolist()
        assert out.outputs["parent"][off:off + g.num_nodes].long().tolist() == _oracle_parent(g, d)
        off += g.num_nodes


def test_per_instance_arrays_of_different_lengths(bf, tmp_path: Path) -> None:
    """``split_from_instances`` pads numpy arrays; each instance then runs with its own step count."""
    rng = np.random.default_rng(0)
    inst = compile_instances(bf, CompileConfig(samples=3, verify_graphs=(2, 4, 2)))

    def arrays(gs):
        embs = [rng.standard_normal((k + 2, g.num_nodes, 5)).astype(np.float32) for k, g in enumerate(gs)]
        outs = [{"dist": np.zeros(g.num_nodes), "parent": np.arange(g.num_nodes, dtype=np.float64)} for g in gs]
        return embs, outs

    splits = {}
    kept = {}
    for name, gs in (("distill", inst.distill), ("held_out", inst.held_out)):
        embs, outs = arrays(gs)
        kept[name] = embs
        splits[name] = split_from_instances(gs, embs, outs)
    path = save_traces(tmp_path / "p.safetensors", bf, splits, arch="jax:demo", producer={"framework": "jax"})
    teacher = open_teacher(path, bf)
    assert teacher.arch == "jax:demo" and teacher.width == 5
    for g, e in zip(inst.distill, kept["distill"], strict=True):
        out = teacher.run(g)
        assert len(out.embeddings) == e.shape[0]
        assert all(np.array_equal(h.numpy(), e[k]) for k, h in enumerate(out.embeddings))


def _rewrite(src: Path, dst: Path, edit) -> Path:
    data = src.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(json.loads(data[8:8 + n])["__metadata__"]["dpdsl"])
    tensors = st_load(data)
    edit(tensors, header)
    dst.write_bytes(st_save(tensors, metadata={"dpdsl": json.dumps(header)}))
    return dst


def _nan(t, h):
    t["distill.embeddings"][0, 0, 0] = float("nan")


def _pad(t, h):
    t["held_out.steps"][0] = 0


def _edge(t, h):
    t["distill.edge_index"][1, 0] = 99


def _drop_out(t, h):
    for split in ("distill", "held_out"):
        del t[f"{split}.outputs.parent"], t[f"{split}.states.dist"]


@pytest.mark.parametrize("edit, needle", [
    (lambda t, h: h.update(spec_hash="0" * 64), "was recorded on spec"),
    (lambda t, h: h["splits"].pop("held_out"), "lack the 'held_out' split"),
    (lambda t, h: h.update(format_version=7), "trace format version 7"),
    (_nan, "NaN/infinity"),
    (_pad, "change after its last step"),
    (_edge, "instance 0"),
    (_drop_out, "no output 'parent' and no per-step states"),
    (lambda t, h: t.update(extra=torch.zeros(1)), "unexpected tensor 'extra'"),
    (lambda t, h: t.update({"distill.steps": t["distill.steps"].int()}), "tensor 'distill.steps' is int32"),
    (lambda t, h: t.update({"distill.outputs.dist": t["distill.outputs.dist"].float()}), "distill.outputs.dist"),
    (lambda t, h: t.pop("distill.node.source"), "lack tensor 'distill.node.source'"),
])
def test_malformed_traces_exit_2_with_one_line(traces, tmp_path: Path, edit, needle: str) -> None:
    bad = _rewrite(traces, tmp_path / "bad.safetensors", edit)
    r = cli("teacher", "eval", bad, "--spec", SPECS / "bellman_ford.dp")
    assert_user_error(r, needle)


def test_truncated_traces_exit_2(traces, tmp_path: Path) -> None:
    data = traces.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    assert_user_error(cli("teacher", "eval", tmp_path / "cut.safetensors", "--spec", SPECS / "bellman_ford.dp"),
                      "truncated")


def test_cli_compile_and_eval_with_traces(traces, tmp_path: Path) -> None:
    r = cli("teacher", "eval", traces, "--spec", SPECS / "bellman_ford.dp")
    assert r.code == 0 and "the recorded instances" in r.out, r.err
    out = tmp_path / "student"
    r = cli("compile", SPECS / "bellman_ford.dp", "--teacher", traces, "--samples", "48", "-o", out,
            "--keep-unfaithful", "--quiet")
    assert r.code in (0, 1) and (out / "student.json").is_file(), r.err
    prov = json.loads((out / "student.json").read_text())["provenance"]
    assert prov["distillation_graphs"] == 48
    assert_user_error(cli("eval", out, "--teacher", traces, "--sizes", "8"), "recorded traces", "needs a model")
