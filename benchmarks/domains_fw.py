"""Floyd-Warshall on the pairs domain: the reference executor vs a hand-written chunked min-plus torch
loop, same graph, same fixpoint, threads fixed (docs/architecture.md §12, issue 10). One JSON line per
size and method; each method runs in its own process so its peak RSS is its own.

    PYTHONPATH=. python benchmarks/domains_fw.py 64 128 256 512 [--threads 1] [--repeat 3]

Methods: ``hand`` (min-plus rounds to the fixpoint, chunks of the executor's cap: dist only), ``hand+parent``
(then CLRS's predecessor matrix by a chunked dense argmin over the in-edges), ``reference_dist`` (the
executor on floyd_warshall.dp without its ``parent`` output: the rounds to the fixpoint),
``reference`` (the shipped spec: dist and parent), ``gather_dist`` (``reference_dist`` with the dense
blocks off, the per-message gather lists; only up to ``--gather-upto``). Times are the best of
``--repeat`` runs (each in a fresh process, the methods interleaved) after a warm-up at n = 16, wall
clock and CPU time (``cpu_seconds``: on a shared machine the fairer figure with one thread);
``rss_floor_gib`` is the process after imports and the graph, before any run.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "floyd_warshall.dp"
METHODS = ("hand", "hand+parent", "reference_dist", "reference", "gather_dist")


def graph(n: int, seed: int = 0):
    """CLRS-30's Floyd-Warshall distribution: ER p = 0.5 with self loops, U[0, 1) weights."""
    from dpdsl.graphs.generators import generate_graph, sample_input

    g = generate_graph("er", n, seed, directed=True, p=0.5, loops=1)
    g.edge["w"] = sample_input("uniform", (0, 1), g.num_edges, seed + 1, dtype_kind="real")
    return g


