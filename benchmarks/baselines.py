"""Baselines at equal data and equal teacher (issue 5, item 3): what the DP-aligned tree student is worth.

For every spec with a shipped aligned teacher, one teacher run on the same seeded distillation graphs
feeds four models:

(a) ``skeleton + MLP`` — the usual knowledge-distillation route: the DP-aligned skeleton
    (``dpdsl.execute.run_skeleton``) whose transition is an MLP over the unknown's arguments (numbers
    as value/scale plus +inf/-inf flags; booleans as 0/1), trained by Adam to regress the teacher's
    per-step states (a finite/+inf/-inf class head and a value head, integers rounded);
(b) ``CART, all predicates`` — scikit-learn CART over *every* candidate predicate, no LRH selection,
    cost-complexity pruned (``dpdsl.distill.treefit.CartTreeFitter``), leaves selecting terms;
(c) the teacher itself;
(d) the dpdsl student (LRH probes + exact tree DP, ``compile_student``).

Metrics: fidelity to the teacher on held-out training-size graphs; accuracy against the reference
executor at 4x, 16x and 64x the largest training size (n = 64, 256, 1024 for specs trained at 4..16);
distillation/training time; parameters or tree leaves. A node counts as correct when every output
matches: discrete values exactly, reals within 2 % (``dpdsl.tolerances.close``), infinities exactly. At 64x a
dense family is thinned (same family, smaller p) when a graph would exceed ``--max-edges`` edges; the
table says so.

    python benchmarks/baselines.py [--specs bellman_ford,...] [--graphs 16,4,2] [--seed 0] [--threads 2]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from _common import (
    QUICK_VERIFY,
    LoadedTeacher,
    command_line,
    compile_lrh,
    load,
    load_teacher_for,
    md_table,
    pct,
    setup,
    shipped_specs,
    teacher_outputs,
)
from torch import nn

from dpdsl import tree as T
from dpdsl.distill.dataset import TeacherRun, run_teacher, transition_dataset
from dpdsl.distill.pipeline import CompileConfig
from dpdsl.distill.treefit import CartTreeFitter
from dpdsl.evaluate import score_outputs
from dpdsl.execute import evaluate, local_args, make_context, run_reference, run_skeleton
from dpdsl.features import candidate_features
from dpdsl.graphs.core import Graph, batch_graphs
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs
from dpdsl.student import FieldTree, Student, prune_features
from dpdsl.tolerances import close
from dpdsl.types import BOOL

Outputs = dict[str, torch.Tensor]
RunFn = Callable[[Graph], Outputs]

# --- (a) the skeleton with an MLP transition ---------------------------------------------------------


def _encode(x: torch.Tensor, scale: float) -> torch.Tensor:
    """[value/scale (0 if infinite), is +inf, is -inf] for numbers; [0/1] for booleans."""
    if x.dtype == torch.bool:
        return x.to(torch.float32).unsqueeze(1)
    x = x.to(torch.float64)
    fin = torch.isfinite(x)
    v = torch.where(fin, x, torch.zeros_like(x)) / scale
    return torch.stack([v, x == math.inf, x == -math.inf], 1).to(torch.float32)


class MLPTransition(nn.Module):
    """An MLP standing in for one unknown transition; numeric outputs get a class and a value head."""

    def __init__(self, args: list[str], scales: dict[str, float], out_bool: bool, out_int: bool,
                 out_scale: float, hidden: int, bool_args: set[str]) -> None:
        super().__init__()
        self.args, self.scales = args, scales
        self.out_bool, self.out_int, self.out_scale = out_bool, out_int, out_scale
        width = sum(1 if a in bool_args else 3 for a in args)
        self.net = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 1 if out_bool else 4))

    def features(self, args: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([_encode(args[a], self.scales[a]) for a in self.args], 1)

    def decode(self, out: torch.Tensor) -> torch.Tensor:
        if self.out_bool:
            return out[:, 0] > 0
        cls = out[:, :3].argmax(1)
        val = out[:, 3].to(torch.float64) * self.out_scale
        if self.out_int:
            val = val.round()
        val = torch.where(cls == 1, torch.full_like(val, math.inf), val)
        return torch.where(cls == 2, torch.full_like(val, -math.inf), val)

    @torch.no_grad()
    def __call__(self, **args: torch.Tensor) -> torch.Tensor:  # the Transition signature
        return self.decode(self.net(self.features(args)))

    def targets(self, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(class 0 finite / 1 +inf / 2 -inf, scaled finite value or 0, finite mask) for ``loss``."""
        if self.out_bool:
            z = y.to(torch.float32)
            return torch.zeros_like(y, dtype=torch.long), z, torch.ones_like(z)
        cls = (y == math.inf).long() + 2 * (y == -math.inf).long()
        fin = torch.isfinite(y)
        val = torch.where(fin, y, torch.zeros_like(y)) / self.out_scale
        return cls, val.to(torch.float32), fin.to(torch.float32)

    def loss(self, x: torch.Tensor, cls: torch.Tensor, val: torch.Tensor, fin: torch.Tensor) -> torch.Tensor:
        """Mask-free (no boolean indexing: slow in multi-threaded CPU torch) CE + MSE on finite values."""
        out = self.net(x)
        if self.out_bool:
            return nn.functional.binary_cross_entropy_with_logits(out[:, 0], val)
        mse = (((out[:, 3] - val) ** 2) * fin).sum() / fin.sum().clamp(min=1.0)
        return nn.functional.cross_entropy(out[:, :3], cls) + mse


