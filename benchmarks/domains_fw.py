"""Floyd-Warshall on the pairs domain: the reference executor vs a hand-written chunked min-plus torch
loop, same graph, same fixpoint (docs/architecture.md §12). Prints one JSON line per size.

    PYTHONPATH=. python benchmarks/domains_fw.py 256 512
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import torch

from dpdsl.api import load_spec
from dpdsl.execute import run_reference
from dpdsl.graphs.generators import generate_graph, sample_input

torch.set_num_threads(2)
SPEC = Path(__file__).resolve().parents[1] / "specs" / "floyd_warshall.dp"


def hand_loop(n: int, ei: torch.Tensor, w: torch.Tensor, rows: int = 64) -> tuple[torch.Tensor, int]:
    """min-plus squaring to the fixpoint, chunked over rows: the loop one would write by hand."""
    d = torch.full((n, n), float("inf"), dtype=torch.float64)
    d.diagonal().zero_()
    d[ei[0], ei[1]] = torch.minimum(d[ei[0], ei[1]], w)
    rounds = 0
    while True:
        new = d.clone()
        for r0 in range(0, n, rows):
            new[r0:r0 + rows] = torch.minimum(new[r0:r0 + rows], (d[r0:r0 + rows, :, None] + d[None]).amin(1))
        rounds += 1
        if torch.equal(new, d):
            return d, rounds
        d = new


def main(sizes: list[int]) -> None:
    spec = load_spec(SPEC)
    for n in sizes:
        g = generate_graph("er", n, 0, directed=True, p=0.5, loops=1)
        g.edge["w"] = sample_input("uniform", (0, 1), g.num_edges, 1, dtype_kind="real")
        t = time.perf_counter()
        res = run_reference(spec, g)
        t_ref = time.perf_counter() - t
        t = time.perf_counter()
        d, hand_rounds = hand_loop(n, g.edge_index, g.edge["w"])
        t_hand = time.perf_counter() - t
        same = torch.allclose(res.layout.unflatten(res.outputs["dist"], 0), d, rtol=1e-12)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # GiB (Linux: KiB)
        print(json.dumps({"n": n, "reference_s": round(t_ref, 2), "hand_loop_s": round(t_hand, 2),
                          "ratio": round(t_ref / t_hand, 2), "rounds": int(res.rounds[0]),
                          "hand_rounds": hand_rounds, "dist_equal": same, "peak_rss_gib": round(peak, 2)}),
              flush=True)


if __name__ == "__main__":
    main([int(x) for x in sys.argv[1:]] or [128, 256])
