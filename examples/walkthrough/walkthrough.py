"""End-to-end walkthrough: spec -> teacher -> compile -> eval, with the pictures a user wants.

    python examples/walkthrough/walkthrough.py [--spec bellman_ford] [--out out/walkthrough] [--train]

Writes into ``--out``:

* ``student/`` — the compiled student (``student.json``, ``report.txt``, ``lrh_map.png`` ...), exactly
  what ``dpdsl compile`` writes;
* ``accuracy_vs_size.png`` / ``.md`` — accuracy against the reference executor per graph size for the
  student, the teacher and two baselines at equal data (skeleton + MLP transition; CART over all
  predicates without the LRH test), from ``benchmarks/baselines.py``;
* ``tree.txt`` and ``tree.png`` — the distilled transition as rules and as a drawn tree.

The teacher is the shipped checkpoint ``teachers/<spec>.safetensors``; ``--train`` trains a small one
instead (a few minutes on 2 cores) and saves it into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

from _common import QUICK_VERIFY, PlantedTeacher, load, md_table, setup, teacher_path  # noqa: E402
from baselines import cart_all, train_mlp  # noqa: E402

from dpdsl import tree as T  # noqa: E402
from dpdsl.distill.dataset import run_teacher  # noqa: E402
from dpdsl.distill.pipeline import CompileConfig, compile_student  # noqa: E402
from dpdsl.distill.report import render_text, write_student_dir  # noqa: E402
from dpdsl.evaluate import evaluate_model  # noqa: E402
from dpdsl.sampling import sample_graphs  # noqa: E402
from dpdsl.student import FieldTree, Student, dumps_student  # noqa: E402
from dpdsl.tolerances import close  # noqa: E402


def step(title: str) -> None:
    print(f"\n=== {title} " + "=" * max(0, 70 - len(title)), flush=True)


def get_teacher(spec, args: argparse.Namespace, out: Path):
    """The shipped checkpoint, a freshly trained small one (--train), or the planted dev teacher."""
    if args.teacher == "planted":
        print("teacher: planted (synthetic, for development only; numbers are not results)")
        return PlantedTeacher(spec), None
    from dpdsl.teachers.checkpoint import load_teacher

    if args.train:
        from dpdsl.teachers.checkpoint import save_teacher
        from dpdsl.teachers.config import TeacherConfig
        from dpdsl.teachers.train import train_teacher

        cfg = TeacherConfig(hidden=args.hidden, epochs=args.epochs, samples=args.train_samples, seed=args.seed)
        teacher, metrics = train_teacher(spec, cfg, threads=args.threads, progress=False,
                                         log=lambda s: print("  " + s, flush=True))
        path = out / f"{spec.name}.safetensors"
        save_teacher(teacher, path, metrics)
        print(f"trained a hidden-{args.hidden} aligned teacher in {metrics['train_seconds']:.0f} s -> {path}")
        return load_teacher(str(path), spec), path
    path = teacher_path(spec.name)
    if not path.exists():
        raise SystemExit(f"no shipped teacher at {path}; pass --train to train one")
    t = load_teacher(str(path), spec)
    m = getattr(t, "metrics", {}) or {}
    print(f"teacher: {path.relative_to(ROOT)} ({t.arch}, width {t.width}, "
          f"{sum(p.numel() for p in t.net.parameters()):,} parameters; "
          f"validation node accuracy {m.get('val_node_acc', float('nan')):.4f})")
    return t, path


def draw_tree(student: Student, path: Path) -> None:
    """Each field's tree as boxes: splits (predicates) in blue, leaves (selected terms) in green."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fields = list(student.fields.items())
    widths = [max(1, T.size(ft.tree)) for _, ft in fields]
    fig, axes = plt.subplots(1, len(fields), figsize=(max(5.0, 3.2 * sum(widths)), 1.8 + 1.4 * max(
        T.depth(ft.tree) for _, ft in fields)), squeeze=False)
    for ax, (name, ft) in zip(axes[0], fields, strict=True):
        _draw_field(ax, name, ft)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _draw_field(ax: Any, name: str, ft: FieldTree) -> None:
    """One field's tree: leaves get consecutive x positions, a split sits above its children."""
    preds, terms = ft.features.predicate_names, ft.features.term_names
    xs: list[float] = []

    def place(t: T.Tree, d: int) -> float:
        if isinstance(t, T.Leaf):
            x = float(len(xs))
            xs.append(x)
            ax.text(x, -d, terms[t.cls], ha="center", va="center", fontsize=12,
                    bbox={"boxstyle": "round", "fc": "#d9f2d9", "ec": "#2e7d32"})
            return x
        xt, xf = place(t.if_true, d + 1), place(t.if_false, d + 1)
        x = (xt + xf) / 2
        for xc, lab in ((xt, "true"), (xf, "false")):
            ax.annotate("", (xc, -d - 1 + 0.18), (x, -d - 0.18),
                        arrowprops={"arrowstyle": "->", "color": "#555"})
            ax.text((x + xc) / 2 + (0.08 if xc > x else -0.08), -d - 0.5, lab, fontsize=10,
                    ha="left" if xc > x else "right", color="#555")
        ax.text(x, -d, preds[t.pred] + " ?", ha="center", va="center", fontsize=12,
                bbox={"boxstyle": "round", "fc": "#dbe8f7", "ec": "#1f5fa8"})
        return x

    place(ft.tree, 0)
    depth = T.depth(ft.tree)
    ax.set_xlim(-0.8, max(xs) + 0.8)
    ax.set_ylim(-depth - 0.6, 0.6)
    ax.set_title(f"transition of '{name}' ({T.size(ft.tree)} leaves)", fontsize=12)
    ax.axis("off")