def transition_pairs(spec: SpecIR, run: TeacherRun, field: str) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """(unknown's arguments at round t from the teacher's round t-1 states, teacher's state at round t),
    over all rounds and nodes still within their round cap — the same pairs the tree student sees."""
    ctx = make_context(spec, run.batch)
    args: dict[str, list[torch.Tensor]] = {a: [] for a in spec.states[field].args}
    ys: list[torch.Tensor] = []
    kinds = {k: st.type.kind for k, st in spec.states.items()}
    for t in range(1, len(run.states)):
        active = run.caps >= t
        if not bool(active.any()):
            break
        ctx.state = {k: _as(run.states[t - 1][k], kinds[k]) for k in spec.states}
        ctx.views = {k: evaluate(v.agg, ctx) for k, v in spec.views.items()}
        for a, v in local_args(spec, ctx, field).items():
            args[a].append(v[active])
        ys.append(_as(run.states[t][field], kinds[field])[active])
    return {a: torch.cat(v) for a, v in args.items()}, torch.cat(ys)


def _as(v: torch.Tensor, kind: str) -> torch.Tensor:
    return v.to(torch.bool) if kind == BOOL else v.to(torch.float64)


def _scale(v: torch.Tensor) -> float:
    if v.dtype == torch.bool:
        return 1.0
    f = v[torch.isfinite(v)]
    return max(1.0, float(f.abs().max())) if f.numel() else 1.0


@dataclass
class MLPBaseline:
    transitions: dict[str, MLPTransition]
    params: int

    def run(self, spec: SpecIR) -> RunFn:
        return lambda b: run_skeleton(spec, b, self.transitions).outputs


def train_mlp(spec: SpecIR, run: TeacherRun, *, hidden: int, epochs: int, batch: int, lr: float, seed: int,
              max_samples: int) -> MLPBaseline:
    """Fit one MLP per state field to the teacher's per-step transitions (Adam, cosine decay).

    Trains single-threaded whatever ``--threads`` says: mini-batches of a 5k-parameter MLP gain nothing
    from intra-op threads, and on a shared 2-core machine two threads made it ~20x slower (measured).
    """
    old_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _train_mlp(spec, run, hidden=hidden, epochs=epochs, batch=batch, lr=lr, seed=seed,
                          max_samples=max_samples)
    finally:
        torch.set_num_threads(old_threads)


def _train_mlp(spec: SpecIR, run: TeacherRun, *, hidden: int, epochs: int, batch: int, lr: float, seed: int,
               max_samples: int) -> MLPBaseline:
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, MLPTransition] = {}
    for field, st in spec.states.items():
        args, y = transition_pairs(spec, run, field)
        if y.shape[0] > max_samples:
            keep = torch.randperm(y.shape[0], generator=gen)[:max_samples].sort().values
            args, y = {a: v.index_select(0, keep) for a, v in args.items()}, y.index_select(0, keep)
        bool_args = {a for a, v in args.items() if v.dtype == torch.bool}
        m = MLPTransition(list(args), {a: _scale(v) for a, v in args.items()}, st.type.kind == BOOL,
                          st.type.kind in ("int", "node"), _scale(y), hidden, bool_args)
        x = m.features(args)
        cls, val, fin = m.targets(y)
        opt = torch.optim.Adam(m.parameters(), lr=lr)
        steps = epochs * math.ceil(len(y) / batch)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
        m.train()
        for _ in range(epochs):
            perm = torch.randperm(len(y), generator=gen)
            for s in range(0, len(y), batch):
                idx = perm[s:s + batch]
                sel = [t.index_select(0, idx) for t in (x, cls, val, fin)]
                loss = m.loss(*sel)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        m.eval()
        out[field] = m
    return MLPBaseline(out, sum(p.numel() for m in out.values() for p in m.parameters()))


