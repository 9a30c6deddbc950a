"""Reproduce the shipped teachers from scratch with fixed seeds, and report their accuracy.

    python scripts/train_teachers.py [--jobs 2] [--only bellman_ford,...] [--eval-only]

Writes ``teachers/<spec>.safetensors`` (aligned) for every spec in ``specs/``, plus the transformer
teachers listed in ``TRANSFORMERS``, then ``teachers/results.json`` and the table in
``teachers/README.md``: parameter count, training time, per-node accuracy in distribution (the spec's
sample sizes) and on graphs of exactly 4x and 16x the largest training size. Every job runs
single-threaded in its own process (deterministic for its seed); ``--jobs`` of them at a time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 0
TRANSFORMERS = ("bellman_ford", "reachability")
# (epochs, samples) per job; the defaults suit the 4..16-node sample sections of the shipped specs
ALIGNED = {"epochs": 30, "samples": 400, "lr": 3e-3, "batch_size": 32, "hidden": 128}
TRANSFORMER = {"epochs": 40, "samples": 400, "lr": 1e-3, "batch_size": 32, "hidden": 128, "layers": 6}
# Real-valued specs: the "embedding" decoder (every decision a linear read-out of the embedding, so the
# LRH probes can see it), a 100x value-loss weight (values precise to well inside the 1e-2 tolerance) and
# a longer schedule. The first recipe (wide decoder, 30 epochs, 300-400 graphs) reached 95.4-97.6 % on
# these four, and the Bellman-Ford one's embedding did not carry its transition's decision.
# (The decoder and value weight are now TeacherConfig's defaults for real-valued states.)
REAL_VALUED = {"samples": 600, "epochs": 60}
OVERRIDES: dict[str, dict] = {name: REAL_VALUED for name in
                              ("bellman_ford", "dag_shortest_paths", "mwis_tree", "widest_path")}
# Index-domain specs (issue 10, docs/architecture.md §12): tuples instead of nodes, so a smaller net and
# fewer instances per epoch (a split relation sends n messages into each of n^2 tuples); see
# teachers/README.md for the per-spec recipes
DOMAIN = {"epochs": 4, "samples": 200, "lr": 3e-3, "batch_size": 8, "hidden": 64, "value_weight": 1.0}
DOMAIN_OVERRIDES: dict[str, dict] = {
    # int states: larger batches at the default rate (the recipe above reached 78 % on LCS); 10 epochs x
    # 400 reached 99.5 % but erred systematically on transient states, which the verdict flags as an
    # unexplained represented pattern; 20 x 600 trains them out
    "lcs_length": {"epochs": 20, "samples": 600, "lr": 1e-3, "batch_size": 32},
    # edit distance: 10 x 400 and 20 x 600 (also with the embedding decoder) give the same picture, an
    # exact student and a flagged pattern on transient states the reference never reaches
    "edit_distance": {"epochs": 10, "samples": 400, "lr": 1e-3, "batch_size": 32},
    # 4 epochs x 200 graphs reached 98.3 % per pair but kept a stale dist in ~2 % of later rounds, which
    # taught a default compile (256 graphs) a wrong tree; a longer schedule
    "floyd_warshall": {"epochs": 10, "samples": 300},
    # the real-valued sequence and interval specs: no teacher-forcing noise (their selecting heads take
    # one exact candidate, so free running does not drift; noise of 0.002 x the shared scale, 0.16 for
    # optimal_bst's costs, put every target beyond the candidates' reach: 43 % per tuple, 100 % without),
    # sums of the views' exact channels as candidates where transitions add views (``sum_candidates``),
    # and the exact body channel (matrix-chain's product p[i - 1] * p[k] * p[j]: 61 % before)
    "max_subarray": {"epochs": 20, "samples": 400, "sum_candidates": True, "noise": 0.0},
    "matrix_chain_order": {"epochs": 6, "samples": 400, "noise": 0.0},
    "optimal_bst": {"epochs": 6, "samples": 400, "sum_candidates": True, "noise": 0.0},
}
# evaluation: (label, size multiplier, graphs); None = the spec's own sample sizes
EVALS = (("1x", None, 200), ("4x", 4, 50), ("16x", 16, 10))
EVAL_MAX_STEPS = 64  # extra cap on an aligned teacher's steps at 4x/16x (its round cap would be n-1)
# index domains: a teacher step at 16x (256 nodes: 16M triplet messages per round) is too slow to score
# here; 1x and 4x only, no step cap (an offset recurrence needs n rounds)
DOMAIN_EVALS = (("1x", None, 100), ("4x", 4, 8))


def _job(args: tuple[str, str, bool]) -> dict:
    spec_name, arch, eval_only = args
    import torch

    torch.set_num_threads(1)
    from dpdsl.api import load_spec
    from dpdsl.teachers.checkpoint import load_teacher, save_teacher
    from dpdsl.teachers.config import TeacherConfig
    from dpdsl.teachers.train import evaluate_teacher, train_teacher

    spec = load_spec(ROOT / "specs" / f"{spec_name}.dp")
    suffix = "" if arch == "aligned" else f".{arch}"
    out = ROOT / "teachers" / f"{spec_name}{suffix}.safetensors"
    log = ROOT / "teachers" / "logs" / f"{spec_name}{suffix}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if eval_only:
        teacher = load_teacher(out, spec)
        metrics = dict(teacher.metrics)
    else:
        kw = dict(ALIGNED if arch == "aligned" else TRANSFORMER)
        kw.update(OVERRIDES.get(f"{spec_name}{suffix}", {}))
        if spec.domain.indexed:
            kw = {**DOMAIN, **DOMAIN_OVERRIDES.get(spec_name, {})}
        with log.open("w") as fh:
            teacher, metrics = train_teacher(spec, TeacherConfig(arch=arch, seed=SEED, **kw), progress=False,
                                             log=lambda s: (fh.write(s + "\n"), fh.flush()))
    if hasattr(teacher, "max_steps") and not spec.domain.indexed:
        teacher.max_steps = EVAL_MAX_STEPS
    hi = spec.sample.nodes[1]
    evals = {}
    for label, mult, count in (DOMAIN_EVALS if spec.domain.indexed else EVALS):
        nodes = None if mult is None else (mult * hi, mult * hi)
        evals[label] = evaluate_teacher(teacher, spec, nodes=nodes, graphs=count, seed=1000 + SEED)
    metrics["eval"] = evals
    save_teacher(teacher, out, metrics, overwrite=True)
    return _row(out)


def _row(path: Path) -> dict:
    """A results row from a checkpoint's header (its training and evaluation metrics)."""
    from dpdsl.teachers.checkpoint import checkpoint_info

    h = checkpoint_info(path)
    m = h["metrics"]
    row = {"teacher": path.name, "spec": h["spec_name"], "arch": h["arch"], "params": m["parameters"],
           "train_seconds": m["train_seconds"], "bytes": path.stat().st_size, "seed": h["seed"]}
    for label, r in m["eval"].items():
        row[label] = {k: r.get(k) for k in ("node_acc", "graph_acc", "per_output", "state_acc", "nodes", "graphs")}
    return row


