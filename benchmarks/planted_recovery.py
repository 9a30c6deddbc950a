"""Boix-Adsera's planted-tree recovery (arXiv 2403.09053) through dpdsl's probe + beam + tree selection.

Per depth r and tree seed: a seeded random depth-r tree over d uniform bits (labels uniform in {0, 1},
simplified), a seeded ReLU MLP teacher trained on it (its held-out accuracy printed), phi = its hidden
activations on fresh probe inputs; then, per beam k, the distiller with the library's defaults:
``LRHSearch`` on (bits, phi) and ``DPTreeSelector`` on the teacher's labels of fresh inputs. A tree is
*recovered* when it computes exactly the planted function (``trees_equivalent``: checked on every input,
not sampled). Also printed: agreement with the teacher on 20,000 fresh inputs, the selector's held-out
verdict, probes as % of all conjunctions of <= r literals (sum_i 2^i C(d, i)), and seconds per fit.

    python benchmarks/planted_recovery.py [--depths 2,3,4,5] [--ks 5,10,20,50] [--trees 5] [--d 100]
        [--alpha A] [--scale-floor F] [--tau-cut T] [--per-parent] [--grow G] [--start-beam B]
        [--rank probe|alternate|regret] [--complete L] [--control]

The default is ``LRHTreeDistiller`` with its defaults (label-aware search: regret beam, two levels of
label completion, the representation test in the verdict); ``--rank probe --complete 0`` is the
probe-only search of issue 15, each of ``--rank`` / ``--complete`` alone measures one idea of issue 13
§1. ``--tau-cut 0.5 --scale-floor 0 --start-beam 0``
(with ``--alpha`` at the relative value of the old absolute 1) approximates the pipeline's selection
before issue 15, and each flag alone measures one fix. ``k`` counts conjunctions kept per depth, as the
paper's does. ``--control`` adds two teachers that do not represent the
planted tree (phi from an untrained random-ReLU net, and from an MLP trained on another tree; labels
from the real teacher): they must come out not faithful (the table prints the representation
test's p-value).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from _common import command_line, md_table, setup
from threadpoolctl import threadpool_limits

from dpdsl.distill import probes
from dpdsl.distill.conjunctions import RANKS, LRHSearch
from dpdsl.distill.planted import MLPTeacher, planted_tree, train_mlp_teacher, uniform_bits
from dpdsl.distill.probes import PROBE_ALPHA, SCALE_FLOOR
from dpdsl.distill.treefit import DPTreeSelector, LRHTreeDistiller, trees_equivalent
from dpdsl.tree import Tree, predict, size


@dataclass
class Case:
    depth: int
    seed: int
    tree: Tree
    teacher: MLPTeacher
    phi_teacher: Any  # what phi is read from (the teacher itself, or a control)
    label: str


def n_conjunctions(d: int, r: int) -> int:
    """All conjunctions of at most r literals over d variables (the paper's 'possible probes')."""
    return sum(2**i * math.comb(d, i) for i in range(r + 1))


def fit(Xp: np.ndarray, Phi: np.ndarray, Xd: np.ndarray, yd: np.ndarray, k: int, r: int,
        args: argparse.Namespace) -> tuple[Tree, int, bool, float]:
    """The library distiller; ``--tau-cut`` reproduces the pipeline's pre-issue-15 absolute 1 - R^2 cut."""
    if args.tau_cut is not None:
        s = LRHSearch(beam=k, max_depth=r, tau=args.tau_cut, alpha=args.alpha, random_state=args.seed,
                      per_parent=args.per_parent).fit(Xp, Phi)
        cands = [c for c in s.candidates_ if s.scores_.get(c, 0.0) <= args.tau_cut]
        sel = DPTreeSelector(max_depth=r, tolerance=0.002, random_state=args.seed).fit(Xd, yd, cands)
        return sel.tree_, s.n_probes_, sel.faithful_, float("nan")
    dist = LRHTreeDistiller(beam=k, max_depth=r, start_beam=args.start_beam or k, alpha=args.alpha,
                            per_parent=args.per_parent, grow=args.grow, random_state=args.seed,
                            rank=args.rank, complete=args.complete).fit(Xp, Phi, Xd, yd)
    return dist.tree_, dist.n_probes_, dist.faithful_, dist.represented_pvalue_


def make_cases(args: argparse.Namespace) -> list[Case]:
    cases = []
    for r in args.depths:
        for s in range(args.trees):
            tree = planted_tree(args.d, r, s)
            t0 = time.perf_counter()
            teacher = train_mlp_teacher(tree, args.d, seed=1000 * r + s)
            print(f"teacher depth {r} tree {s}: {size(tree)} leaves, accuracy {100 * teacher.accuracy:.2f} % "
                  f"after {teacher.epochs} epochs ({time.perf_counter() - t0:.1f} s)", flush=True)
            cases.append(Case(r, s, tree, teacher, teacher, "teacher"))
    return cases


def control_cases(args: argparse.Namespace) -> list[Case]:
    """Teachers that do not represent the tree: phi from random ReLU features / another tree's MLP."""
    out = []
    for r in args.depths:
        tree = planted_tree(args.d, r, 0)
        teacher = train_mlp_teacher(tree, args.d, seed=1000 * r)
        other = planted_tree(args.d, r, 99)
        wrong = train_mlp_teacher(other, args.d, seed=1000 * r + 99)
        torch.manual_seed(r)
        rand = MLPTeacher(train_mlp_teacher(tree, args.d, seed=5, max_epochs=0).net, 2, float("nan"), 0)
        out.append(Case(r, 0, tree, teacher, rand, "control: random ReLU features"))
        out.append(Case(r, 0, tree, teacher, wrong, "control: MLP trained on another tree"))
    return out


def run_case(case: Case, k: int, args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng([args.seed, case.depth, case.seed, 1])
    Xp = uniform_bits(args.probe_samples, args.d, rng)
    Xd = uniform_bits(args.fit_samples, args.d, rng)
    Xt = uniform_bits(20000, args.d, rng)
    Phi = case.phi_teacher.features(Xp)
    t0 = time.perf_counter()
    tree, probes, faithful, rep_p = fit(Xp, Phi, Xd, case.teacher.labels(Xd), k, case.depth, args)
    secs = time.perf_counter() - t0
    agree = float(np.mean(predict(tree, Xt) == case.teacher.labels(Xt)))
    return {"exact": trees_equivalent(tree, case.tree), "agree": agree, "probes": probes,
            "faithful": faithful, "secs": secs, "leaves": size(tree), "rep_p": rep_p}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--depths", default="2,3,4,5")
    ap.add_argument("--ks", default="5,10,20,50")
    ap.add_argument("--trees", type=int, default=5)
    ap.add_argument("--d", type=int, default=100)
    ap.add_argument("--probe-samples", type=int, default=6000, help="inputs for the probes (25 %% held out)")
    ap.add_argument("--fit-samples", type=int, default=4000, help="teacher-labelled inputs for the tree")
    ap.add_argument("--alpha", type=float, default=PROBE_ALPHA, help="relative ridge of the probes")
    ap.add_argument("--scale-floor", type=float, default=SCALE_FLOOR,
                    help="standardisation floor (fraction of the RMS column std; 0 = none, as before issue 15)")
    ap.add_argument("--tau-cut", type=float, default=None,
                    help="absolute 1 - R^2 cut on expansion and DP candidates (pre-issue-15 pipeline: 0.5)")
    ap.add_argument("--per-parent", action="store_true", help="round-robin beam over parents")
    ap.add_argument("--grow", type=int, default=0, help="top-down growth below impure leaves, splits per node")
    ap.add_argument("--start-beam", type=int, default=10, help="iterative widening from here (0: off)")
    ap.add_argument("--rank", default="regret", choices=RANKS,
                    help="beam ranking with labels: probe only, probe and label gain taking turns, regret")
    ap.add_argument("--complete", type=int, default=2, help="levels of label completion (0: off)")
    ap.add_argument("--control", action="store_true", help="also run the two non-representing controls")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    args.depths = [int(x) for x in args.depths.split(",") if x]
    ks = [int(x) for x in args.ks.split(",") if x]
    setup(args.threads, args.seed)
    probes.SCALE_FLOOR = args.scale_floor  # benchmark knob for the before/after of issue 15 (a)
    with threadpool_limits(args.threads):
        cases = make_cases(args)
        rows = []
        for r in args.depths:
            for k in ks:
                res = [run_case(c, k, args) for c in cases if c.depth == r]
                rows.append(summary_row(r, k, res, args))
                print("  ", " | ".join(str(x) for x in rows[-1]), flush=True)
        print(f"\nPlanted recovery, d = {args.d}, {args.trees} trees per depth; {knobs(args)}; "
              f"{args.probe_samples} probe inputs, {args.fit_samples} tree-fit inputs; torch/BLAS threads "
              f"{args.threads}\n")
        print(md_table(["depth", "k", "exact", "mean agreement", "faithful", "probes (mean)",
                        "% of all conjunctions", "s per fit"], rows))
        if args.control:
            crow = []
            for c in control_cases(args):
                for k in ks:
                    x = run_case(c, k, args)
                    crow.append([c.label, c.depth, k, "yes" if x["exact"] else "no", f"{x['agree']:.4f}",
                                 {None: "—", True: "yes", False: "no"}[x["faithful"]], x["leaves"],
                                 f"{x['rep_p']:.3g}"])
            print("\n" + md_table(["control", "depth", "k", "exact", "agreement", "faithful", "leaves",
                                    "represented p"], crow))
    print(f"\ncommand: `{command_line()}`")
    return 0


def knobs(args: argparse.Namespace) -> str:
    return (f"alpha {args.alpha:g} (relative), scale floor {args.scale_floor:g}, tau cut {args.tau_cut}, "
            f"rank {args.rank}, completion {args.complete}, per-parent {args.per_parent}, grow {args.grow}, "
            f"widening from {args.start_beam or 'off'}")


def summary_row(r: int, k: int, res: list[dict[str, Any]], args: argparse.Namespace) -> list[Any]:
    n = len(res)
    faithful = [x["faithful"] for x in res if x["faithful"] is not None]
    probes = float(np.mean([x["probes"] for x in res]))
    return [r, k, f"{sum(x['exact'] for x in res)}/{n}", f"{np.mean([x['agree'] for x in res]):.4f}",
            f"{sum(faithful)}/{n}" if faithful else "—", f"{probes:.0f}",
            f"{100 * probes / n_conjunctions(args.d, r):.4f}", f"{np.mean([x['secs'] for x in res]):.1f}"]


if __name__ == "__main__":
    sys.exit(main())