# --- (b) CART over all candidate predicates ---------------------------------------------------------


def cart_all(spec: SpecIR, run: TeacherRun, cfg: CompileConfig) -> Student:
    """CART over every candidate predicate (no LRH test), on the distiller's own transition dataset."""
    feats = {f: candidate_features(spec, f) for f in spec.states}
    data = transition_dataset(spec, run, feats, max_samples=cfg.max_samples, seed=cfg.seed)
    fields = {}
    for name, d in data.items():
        fit = CartTreeFitter(max_depth=cfg.max_depth, random_state=cfg.seed).fit(d.X, d.E, None)
        fs, tree = prune_features(d.features, T.simplify(fit.tree_))
        fields[name] = FieldTree(fs, tree)
    return Student(spec, fields)


# --- evaluation ---------------------------------------------------------------------------------------


def node_accuracy(spec: SpecIR, out: Outputs, ref: Outputs, b: Graph) -> float:
    """All outputs of a node right: discrete exactly, reals within 2 %, infinities exactly."""
    return float(score_outputs(spec, out, ref, b, match=close)["node_exact"])


def scale_graphs(spec: SpecIR, scale: int, count: int, seed: int, max_edges: int) -> tuple[list[Graph], str]:
    """``count`` graphs with n = scale x the largest training size, thinning a dense family if needed."""
    assert spec.sample is not None
    n = spec.sample.nodes[1] * scale
    fam, fargs = spec.sample.family, dict(spec.sample.family_args)
    note = ""
    if "p" in fargs:
        pairs = n * (n - 1) / (1 if fam == "er" and spec.graph_kind != "undirected" else 2)
        if pairs * fargs["p"] > max_edges:
            p_new = max_edges / pairs
            note = f"{fam} p {fargs['p']:g} -> {p_new:.3g} at n={n} (edge cap {max_edges})"
            fargs["p"] = p_new
    gs = sample_graphs(spec, count, seed + 3000 + scale, nodes=(n, n), family=fam, family_args=fargs)
    return gs, note


@dataclass
class Row:
    spec: str
    model: str
    fidelity: float | None
    acc: list[float | None]
    seconds: float | None
    size: str


def evaluate_models(spec: SpecIR, models: dict[str, RunFn], teacher_run: RunFn, *, seed: int,
                    fid_graphs: int, scales: list[int], counts: list[int], max_edges: int,
                    notes: list[str]) -> dict[str, tuple[float | None, list[float | None]]]:
    """Fidelity to the teacher (held-out training-size graphs) and reference accuracy per scale."""
    held = batch_graphs(sample_graphs(spec, fid_graphs, seed + 1001))
    tref = teacher_run(held)
    res: dict[str, tuple[float | None, list[float | None]]] = {}
    for name, fn in models.items():
        res[name] = (node_accuracy(spec, fn(held), tref, held), [])
    for scale, count in zip(scales, counts, strict=True):
        gs, note = scale_graphs(spec, scale, count, seed, max_edges)
        if note:
            notes.append(f"{spec.name}: {note}")
        b = batch_graphs(gs)
        ref = run_reference(spec, b).outputs
        for name, fn in models.items():
            res[name][1].append(node_accuracy(spec, fn(b), ref, b))
    return res