def plot_accuracy(curves: dict[str, list[tuple[int, float]]], path: Path, title: str, train_hi: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # identical curves (everything exact at 100 %) must stay distinguishable: width, dash and marker size differ
    styles = {"dpdsl student": dict(color="#1b7837", marker="o", lw=6, ms=13, alpha=0.45, ls="-"),
              "teacher": dict(color="#2166ac", marker="s", lw=2.2, ms=8, ls="--"),
              "skeleton + MLP (KD)": dict(color="#b2182b", marker="^", lw=2, ms=8, ls="-"),
              "CART, all predicates": dict(color="#e08214", marker="D", lw=1.5, ms=5, ls=":")}
    sizes = sorted({p[0] for pts in curves.values() for p in pts})
    fig, ax = plt.subplots(figsize=(8.6, 4.6))
    lo = min(sizes) / 1.4
    ax.axvspan(lo, train_hi, color="#e6e6e6", zorder=0)
    ax.text((lo * train_hi) ** 0.5, 50, "training sizes", rotation=90, fontsize=10, color="#555", ha="center",
            va="center")
    for label, pts in curves.items():
        st = styles.get(label, dict(color="#555", marker="x", lw=1.5, ms=6, ls="-"))
        ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], label=label, **st)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes)
    ax.set_xticklabels([str(s) for s in sizes])
    ax.set_xlim(lo, max(sizes) * 1.4)
    ax.set_ylim(-3, 103)
    ax.set_xlabel("graph size n (nodes)", fontsize=11)
    ax.set_ylabel("nodes with every output right (%)", fontsize=11)
    ax.set_title(title, fontsize=12)
    ax.grid(alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=10, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="bellman_ford", help="a spec name in specs/")
    ap.add_argument("--out", default="out/walkthrough")
    ap.add_argument("--train", action="store_true", help="train a small teacher instead of the shipped one")
    ap.add_argument("--hidden", type=int, default=64, help="--train: teacher width")
    ap.add_argument("--epochs", type=int, default=10, help="--train: epochs")
    ap.add_argument("--train-samples", type=int, default=400, help="--train: training graphs")
    ap.add_argument("--sizes", default="16,32,64,128,256,512", help="eval graph sizes")
    ap.add_argument("--graphs", type=int, default=8, help="eval graphs per size")
    ap.add_argument("--samples", type=int, default=256, help="distillation graphs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--teacher", choices=["shipped", "planted"], default="shipped")
    ap.add_argument("--quick", action="store_true", help="tiny settings for the smoke test")
    args = ap.parse_args(argv)
    if args.quick:
        args.sizes, args.graphs, args.samples, args.epochs, args.train_samples = "16,32", 2, 24, 1, 40
    setup(args.threads, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    step(f"1. spec: specs/{args.spec}.dp")
    spec = load(args.spec)
    for name, st in spec.states.items():
        print(f"state {name} : {st.type.kind}; transition {name} = unknown({', '.join(st.args)})")
    for name, v in spec.views.items():
        print(f"view {name}: {v.agg.agg} over {v.agg.relation}")

    step("2. teacher")
    teacher, tpath = get_teacher(spec, args, out)

    step("3. compile (distil the teacher into a tree student)")
    cfg = CompileConfig(seed=args.seed, samples=args.samples,
                        **(QUICK_VERIFY if args.quick else {}))
    t0 = time.perf_counter()
    res = compile_student(spec, teacher, cfg, teacher_path=str(tpath) if tpath else None)
    print(render_text(res.report, res.timings))
    sdir = out / "student"
    if sdir.exists():
        shutil.rmtree(sdir)
    sdir.mkdir()
    write_student_dir(sdir, dumps_student(res.student.to_json()), res.report, res.timings, res.lrh_map,
                      f"LRH map: {spec.name} / {teacher.arch} teacher")
    print(f"compiled in {time.perf_counter() - t0:.1f} s -> {sdir}/ (student.json, report.txt, lrh_map.png)")

    step("4. baselines at equal data (same graphs, same teacher run)")
    run = run_teacher(spec, teacher, sample_graphs(spec, cfg.samples, cfg.seed))
    mlp = train_mlp(spec, run, hidden=64, epochs=2 if args.quick else 100, batch=512, lr=3e-3, seed=args.seed,
                    max_samples=cfg.max_samples)
    cart = cart_all(spec, run, cfg)
    print(f"skeleton + MLP transition: {mlp.params} parameters; CART over all predicates: "
          + "; ".join(f"{k} = {v}" for k, v in cart.rules().items()).replace("\n", " "))

    step("5. eval: accuracy against the reference executor per graph size")
    sizes = [int(s) for s in args.sizes.split(",")]

    def trun(b):
        with torch.no_grad():
            return teacher.run(b).outputs

    models = {"dpdsl student": lambda b: res.student.run(b).outputs, "teacher": trun,
              "skeleton + MLP (KD)": mlp.run(spec), "CART, all predicates": lambda b: cart.run(b).outputs}
    curves, table = {}, []
    for label, fn in models.items():
        rows = evaluate_model(spec, fn, sizes, graphs=args.graphs, seed=args.seed + 5, match=close)
        curves[label] = [(r["nodes"], r["node_exact"]) for r in rows]
        table.append([label, *[f"{100 * r['node_exact']:.2f}" for r in rows]])
    md = md_table(["model", *[f"n={n}" for n in sizes]], table)
    print(md)
    (out / "accuracy_vs_size.md").write_text(
        f"{spec.name}: nodes with every output right (%), {args.graphs} graphs per size\n\n{md}\n")
    hi = spec.sample.nodes[1] if spec.sample else 16
    plot_accuracy(curves, out / "accuracy_vs_size.png",
                  f"{spec.name}: accuracy vs graph size (trained on n ≤ {hi})", hi)

    step("6. the tree")
    rules = "\n".join(f"{k} = {v}" for k, v in res.student.rules().items())
    print(rules)
    (out / "tree.txt").write_text(rules + "\n")
    draw_tree(res.student, out / "tree.png")
    (out / "summary.json").write_text(json.dumps({"spec": spec.name, "rules": res.student.rules(),
                                                  "faithful": res.faithful, "curves": curves}, indent=2) + "\n")
    print(f"\npictures: {out}/accuracy_vs_size.png, {sdir}/lrh_map.png, {out}/tree.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
