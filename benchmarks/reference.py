"""Benchmark: the reference executor vs a hand-written torch loop vs scipy Dijkstra (issue 2, "Performance").

Bellman-Ford from ``specs/bellman_ford.dp`` on one random directed graph (default 100k nodes, 1M distinct
edges, uniform [0, 1) weights, one source), run to its fixpoint. Every solver runs in the same process
with the same ``torch.set_num_threads``, best of ``--repeats``; distances are cross-checked before any
time is printed. Ratios are relative to the hand-written ``scatter_reduce_(amin)`` loop, which is the
floor the executor is measured against (target: within 1.5x). The floor gathers with ``index_select``;
the same loop written with ``dist[src]`` is listed too (it is ~1.5x slower on CPU).

    python benchmarks/reference.py [--nodes 100000] [--edges 1000000] [--threads 1] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.csgraph import dijkstra

from dpdsl.api import load_spec, load_spec_text
from dpdsl.execute import run_reference
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR

SPEC = Path(__file__).resolve().parents[1] / "specs" / "bellman_ford.dp"


def random_graph(n: int, m: int, seed: int) -> tuple[Graph, int]:
    """``m`` distinct directed edges without self loops (so scipy's CSR, which sums duplicates, agrees)."""
    if m > n * (n - 1):
        raise SystemExit(f"cannot place {m} distinct edges on {n} nodes")
    rng = np.random.default_rng(seed)
    keys = np.zeros(0, dtype=np.int64)
    while keys.size < m:  # oversample, dedupe, drop loops; one or two passes for sparse graphs
        draw = rng.integers(0, n * n, size=int((m - keys.size) * 1.1) + 16, dtype=np.int64)
        draw = draw[draw // n != draw % n]
        keys = np.unique(np.concatenate([keys, draw]))
    keys = rng.permutation(keys)[:m]
    ei = torch.from_numpy(np.stack([keys // n, keys % n]))
    g = Graph(n, ei.contiguous(), True)
    source = int(rng.integers(n))
    g.node["source"] = torch.zeros(n, dtype=torch.bool)
    g.node["source"][source] = True
    g.edge["w"] = torch.from_numpy(rng.uniform(0.0, 1.0, m))
    return g, source


def hand_loop(g: Graph, source: int, *, fancy: bool = False) -> tuple[torch.Tensor, int]:
    """The floor: relax every edge with one ``scatter_reduce_(amin)`` per round until nothing changes.

    The gather is ``index_select`` (about 4x faster on CPU than ``dist[src]``); ``fancy=True`` writes it
    as ``dist[src]``, the way most hand-written loops do.
    """
    src, dst = g.edge_index[0], g.edge_index[1]
    w = g.edge["w"]
    dist = torch.full((g.num_nodes,), math.inf, dtype=torch.float64)
    dist[source] = 0.0
    rounds = 0
    for _ in range(g.num_nodes - 1):
        gathered = dist[src] if fancy else dist.index_select(0, src)
        new = dist.clone().scatter_reduce_(0, dst, gathered + w, reduce="amin", include_self=True)
        if torch.equal(new, dist):
            break
        dist = new
        rounds += 1
    return dist, rounds


def scipy_dijkstra(csr: sp.csr_matrix, source: int) -> np.ndarray:
    return dijkstra(csr, directed=True, indices=source)


def best_of(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float, object]]:
    """Minimum wall time and minimum process CPU time of each solver over ``repeats`` rounds, plus its
    last result.

    Solvers run round-robin (one call each per round, after a warm-up round), so a burst of load from
    other processes hits every solver alike. CPU time is reported too because on a shared machine it
    is far less sensitive to being descheduled than wall time (with one thread it is the work done).
    """
    out = {name: (math.inf, math.inf, fn()) for name, fn in fns.items()}
    for _ in range(repeats):
        for name, fn in fns.items():
            w0, c0 = time.perf_counter(), time.process_time()
            res = fn()
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            out[name] = (min(out[name][0], wall), min(out[name][1], cpu), res)
    return out


def dist_only(spec: SpecIR) -> SpecIR:
    """The same spec without the ``parent`` output, to separate the predecessor pass from the DP."""
    text = "\n".join(line for line in spec.source.splitlines() if not line.startswith("output parent"))
    return load_spec_text(text, "bellman_ford_dist_only.dp")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--edges", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads for every torch solver")
    ap.add_argument("--repeats", type=int, default=5, help="best of this many timed runs (after a warm-up)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    spec = load_spec(SPEC)
    spec_d = dist_only(spec)
    g, source = random_graph(args.nodes, args.edges, args.seed)
    ei = g.edge_index.numpy()
    csr = sp.csr_matrix((g.edge["w"].numpy(), (ei[0], ei[1])), shape=(g.num_nodes, g.num_nodes))

    timed = best_of({
        "hand": lambda: hand_loop(g, source),
        "hand_fancy": lambda: hand_loop(g, source, fancy=True),
        "ref": lambda: run_reference(spec, g),
        "ref_d": lambda: run_reference(spec_d, g),
        "scipy": lambda: scipy_dijkstra(csr, source),
    }, args.repeats)
    d_hand, rounds_hand = timed["hand"][2]
    res, res_d, d_sp = timed["ref"][2], timed["ref_d"][2], timed["scipy"][2]

    d_ref = res.outputs["dist"]
    assert torch.equal(d_ref, d_hand), "executor and hand-written loop disagree"
    assert torch.equal(timed["hand_fancy"][2][0], d_hand), "the two hand-written loops disagree"
    assert torch.equal(res_d.outputs["dist"], d_hand), "executor (dist only) and hand loop disagree"
    d_sp_t = torch.from_numpy(np.asarray(d_sp, dtype=np.float64))
    assert torch.equal(torch.isinf(d_sp_t), torch.isinf(d_hand)), "reachability differs from scipy"
    fin = torch.isfinite(d_hand)
    max_err = float((d_sp_t[fin] - d_hand[fin]).abs().max()) if fin.any() else 0.0
    assert max_err <= 1e-9, f"distances differ from scipy Dijkstra by {max_err:g}"
    exact = torch.equal(d_sp_t, d_hand)

    print(f"Bellman-Ford to fixpoint: {g.num_nodes} nodes, {g.num_edges} edges, source {source}, "
          f"{int(fin.sum())} reachable, {rounds_hand} relaxing rounds (executor: {int(res.rounds[0])}); "
          f"torch threads {torch.get_num_threads()}, best of {args.repeats}")
    rows = [
        ("hand-written loop (index_select + amin)", "hand"),
        ("hand-written loop (dist[src] + amin)", "hand_fancy"),
        ("dpdsl run_reference (dist only)", "ref_d"),
        ("dpdsl run_reference (dist + parent)", "ref"),
        ("scipy.sparse.csgraph.dijkstra", "scipy"),
    ]
    wall_h, cpu_h, _ = timed["hand"]
    print(f"{'solver':<42} {'wall [ms]':>10} {'ratio':>7} {'cpu [ms]':>10} {'ratio':>7}")
    for label, key in rows:
        wall, cpu, _ = timed[key]
        print(f"{label:<42} {wall * 1e3:>10.1f} {wall / wall_h:>6.2f}x "
              f"{cpu * 1e3:>10.1f} {cpu / cpu_h:>6.2f}x")
    print(f"distances: executor == hand loop exactly; vs scipy max |diff| {max_err:.1e}"
          f"{' (bit-identical)' if exact else ''}")
    ratio = timed["ref"][0] / wall_h
    verdict = "meets" if ratio <= 1.5 else "MISSES"
    print(f"target: executor (dist + parent) within 1.5x of the hand loop (wall): {verdict} ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