def _table(rows: list[dict]) -> str:
    head = ("| teacher | params | train s | 1x node / graph | 4x node / graph | 16x node / graph |\n"
            "|---|---:|---:|---:|---:|---:|")
    lines = [head]
    for r in rows:
        cells = [f"{100 * r[k]['node_acc']:.2f} / {100 * r[k]['graph_acc']:.1f}" if k in r else "—"
                 for k in ("1x", "4x", "16x")]
        lines.append(f"| {r['teacher']} | {r['params']:,} | {r['train_seconds']:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated teacher names (e.g. bellman_ford.transformer)")
    ap.add_argument("--eval-only", action="store_true", help="re-evaluate existing checkpoints")
    ap.add_argument("--table-only", action="store_true", help="only rebuild the table from checkpoint headers")
    args = ap.parse_args()
    specs = sorted(p.stem for p in (ROOT / "specs").glob("*.dp"))
    jobs = [(s, "aligned") for s in specs] + [(s, "transformer") for s in TRANSFORMERS]
    if args.only:
        want = set(args.only.split(","))
        jobs = [(s, a) for s, a in jobs if (s if a == "aligned" else f"{s}.{a}") in want]
    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")
    if not args.table_only:
        with ctx.Pool(args.jobs) as pool:
            for row in pool.imap_unordered(_job, [(s, a, args.eval_only) for s, a in jobs]):
                print(f"done {row['teacher']}: {row['params']:,} params, {row['train_seconds']:.0f} s, "
                      + " ".join(f"{k} {row[k]['node_acc']:.4f}" for k in ("1x", "4x", "16x") if k in row),
                      flush=True)
    rows = {p.name: _row(p) for p in sorted((ROOT / "teachers").glob("*.safetensors"))}
    (ROOT / "teachers" / "results.json").write_text(json.dumps(rows, indent=1, sort_keys=True) + "\n")
    table = _table(list(rows.values()))
    print(table)
    print(f"total wall time {time.perf_counter() - t0:.0f} s")
    readme = ROOT / "teachers" / "README.md"
    intro = (readme.read_text().split("<!-- table -->")[0] if readme.exists() else "# Shipped teachers\n\n")
    readme.write_text(intro + "<!-- table -->\n" + table + "\n")


if __name__ == "__main__":
    main()