def run_spec(name: str, args: argparse.Namespace, notes: list[str]) -> list[Row]:
    spec = load(name)
    lt: LoadedTeacher = load_teacher_for(spec, args.teacher)
    cfg = CompileConfig(seed=args.seed, samples=args.samples, max_depth=args.max_depth,
                        **(QUICK_VERIFY if args.quick else {}))
    # (d) the dpdsl student: the whole compile (sample, teacher run, probes, tree, verify), timed
    res, t_lrh = compile_lrh(spec, lt, cfg)
    # the same data for the baselines: same graphs, same teacher run
    t0 = time.perf_counter()
    graphs = sample_graphs(spec, cfg.samples, cfg.seed)
    run = run_teacher(spec, lt.teacher, graphs)
    t_data = time.perf_counter() - t0
    t0 = time.perf_counter()
    mlp = train_mlp(spec, run, hidden=args.mlp_hidden, epochs=args.mlp_epochs, batch=512, lr=3e-3,
                    seed=args.seed, max_samples=cfg.max_samples)
    t_mlp = time.perf_counter() - t0 + t_data
    t0 = time.perf_counter()
    cart = cart_all(spec, run, cfg)
    t_cart = time.perf_counter() - t0 + t_data

    def trun(b: Graph) -> Outputs:
        return teacher_outputs(lt.teacher, b)

    models: dict[str, RunFn] = {
        "(a) skeleton + MLP transition (KD)": mlp.run(spec),
        "(b) CART, all predicates (no LRH)": lambda b: cart.run(b).outputs,
        f"(c) teacher: {lt.label}": trun,
        "(d) dpdsl student (LRH + tree DP)": lambda b: res.student.run(b).outputs,
    }
    ev = evaluate_models(spec, models, trun, seed=args.seed, fid_graphs=args.fid_graphs, scales=args.scales,
                         counts=args.counts, max_edges=args.max_edges, notes=notes)
    leaves_c = sum(cart.size().values())
    leaves_d = sum(res.student.size().values())
    t_teacher = f"{lt.train_seconds:.0f} (training)" if lt.train_seconds is not None else "—"
    meta = {
        "(a)": (t_mlp, f"{mlp.params} params"),
        "(b)": (t_cart, f"{leaves_c} leaves"),
        "(c)": (None, f"{lt.params} params"),
        "(d)": (t_lrh, f"{leaves_d} leaves"),
    }
    rows = []
    for model, (fid, accs) in ev.items():
        secs, size = meta[model[:3]]
        rows.append(Row(name, model, None if model.startswith("(c)") else fid, accs,
                        secs if secs is not None else None, size))
        if model.startswith("(c)"):
            rows[-1].size += f"; {t_teacher}"
    rules_c = _rules(cart)
    rules_d = _rules(res.student)
    notes.append(f"{name}: (b) `{rules_c}`; (d) `{rules_d}`"
                 + ("" if res.faithful else f" — compile reported: {'; '.join(res.problems)[:300]}"))
    return rows


def _rules(s: Student) -> str:
    return " ; ".join(f"{k} = {v}" for k, v in s.rules().items()).replace("\n", " ")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--specs", default="", help="comma-separated (default: every spec with a shipped teacher)")
    ap.add_argument("--scales", default="4,16,64", help="test sizes as multiples of the largest training n")
    ap.add_argument("--graphs", default="16,4,2", help="test graphs per scale")
    ap.add_argument("--fid-graphs", type=int, default=32, help="held-out training-size graphs for fidelity")
    ap.add_argument("--max-edges", type=int, default=300_000, help="thin dense families above this")
    ap.add_argument("--samples", type=int, default=256, help="distillation graphs (all models)")
    ap.add_argument("--max-depth", type=int, default=3)
    ap.add_argument("--mlp-hidden", type=int, default=64)
    ap.add_argument("--mlp-epochs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--teacher", choices=["shipped", "planted"], default="shipped")
    ap.add_argument("--quick", action="store_true", help="tiny settings for the smoke test")
    args = ap.parse_args(argv)
    args.scales = [int(s) for s in args.scales.split(",")]
    args.counts = [int(s) for s in args.graphs.split(",")]
    if args.quick:
        args.scales, args.counts, args.samples, args.fid_graphs, args.mlp_epochs = [2], [2], 24, 4, 2
        args.specs = args.specs or "bellman_ford"
    if len(args.scales) != len(args.counts):
        ap.error("--scales and --graphs need the same number of entries")
    setup(args.threads, args.seed)
    names = [s for s in args.specs.split(",") if s] or (
        shipped_specs() if args.teacher == "shipped" else ["bellman_ford"])
    if not names:
        print("no shipped teachers in teachers/; nothing to compare (use --teacher planted to try)")
        return 1
    notes: list[str] = []
    rows: list[Row] = []
    for name in names:
        t0 = time.perf_counter()
        rows += run_spec(name, args, notes)
        print(f"[{name} done in {time.perf_counter() - t0:.0f} s]", file=sys.stderr, flush=True)

    print(f"Baselines at equal data and teacher: {args.samples} distillation graphs (seed {args.seed}); "
          f"fidelity on {args.fid_graphs} held-out training-size graphs; accuracy vs the reference at "
          + ", ".join(f"{s}x ({c} graphs)" for s, c in zip(args.scales, args.counts, strict=True))
          + f" the largest training n; torch threads {torch.get_num_threads()}\n")
    heads = ["spec", "model", "fidelity %"] + [f"acc {s}x %" for s in args.scales] + ["distil/train s", "size"]
    table = [[r.spec, r.model, pct(r.fidelity), *[pct(a) for a in r.acc],
              "—" if r.seconds is None else f"{r.seconds:.1f}", r.size] for r in rows]
    print(md_table(heads, table))
    print("\nnode correct = every output right (discrete exact; reals within 2 %; ±inf exact). Times: (a)/(b) "
          "= shared sampling + teacher run + their own fit; (d) = the whole `compile` incl. verification.")
    for n in dict.fromkeys(notes):
        print(f"- {n}")
    print(f"\ncommand: `{command_line()}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