def _rows(n: int) -> int:
    """Rows per chunk of the hand loops: the executor's cap on cells per chunk (the same memory bound;
    at n = 512 it is also ~4x faster than 64 rows, whose 128 MiB blocks miss every cache)."""
    from dpdsl import limits

    return max(1, limits.cap("chunk_messages") // (n * n))


def hand_loop(n: int, ei: torch.Tensor, w: torch.Tensor, rows: int = 0) -> tuple[torch.Tensor, int]:
    """min-plus squaring to the fixpoint, chunked over rows: the loop one would write by hand."""
    rows = rows or _rows(n)
    d = _dense_w(n, ei, w).fill_diagonal_(0.0)  # weights >= 0: a self loop never beats 0
    rounds = 0
    while True:
        new = d.clone()
        for r0 in range(0, n, rows):
            new[r0:r0 + rows] = torch.minimum(new[r0:r0 + rows], (d[r0:r0 + rows, :, None] + d[None]).amin(1))
        rounds += 1
        if torch.equal(new, d):
            return d, rounds
        d = new


def _dense_w(n: int, ei: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """The lightest edge u -> j per pair (inf where none)."""
    W = torch.full((n * n,), float("inf"), dtype=torch.float64)
    W.scatter_reduce_(0, ei[0] * n + ei[1], w.to(torch.float64), reduce="amin", include_self=True)
    return W.view(n, n)


def hand_parent(d: torch.Tensor, ei: torch.Tensor, w: torch.Tensor, rows: int = 0) -> torch.Tensor:
    """CLRS's predecessor: argmin over u -> j of d[i, u] + w[u, j] (first u on ties), i if unreachable."""
    n = d.shape[0]
    rows = rows or _rows(n)
    W = _dense_w(n, ei, w)
    out = torch.empty((n, n), dtype=torch.float64)
    for r0 in range(0, n, rows):
        cand = d[r0:r0 + rows, :, None] + W[None]
        best, arg = cand.min(1)
        i = torch.arange(r0, min(n, r0 + rows), dtype=torch.float64)[:, None]
        out[r0:r0 + rows] = torch.where(best == float("inf"), i, arg.to(torch.float64))
    return out


def _spec(with_parent: bool):
    from dpdsl.api import load_spec_text

    text = SPEC.read_text()
    if not with_parent:
        text = re.sub(r"output parent = .*?\n(?=#|sample)", "", text, flags=re.S)
    return load_spec_text(text, str(SPEC))


def _run(method: str, n: int) -> tuple[dict, dict[str, torch.Tensor]]:
    g = graph(n)
    if method.startswith("hand"):
        d, rounds = hand_loop(n, g.edge_index, g.edge["w"])
        out = {"dist": d}
        if method == "hand+parent":
            out["parent"] = hand_parent(d, g.edge_index, g.edge["w"])
        return {"rounds": rounds}, out
    from dpdsl.domains import engine
    from dpdsl.execute import run_reference

    engine.DENSE = method != "gather_dist"
    res = run_reference(_spec(method == "reference"), g)
    return {"rounds": int(res.rounds[0])}, {k: res.layout.unflatten(v, 0) for k, v in res.outputs.items()}


def child(method: str, n: int, threads: int, save: str) -> None:
    """One method at one size in this process: warm up, time one run, save the tables."""
    torch.set_num_threads(threads)
    graph(n)
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GiB (Linux: KiB)
    _run(method, 16)
    t, cpu = time.perf_counter(), time.process_time()
    info, out = _run(method, n)
    best, cpu = time.perf_counter() - t, time.process_time() - cpu
    np.savez(save, **{k: v.numpy() for k, v in out.items()})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"seconds": round(best, 3), "cpu_seconds": round(cpu, 3), "peak_rss_gib": round(peak, 3),
                      "rss_floor_gib": round(floor, 3), **info}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sizes", nargs="*", type=int, default=[64, 128, 256, 512])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--gather-upto", type=int, default=128)
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "N"))
    ap.add_argument("--save")
    a = ap.parse_args()
    if a.child:
        child(a.child[0], int(a.child[1]), a.threads, a.save)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for n in a.sizes:
            methods = [m for m in METHODS if m != "gather_dist" or n <= a.gather_upto]
            rows: dict[str, dict] = {}
            tables = {}
            for _ in range(a.repeat):  # interleaved, so a shared machine's load drifts over all methods alike
                for m in methods:
                    save = str(Path(tmp) / f"{m}_{n}.npz")
                    proc = subprocess.run([sys.executable, __file__, "--child", m, str(n), "--threads",
                                           str(a.threads), "--save", save], capture_output=True, text=True, check=True)
                    got = json.loads(proc.stdout.strip().splitlines()[-1])
                    old = rows.get(m, got)
                    rows[m] = {**got, "seconds": min(got["seconds"], old["seconds"]),
                               "cpu_seconds": min(got["cpu_seconds"], old["cpu_seconds"]),
                               "peak_rss_gib": max(got["peak_rss_gib"], old["peak_rss_gib"])}
                    tables[m] = np.load(save)
            ref, hand = tables["reference"], tables["hand+parent"]
            print(json.dumps({
                "n": n, "threads": a.threads, **{m: r for m, r in rows.items()},
                "ratio_dist": round(rows["reference_dist"]["seconds"] / rows["hand"]["seconds"], 2),
                "ratio_with_parent": round(rows["reference"]["seconds"] / rows["hand+parent"]["seconds"], 2),
                "cpu_ratio_dist": round(rows["reference_dist"]["cpu_seconds"] / rows["hand"]["cpu_seconds"], 2),
                "cpu_ratio_with_parent": round(rows["reference"]["cpu_seconds"]
                                               / rows["hand+parent"]["cpu_seconds"], 2),
                "dist_close": bool(np.allclose(ref["dist"], hand["dist"], rtol=1e-12)),
                "parent_equal": bool(np.array_equal(ref["parent"], hand["parent"])),
                "gather_bits_equal": (bool(np.array_equal(tables["gather_dist"]["dist"],
                                                          tables["reference_dist"]["dist"]))
                                      if "gather_dist" in tables else None),
            }), flush=True)


if __name__ == "__main__":
    main()
