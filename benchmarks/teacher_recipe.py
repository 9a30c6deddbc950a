"""Issue 14 item 5: the aligned teacher's default recipe for real-valued states, measured.

    python benchmarks/teacher_recipe.py [--epochs 15] [--samples 200] [--hidden 64]

Trains the aligned teacher on ``benchmarks/hop_budget.dp`` (hop-budget shortest paths, a real-valued
state) twice with the same seed and budget: with the old defaults (``decoder="wide"``,
``value_weight=1``) and with the defaults ``TeacherConfig`` now picks from the spec's state types
(embedding decoder, value weight 100), then prints each one's accuracy against the reference executor
on 200 fresh graphs. Single-threaded.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--save", default=None, help="directory to save each teacher checkpoint in")
    ap.add_argument("--only", choices=["old", "new"], default=None, help="run one of the two variants")
    ap.add_argument("--spec", default=str(ROOT / "benchmarks" / "hop_budget.dp"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from dpdsl.api import load_spec
    from dpdsl.teachers.config import TeacherConfig
    from dpdsl.teachers.train import evaluate_teacher, train_teacher

    spec = load_spec(args.spec)
    base = dict(hidden=args.hidden, epochs=args.epochs, samples=args.samples, seed=args.seed, lr=args.lr)
    rows = {}
    variants = {"old": ("old defaults (wide, value weight 1)", {"decoder": "wide", "value_weight": 1.0}),
                "new": ("state-type defaults", {})}
    for key, (label, extra) in variants.items():
        if args.only not in (None, key):
            continue
        cfg = TeacherConfig(**base, **extra)
        teacher, metrics = train_teacher(spec, cfg, progress=False)
        acc = evaluate_teacher(teacher, spec, graphs=200, seed=1000)
        if args.save:
            from dpdsl.teachers.checkpoint import save_teacher

            save_teacher(teacher, Path(args.save) / f"{spec.name}.{key}.safetensors", metrics, overwrite=True)
        rows[label] = {"config": cfg.resolved(spec).to_json(), "node_acc": round(acc["node_acc"], 4),
                       "graph_acc": round(acc["graph_acc"], 4), "train_seconds": metrics["train_seconds"]}
        print(f"{label:40} node {acc['node_acc']:.4f}  graph {acc['graph_acc']:.4f}  "
              f"({metrics['train_seconds']:.0f} s)", flush=True)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
