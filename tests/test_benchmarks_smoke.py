"""Smoke test of the issue-5 benchmark scripts and the walkthrough: each runs with ``--quick`` and prints
its markdown table. The scripts need the shipped teachers; without them the test is skipped (set
``DPDSL_SMOKE_TEACHER=planted`` to smoke-test against the synthetic planted teacher instead).

The five scripts run concurrently (each is a separate process that mostly waits on torch start-up and
small compiles), so the whole test stays well under a minute on two cores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEACHER = os.environ.get("DPDSL_SMOKE_TEACHER", "shipped")


def _need_teachers() -> None:
    if TEACHER == "planted":
        return
    pytest.importorskip("dpdsl.teachers.checkpoint")
    missing = [p for p in ("bellman_ford.safetensors", "bfs_distance.safetensors")
               if not (ROOT / "teachers" / p).exists()]
    if missing:
        pytest.skip(f"shipped teachers absent: {', '.join(missing)}")


def test_scripts_run_quick_and_print_tables(tmp_path: Path) -> None:
    _need_teachers()
    py = sys.executable
    tflag = ["--teacher", TEACHER]
    jobs = {
        "clrs": [py, "benchmarks/clrs_protocol.py", "--quick", *tflag],
        "baselines": [py, "benchmarks/baselines.py", "--quick", *tflag],
        "speed": [py, "benchmarks/speed.py", "--quick", "--no-memory", *tflag],
        "paper": [py, "benchmarks/paper_setting.py", "--quick", *tflag],
        "walkthrough": [py, "examples/walkthrough/walkthrough.py", "--quick", "--out", str(tmp_path / "wt"),
                        *tflag],
    }
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    procs = {k: subprocess.Popen([*cmd, "--threads", "1"], cwd=ROOT, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env) for k, cmd in jobs.items()}
    outs = {k: p.communicate(timeout=300) for k, p in procs.items()}
    for k, p in procs.items():
        assert p.returncode == 0, f"{k} failed:\n{outs[k][1][-3000:]}"
    expect = {"clrs": "| spec | model | pointer acc.", "baselines": "| spec | model | fidelity %",
              "speed": "| nodes | edges | dpdsl student", "paper": "| spec | teacher | distillation acc.",
              "walkthrough": "| model | n=16 |"}
    for k, head in expect.items():
        assert head in outs[k][0], f"{k} printed no table:\n{outs[k][0][-2000:]}"
        if k != "walkthrough":
            assert "command: `python " in outs[k][0]
    assert "literature, not run here" in outs["clrs"][0]
    assert "0.911" in outs["paper"][0]
    wt = tmp_path / "wt"
    for f in ("accuracy_vs_size.png", "tree.png", "tree.txt", "student/lrh_map.png", "student/student.json"):
        assert (wt / f).stat().st_size > 0, f
    assert json.loads((wt / "summary.json").read_text())["rules"]
    assert time.perf_counter() - t0 < 120


def test_speed_memory_child_reports_peak() -> None:
    """The per-measurement subprocess of speed.py (hand-written DP: needs no teacher or student)."""
    out = subprocess.run([sys.executable, "benchmarks/speed.py", "--mem-solver", "hand", "--mem-nodes", "2000",
                          "--mem-edges", "200000", "--threads", "1", "--student", "unused"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    d = json.loads(out.stdout.strip().splitlines()[-1])
    assert d["peak_bytes"] > 200_000 * 8  # at least one float64 per edge was live during the solve


def test_hand_frontier_baseline_equals_the_hand_loop() -> None:
    """The hand-written frontier loop that the families table uses as a floor computes the hand DP's
    dist and parent bit for bit: ER graphs dense and sparse enough to leave nodes unreachable (its sparse
    and dense rounds both run) and a grid (thousands of sparse rounds)."""
    code = (
        "import sys, torch\n"
        "sys.path.insert(0, 'benchmarks')\n"
        "from speed import grid_digraph, hand_dp, hand_frontier, random_digraph\n"
        "graphs = [random_digraph(3000, 30000, 1), random_digraph(3000, 2500, 2), grid_digraph(40, 3)]\n"
        "for g in graphs:\n"
        "    want, got = hand_dp(g), hand_frontier(g)\n"
        "    assert all(torch.equal(a, b) for a, b in zip(want, got)), g.num_nodes\n"
        "    assert torch.isinf(want[0]).any() == (g.num_nodes == 3000 and g.edge_index.shape[1] == 2500)\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
