"""Scale on one box and on Spark (issue 12): Bellman-Ford on 1M nodes / 10M edges, and Spark time per round.

Part 1: a random directed graph (``speed.random_digraph``: distinct edges, U[0, 1) weights, source 0)
is written as a binary ``.npz`` graph file, then Bellman-Ford (``specs/bellman_ford.dp``) runs to its
fixpoint (a) through ``dpdsl run --graph FILE.npz --json`` in a subprocess (wall time including the
start-up, loading and printing 1M results; peak RSS of the child from ``ru_maxrss``), (b) through the
library API (``load_graph`` + ``run_reference``) and (c, d) the hand-written torch loop and scipy's
Dijkstra on the same graph. For (b)-(d) each solver runs in a fresh process that loads the graph first,
resets the kernel's high-water mark and reports the peak *extra* resident memory of the solve
(``VmHWM - VmRSS``, as ``benchmarks/speed.py``).

Part 2: the Spark engine (local[2]) on random graphs with 10k, 100k and 1M edges (10 edges per node):
seconds per round over the first ``--spark-rounds`` rounds (after the initial tables are built), and
whether its outputs equal the torch engine's (run with the same round cap).

    python benchmarks/scale.py [--nodes 1000000 --edges 10000000] [--threads 2] [--spark-edges 10000,100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from _common import command_line, md_table
from speed import _status, hand_dp, random_digraph

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "bellman_ford.dp"
GiB = 1024 ** 3


def child(args: argparse.Namespace) -> int:
    """One solver on the graph file, in this fresh process: {"seconds", "peak_extra_bytes"}."""
    import gc

    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    from dpdsl.api import load_spec
    from dpdsl.execute import run_reference
    from dpdsl.graphs import load_graph

    torch.set_num_threads(args.threads)
    spec = load_spec(SPEC)
    if args.solver == "api":  # the API loads the file itself: its load is part of the measured run
        solve = lambda: run_reference(spec, load_graph(args.file))  # noqa: E731
    else:
        g = load_graph(args.file)
        if args.solver == "hand":
            solve = lambda: hand_dp(g)  # noqa: E731
        else:
            ei = g.edge_index.numpy()
            csr = sp.csr_matrix((g.edge["w"].numpy(), (ei[0], ei[1])), shape=(g.num_nodes, g.num_nodes))
            solve = lambda: dijkstra(csr, directed=True, indices=0, return_predecessors=True)  # noqa: E731
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    before = _status("VmRSS")
    t = time.perf_counter()
    with torch.no_grad():
        out = solve()
    secs = time.perf_counter() - t
    peak = _status("VmHWM") - before
    rounds = int(out.rounds[0]) if args.solver == "api" else None
    dist = {"api": lambda: out.outputs["dist"].numpy(), "scipy": lambda: out[0], "hand": lambda: out[0].numpy()}[
        args.solver]()
    print(json.dumps({"seconds": secs, "peak_extra_bytes": peak, "rounds": rounds,
                      "reached": int(np.isfinite(dist).sum())}))
    return 0


def run_child(file: Path, solver: str, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--child", solver, "--file", str(file), "--threads", str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def cli_run(file: Path, threads: int) -> dict:
    """``dpdsl run`` as a user runs it; peak RSS of the whole child process."""
    env = {"OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "dpdsl", "run", str(SPEC), "--graph", str(file), "--json"],
                          capture_output=True, text=True, env=env)
    secs = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"dpdsl run failed: {proc.stderr.strip()}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {"seconds": secs, "peak_rss_bytes": peak, "rounds": json.loads(proc.stdout)["rounds"]}


def part_one(args: argparse.Namespace, tmp: Path) -> list[str]:
    t = time.perf_counter()
    g = random_digraph(args.nodes, args.edges, args.seed)
    from dpdsl.graphs import save_graph

    file = tmp / "big.npz"
    save_graph(g, file)
    del g
    made = time.perf_counter() - t
    rows = []
    cli = cli_run(file, args.threads)
    rows.append(["dpdsl run --graph big.npz (subprocess, incl. start-up + JSON output)", f"{cli['seconds']:.1f}",
                 f"{cli['peak_rss_bytes'] / GiB:.2f} (whole process)", cli["rounds"], "—"])
    for solver, label in (("api", "library API: load_graph + run_reference"), ("hand", "hand DP (torch)"),
                          ("scipy", "scipy Dijkstra")):
        r = run_child(file, solver, args.threads)
        rows.append([label, f"{r['seconds']:.1f}", f"{r['peak_extra_bytes'] / GiB:.2f}", r["rounds"] or "—",
                     f"{r['reached']:,}"])
    head = (f"Bellman-Ford, {args.nodes:,} nodes / {args.edges:,} edges (random digraph, seed {args.seed}; "
            f"graph built and saved in {made:.0f} s, file {file.stat().st_size / 2**20:.0f} MiB); torch threads "
            f"{args.threads}")
    cols = ["solver", "seconds", "peak memory GiB (extra unless noted)", "rounds", "nodes reached"]
    return [head, "", md_table(cols, rows)]


def part_two(args: argparse.Namespace) -> list[str]:
    from dpdsl import spark_engine as se
    from dpdsl.api import load_spec
    from dpdsl.execute import run_reference

    spec = load_spec(SPEC)
    spark = se.session("local[2]")
    rows = []
    for m in [int(x) for x in args.spark_edges.split(",")]:
        g = random_digraph(m // 10, m, args.seed)
        runner = se.SparkRun(spark, spec, g, se.reference_transitions(spec), max_rounds=args.spark_rounds)
        se.run_spark(spark, spec, g, se.reference_transitions(spec), max_rounds=1)  # sets partitions, warms up
        t = time.perf_counter()
        S, total = runner.initial()
        t_init = time.perf_counter() - t
        times = []
        for k in range(1, min(total, args.spark_rounds) + 1):
            t = time.perf_counter()
            nxt, _ = runner.round(S, k)
            nxt = nxt.cache()
            nxt.where("_chg").count()
            S = nxt.drop("_chg")
            times.append(time.perf_counter() - t)
        got = runner.finish(S, len(times))
        want = run_reference(spec, g, max_rounds=args.spark_rounds)
        t = time.perf_counter()
        run_reference(spec, g, max_rounds=args.spark_rounds)
        torch_round = (time.perf_counter() - t) / max(1, len(times))
        same = all(torch.equal(got.outputs[k].view(torch.int64), want.outputs[k].view(torch.int64))
                   for k in want.outputs)
        rows.append([f"{m:,}", f"{m // 10:,}", f"{t_init:.1f}", f"{sum(times) / len(times):.2f}",
                     f"{torch_round * 1000:.1f}", "yes" if same else "NO"])
    spark.stop()
    head = (f"Spark engine local[2] vs torch, Bellman-Ford reference, first {args.spark_rounds} rounds "
            f"(torch threads {args.threads})")
    return [head, "", md_table(["edges", "nodes", "Spark setup s", "Spark s / round", "torch ms / round",
                                "outputs equal"], rows)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1_000_000)
    ap.add_argument("--edges", type=int, default=10_000_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--spark-edges", default="10000,100000,1000000")
    ap.add_argument("--spark-rounds", type=int, default=3)
    ap.add_argument("--skip", choices=["one", "spark"], default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--file", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.solver = args.child
        return child(args)
    torch.set_num_threads(args.threads)
    out = []
    with tempfile.TemporaryDirectory(prefix="dpdsl-scale-") as tmp:
        if args.skip != "one":
            out += part_one(args, Path(tmp)) + [""]
    if args.skip != "spark":
        out += part_two(args) + [""]
    print("\n".join(out) + f"command: `{command_line()}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
