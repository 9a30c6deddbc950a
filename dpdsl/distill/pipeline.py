"""``dpdsl compile``: the distiller as a sequence of typed stages (docs/architecture.md §6).

sample -> teacher run -> state labels -> transition dataset -> LRH probes -> tree -> student -> verify.
Each stage is a function here or in its own module; ``compile_student`` strings them together, times
them, and returns the student with a report. Nothing here reads a ``reference`` transition except the
final verification against the reference executor, which is what it is for.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dpdsl import tree as T
from dpdsl.distill.conjunctions import LRHSearch
from dpdsl.distill.dataset import FieldData, TeacherRun, run_teacher, transition_dataset
from dpdsl.distill.probes import probe_scores
from dpdsl.distill.treefit import CartTreeFitter, DPTreeSelector
from dpdsl.evaluate import score_outputs
from dpdsl.execute import run_reference
from dpdsl.features import FeatureSet, candidate_features
from dpdsl.fsutil import library_versions
from dpdsl.graphs.core import batch_graphs
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs
from dpdsl.student import FieldTree, Student, prune_features
from dpdsl.teachers.contract import Instances, Teacher, fixed_instances
from dpdsl.tolerances import close


@dataclass
class CompileConfig:
    """Every knob of the distiller, explicit (scikit-learn style); ``seed`` fixes everything."""

    method: str = "lrh"  # lrh | cart
    seed: int = 0
    samples: int = 256  # distillation graphs
    beam: int = 16
    max_depth: int = 3
    tau: float = 0.5  # LRH threshold on held-out 1 - R^2
    alpha: float = 1.0  # ridge penalty of the probes
    fidelity: float = 0.99  # required agreement with the teacher on held-out graphs
    max_samples: int = 20000  # transition samples per field kept for probing and tree fitting
    tolerance: float = 0.002  # the DP picks the smallest tree within this agreement of the best
    verify_scales: tuple[int, ...] = (1, 4, 16)
    verify_graphs: tuple[int, ...] = (32, 8, 4)
    lrh_map_steps: int = 16


@dataclass
class CompileResult:
    student: Student
    report: dict[str, Any]  # deterministic for a seed (goes into student.json)
    timings: dict[str, float]
    lrh_map: dict[str, Any]
    faithful: bool
    problems: list[str] = field(default_factory=list)


class _Stages:
    """Times named stages and reports them to an optional progress callback."""

    def __init__(self, progress: Callable[[str], None] | None) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.progress:
            self.progress(name)
        t0 = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t0, 3)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _r(x: float, nd: int = 4) -> float | None:
    """Round for the deterministic report; NaN (nothing to probe) becomes null, inf a large number."""
    if np.isnan(x):
        return None
    return float(round(float(x), nd)) if np.isfinite(x) else 1e9


# --- stage: probes ---------------------------------------------------------------------------------


def lrh_map(spec: SpecIR, run: TeacherRun, data: dict[str, FieldData], cfg: CompileConfig) -> dict[str, Any]:
    """Teacher step x predicate -> held-out 1 - R^2 of a linear probe (one batched solve per step)."""
    names: list[str] = []
    cols: list[tuple[str, int]] = []
    multi = len(data) > 1
    for fname, d in data.items():
        for j, p in enumerate(d.features.predicate_names):
            names.append(f"{fname}: {p}" if multi else p)
            cols.append((fname, j))
    steps = sorted({int(r) for d in data.values() for r in np.unique(d.rounds)})[: cfg.lrh_map_steps]
    rng = np.random.default_rng(cfg.seed + 7)
    rows = []
    for k in steps:
        row = []
        for d in data.values():
            idx = np.flatnonzero(d.rounds == k)
            if len(idx) < 8 or d.X.shape[1] == 0:
                row += [float("nan")] * d.X.shape[1]
                continue
            perm = rng.permutation(idx)
            nv = max(2, len(perm) // 4)
            va, tr = np.sort(perm[:nv]), np.sort(perm[nv:])
            sc = probe_scores(d.Phi[tr], d.X[tr].astype(np.float64), d.Phi[va], d.X[va].astype(np.float64),
                              cfg.alpha)
            # a predicate constant at this round (e.g. nothing left to improve) has nothing to probe
            const = d.X[idx].all(axis=0) | ~d.X[idx].any(axis=0)
            row += [float("nan") if c else float(s) for s, c in zip(sc, const, strict=True)]
        rows.append(row)
    return {"steps": steps, "features": names, "scores": [[_r(x) for x in r] for r in rows]}


# --- stage: tree ------------------------------------------------------------------------------------


@dataclass
class FieldFit:
    tree: T.Tree
    agreement: float
    predicate_scores: np.ndarray  # depth-1 LRH score per predicate (pooled over rounds)
    n_probes: int
    per_round: dict[int, float]


def fit_field(d: FieldData, cfg: CompileConfig) -> FieldFit:
    """LRH search + exact DP selection (default) or CART over LRH-passing predicates."""
    P = d.X.shape[1]
    search = LRHSearch(beam=cfg.beam, max_depth=cfg.max_depth, tau=cfg.tau, alpha=cfg.alpha,
                       random_state=cfg.seed)
    if P:
        search.fit(d.X, d.Phi.astype(np.float64))
        pscores = np.nan_to_num(search.predicate_scores_, nan=np.inf)
        n_probes = search.n_probes_
    else:
        pscores, n_probes = np.zeros(0), 0
    if cfg.method == "cart":
        passing = [int(i) for i in np.flatnonzero(pscores <= cfg.tau)]
        fitter = CartTreeFitter(max_depth=cfg.max_depth, random_state=cfg.seed)
        fitter.fit(d.X, d.E, passing if passing else [])
        tree = fitter.tree_ if passing else _best_leaf(d)
    else:
        # the LRH test: only conjunctions the teacher linearly represents can become tree nodes
        cands = [c for c in search.candidates_ if search.scores_.get(c, 0.0) <= cfg.tau] if P else []
        sel = DPTreeSelector(max_depth=cfg.max_depth, tolerance=cfg.tolerance).fit(d.X, d.E, cands) \
            if P else None
        tree = sel.tree_ if sel is not None else _best_leaf(d)
    tree = T.simplify(tree)
    pred = T.predict(tree, d.X) if P else np.full(d.size, tree.cls if isinstance(tree, T.Leaf) else 0)
    ok = d.E[np.arange(d.size), pred]
    per_round = {int(r): _r(ok[d.rounds == r].mean()) for r in np.unique(d.rounds)}
    return FieldFit(tree, float(ok.mean()), pscores, n_probes, per_round)


def _best_leaf(d: FieldData) -> T.Tree:
    return T.Leaf(int(np.argmax(d.E.sum(axis=0)))) if d.E.shape[1] else T.Leaf(0)


# --- stage: verify ----------------------------------------------------------------------------------


def compile_instances(spec: SpecIR, cfg: CompileConfig) -> Instances:
    """The graphs a compile runs its teacher on, unless the teacher fixes them (recorded traces do)."""
    return Instances(sample_graphs(spec, cfg.samples, cfg.seed),
                     sample_graphs(spec, cfg.verify_graphs[0], cfg.seed + 1001))


def verify(spec: SpecIR, student: Student, teacher: Teacher, cfg: CompileConfig, held: list) -> dict[str, Any]:
    """Fidelity to the teacher at the training size on ``held``; exactness vs the reference at 1x/4x/16x."""
    lo, hi = spec.sample.nodes if spec.sample else (4, 16)
    hb = batch_graphs(held)
    with torch.no_grad():
        tout = teacher.run(hb)
    sres = student.run(hb)
    fid = score_outputs(spec, sres.outputs, tout.outputs, hb, match=close)
    out: dict[str, Any] = {"fidelity": {"nodes": f"{lo}..{hi}", "graphs": len(held),
                                        "node_agreement": fid["node_exact"], "per_output": fid["per_output"]}}
    has_ref = all(st.reference is not None for st in spec.states.values())
    if has_ref:
        # who is wrong where student and teacher disagree: a user must be able to tell an unfaithful
        # student from a faithful one distilled from an imperfect teacher
        ref_held = run_reference(spec, hb).outputs
        t_ok = score_outputs(spec, tout.outputs, ref_held, hb, match=close)
        s_ok = score_outputs(spec, sres.outputs, ref_held, hb)["_ok"]
        dis = ~fid["_ok"]
        n_dis = int(dis.sum())
        out["fidelity"]["teacher_vs_reference"] = t_ok["node_exact"]
        out["fidelity"]["disagreements"] = n_dis
        out["fidelity"]["disagreements_teacher_wrong_student_exact"] = int((dis & ~t_ok["_ok"] & s_ok).sum())
        rows = []
        for scale, count in zip(cfg.verify_scales, cfg.verify_graphs, strict=True):
            gs = sample_graphs(spec, count, cfg.seed + 2000 + scale, nodes=(lo * scale, hi * scale))
            b = batch_graphs(gs)
            ref = run_reference(spec, b)
            st = student.run(b)
            s = score_outputs(spec, st.outputs, ref.outputs, b)
            rows.append({"scale": scale, "nodes": f"{lo * scale}..{hi * scale}", "graphs": count,
                         "node_exact": s["node_exact"], "graph_exact": s["graph_exact"],
                         "per_output": s["per_output"]})
        out["reference"] = rows
    return out


# --- the whole job ----------------------------------------------------------------------------------


def compile_student(spec: SpecIR, teacher: Teacher, cfg: CompileConfig, *, teacher_path: str | None = None,
                    progress: Callable[[str], None] | None = None) -> CompileResult:
    """Distil ``teacher`` into a decision-tree student for ``spec``."""
    torch.manual_seed(cfg.seed)
    st = _Stages(progress)
    with st.stage("sample"):
        inst = fixed_instances(teacher) or compile_instances(spec, cfg)
        graphs = inst.distill
    with st.stage("teacher run"):
        run = run_teacher(spec, teacher, graphs)
    with st.stage("features + dataset"):
        feats: dict[str, FeatureSet] = {f: candidate_features(spec, f) for f in spec.states}
        data = transition_dataset(spec, run, feats, max_samples=cfg.max_samples, seed=cfg.seed)
    with st.stage("probes (LRH map)"):
        lmap = lrh_map(spec, run, data, cfg)
    fits: dict[str, FieldFit] = {}
    with st.stage("probes + tree"):
        for name, d in data.items():
            fits[name] = fit_field(d, cfg)
    with st.stage("student"):
        fields = {}
        for name, f in fits.items():
            fs, tree = prune_features(data[name].features, f.tree)
            fields[name] = FieldTree(fs, tree)
        student = Student(spec, fields)
    with st.stage("verify"):
        ver = verify(spec, student, teacher, cfg, inst.held_out)

    problems: list[str] = []
    round_notes: list[str] = []
    field_reports = {}
    for name, f in fits.items():
        d = data[name]
        names = d.features.predicate_names
        used = sorted({names[i] for i in _used_preds(f.tree)})
        bad = [p for p in used if f.predicate_scores[names.index(p)] > cfg.tau]
        passing = int((f.predicate_scores <= cfg.tau).sum())
        if names and passing == 0:
            best = sorted(zip(f.predicate_scores.tolist(), names, strict=True))[:3]
            problems.append(f"{name}: no candidate predicate passes the LRH test (tau={cfg.tau}); best: "
                            + ", ".join(f"{p} {s:.3f}" for s, p in best))
        if bad:
            problems.append(f"{name}: the tree uses predicates the teacher does not linearly represent: "
                            + ", ".join(f"{p} ({f.predicate_scores[names.index(p)]:.3f})" for p in bad))
        weak = {r: a for r, a in f.per_round.items() if a < cfg.fidelity}
        if weak:  # a diagnosis: it becomes a problem only if the student's fidelity falls short
            round_notes.append(f"{name}: transition agreement with the teacher below {cfg.fidelity} in rounds "
                               + ", ".join(f"{r} ({a:.3f})" for r, a in sorted(weak.items())[:8]))
        field_reports[name] = {
            "rules": fields[name].rules,
            "leaves": T.size(fields[name].tree),
            "depth": T.depth(fields[name].tree),
            "transition_agreement": _r(f.agreement),
            "agreement_by_round": {str(k): v for k, v in sorted(f.per_round.items())},
            "samples": d.size,
            "unexplained_samples": d.unexplained,
            "candidate_predicates": len(names),
            "candidate_terms": len(d.features.terms),
            "predicates_passing_lrh": passing,
            "probes": f.n_probes,
            "lrh_scores": {p: _r(s) for p, s in zip(names, f.predicate_scores.tolist(), strict=True)},
        }
    if run.init_agreement < cfg.fidelity:
        problems.insert(0, f"state labels from the teacher's {run.label_source} agree with the known init at step 0 "
                        f"on only {run.init_agreement:.3f} of nodes: its steps do not line up with DP rounds")
    fid = ver["fidelity"]["node_agreement"]
    if fid < cfg.fidelity:
        problems.append(f"fidelity to the teacher on held-out graphs is {fid:.4f} < {cfg.fidelity}")
        problems += round_notes
    report = {
        "method": cfg.method,
        "teacher": {"arch": teacher.arch, "width": teacher.width, "label_source": run.label_source,
                    "steps": len(run.states) - 1, "init_agreement": _r(run.init_agreement),
                    "notes": run.notes},
        "fields": field_reports,
        "verification": ver,
        "faithful": not problems,
        "problems": problems,
        "notes": [] if fid < cfg.fidelity else round_notes,
    }
    provenance = {
        "teacher_sha256": file_sha256(teacher_path) if teacher_path else None,
        "teacher_arch": teacher.arch,
        "seed": cfg.seed,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.__dict__.items()},
        "distillation_graphs": len(graphs),
        "transition_samples": {k: d.size for k, d in data.items()},
        "versions": library_versions(),
    }
    student.meta = {"provenance": provenance, "report": report}
    with st.stage("certify"):  # z3 proof against the reference (dpdsl verify); report is in meta too
        from dpdsl.certify.prove import certify

        report["certificate"] = certify(student).to_json()
    return CompileResult(student, report, st.timings, lmap, not problems, problems)


def _used_preds(t: T.Tree) -> list[int]:
    if isinstance(t, T.Leaf):
        return []
    return [t.pred, *_used_preds(t.if_true), *_used_preds(t.if_false)]
