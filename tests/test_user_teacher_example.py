"""Smoke test of examples/user_teacher with a tiny budget: trajectories -> a plain torch-geometric model ->
adapter (outputs computed from its decoded states) -> compile; and the same model recorded as traces."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from clihelp import ROOT, SPECS, cli
from test_traces import _oracle_parent

from dpdsl.api import load_spec
from dpdsl.graphs import batch_graphs
from dpdsl.sampling import sample_graphs
from dpdsl.teachers.load import open_teacher

EXAMPLE = ROOT / "examples" / "user_teacher"


def test_trajectory_example_trains_wraps_compiles_and_records(tmp_path: Path) -> None:
    sys.path.insert(0, str(EXAMPLE))
    try:
        import record_traces
        import train_trajectories

        res = train_trajectories.main(["--epochs", "2", "--graphs", "16", "--compile-samples", "16",
                                       "--out", str(tmp_path)])
        traces = record_traces.main(["--weights", str(tmp_path / "bf_gnn.safetensors"), "--samples", "8",
                                     "-o", str(tmp_path / "bf.traces.safetensors")])
    finally:
        sys.path.remove(str(EXAMPLE))
    assert res["rules"] and isinstance(res["faithful"], bool)  # a tiny budget: the pipeline runs, no claim on quality
    spec = load_spec(SPECS / "bellman_ford.dp")
    teacher = open_teacher(tmp_path / "bf_teacher.json", spec, trust_code=True)
    gs = sample_graphs(spec, 5, 4)
    out = teacher.run(batch_graphs(gs))  # the model returns no 'parent': dpdsl computes it from its states
    final, off = out.states[-1]["dist"], 0
    for g in gs:
        got = out.outputs["parent"][off:off + g.num_nodes].long().tolist()
        assert got == _oracle_parent(g, final[off:off + g.num_nodes].tolist())
        off += g.num_nodes
    assert torch.equal(out.outputs["dist"], final)
    # one loader for compile, teacher eval and eval --teacher: the adapter JSON and the traces
    r = cli("teacher", "eval", tmp_path / "bf_teacher.json", "--spec", SPECS / "bellman_ford.dp", "--trust-code",
            "--graphs", "4")
    assert r.code == 0 and "parent" in r.out, r.err
    r = cli("teacher", "eval", traces, "--spec", SPECS / "bellman_ford.dp")
    assert r.code == 0 and "40 graphs (the recorded instances)" in r.out, (r.out, r.err)
