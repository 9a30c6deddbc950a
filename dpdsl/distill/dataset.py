"""Stage "teacher run": sample instances, run the teacher, derive per-round state labels and build the
transition dataset ``(local args -> leaf class)`` with the teacher embeddings the probes read.

State labels come from the teacher's per-step state heads when it has them; otherwise from an LRH
*state probe*: a linear probe fitted from the final step's embeddings to the teacher's own outputs and
applied to every step (valid for recurrent, weight-tied teachers; checked against the known init at
step 0 and reported). Teacher step k is aligned with DP round k; the alignment score (agreement of
step 0 with the init) is reported so a misaligned teacher shows up in the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dpdsl.distill.probes import fit_ridge
from dpdsl.domains.units import batch_any
from dpdsl.errors import UserError
from dpdsl.execute import compiler_for, compute_views, evaluate, local_args, make_context
from dpdsl.features import FeatureSet, evaluate_features
from dpdsl.frontend import ast as A
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR
from dpdsl.teachers.contract import Teacher, TeacherOutput
from dpdsl.tolerances import close, round_caps
from dpdsl.types import BOOL


@dataclass
class FieldData:
    """Transition samples of one state field: predicates X, explains E, embeddings Phi, rounds."""

    field: str
    features: FeatureSet
    X: np.ndarray  # bool [S, P]
    E: np.ndarray  # bool [S, K]
    Phi: np.ndarray  # float32 [S, m]
    rounds: np.ndarray  # int [S] DP round of each sample
    unexplained: int  # samples no term explains (the teacher's value matches none)

    @property
    def size(self) -> int:
        return int(self.X.shape[0])


@dataclass
class TeacherRun:
    """The teacher on the distillation graphs: its output plus the state labels derived from it."""

    graphs: list  # graphs, or sequence instances (index domains, §12)
    batch: Any  # their batch (a Graph or a SeqBatch); per-node tensors are per tuple on index domains
    output: TeacherOutput
    states: list[dict[str, torch.Tensor]]
    label_source: str  # "state heads" or "state probe"
    init_agreement: float  # agreement of the step-0 labels with the spec's init
    caps: torch.Tensor  # per-node round cap from the spec's rounds expression
    notes: list[str] = field(default_factory=list)


def run_teacher(spec: SpecIR, teacher: Teacher, graphs: list[Graph]) -> TeacherRun:
    """Run the teacher on a batch and derive per-step state labels (per node, or per tuple)."""
    batch = batch_any(graphs)
    with torch.no_grad():
        out = teacher.run(batch)
    ctx = make_context(spec, batch)
    n = ctx.graph.num_nodes
    try:
        out.check(n)
    except ValueError as err:  # e.g. NaN embeddings: refuse before the probes choke on them
        raise UserError(f"the teacher breaks the contract on the distillation graphs: {err}") from None
    init = {name: _as_kind(evaluate(st.init, ctx), st.type.kind, n)
            for name, st in spec.states.items()}
    caps = round_caps(evaluate(spec.rounds.expr, ctx))
    notes: list[str] = []
    if out.states is not None:
        states, source = out.states, "state heads"
    else:
        states, source = _probe_states(spec, out, notes), "state probe"
    agree = _agreement(init, states[0])
    return TeacherRun(graphs, batch, out, states, source, agree, caps, notes)


def _as_kind(v: torch.Tensor, kind: str, n: int) -> torch.Tensor:
    if v.dim() == 0 or v.shape[0] != n:
        v = v.expand(n)
    return v.to(torch.bool) if kind == BOOL else v.to(torch.float64)


def _agreement(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    hits = [close(b[k], a[k]).to(torch.float64).mean().item() for k in a if k in b]
    return float(np.mean(hits)) if hits else 0.0


def _state_output(spec: SpecIR, name: str) -> str | None:
    for oname, o in spec.outputs.items():
        if isinstance(o.expr, A.Name) and o.expr.kind == "state" and o.expr.name == name:
            return oname
    return None


def _probe_states(spec: SpecIR, out: TeacherOutput, notes: list[str]) -> list[dict[str, torch.Tensor]]:
    """LRH state probe: final-step embeddings -> the teacher's outputs, applied to every step."""
    final = out.embeddings[-1].double().numpy()
    per_step: list[dict[str, torch.Tensor]] = [{} for _ in out.embeddings]
    for name, st in spec.states.items():
        oname = _state_output(spec, name)
        if oname is None:
            raise UserError(f"the teacher has no per-step state heads and state '{name}' is not an output; "
                            "cannot label its rounds")
        y = out.outputs[oname]
        if st.type.kind == BOOL:
            fit = fit_ridge(final, y.double().numpy()[:, None], alpha=1.0)
            for k, h in enumerate(out.embeddings):
                per_step[k][name] = torch.from_numpy(fit.predict(h.double().numpy())[:, 0] > 0.5)
            continue
        yn = y.double()
        pos, neg = torch.isposinf(yn), torch.isneginf(yn)
        fin = torch.isfinite(yn)
        targets = np.stack([pos.double().numpy(), neg.double().numpy()], axis=1)
        cls = fit_ridge(final, targets, alpha=1.0)
        if int(fin.sum()) < 2:
            notes.append(f"state probe for {name}: fewer than 2 finite values")
            val_fit = None
        else:
            val_fit = fit_ridge(final[fin.numpy()], yn[fin].numpy()[:, None], alpha=1.0)
        for k, h in enumerate(out.embeddings):
            hk = h.double().numpy()
            c = cls.predict(hk)
            v = val_fit.predict(hk)[:, 0] if val_fit is not None else np.zeros(hk.shape[0])
            vals = np.where(c[:, 0] > 0.5, math.inf, np.where(c[:, 1] > 0.5, -math.inf, v))
            per_step[k][name] = torch.from_numpy(vals)
    return per_step


def snap(T: torch.Tensor, E: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per row, the value of the explaining term nearest to the teacher's label (the label where none does).

    The teacher's real-valued states are approximate (a source at 0.003 instead of 0); the student's
    terms are exact. Replaying the teacher's *choices* with exact arithmetic keeps that noise out of the
    next round's predicates (``0 < dist`` must not turn true at the source) while every choice stays
    the teacher's.
    """
    gap = torch.where(E, (T - target[:, None]).abs().nan_to_num(0.0), torch.full_like(T, math.inf))
    nearest = T.gather(1, gap.argmin(1, keepdim=True))[:, 0]
    return torch.where(E.any(1), nearest, target)


def transition_dataset(spec: SpecIR, run: TeacherRun, features: dict[str, FeatureSet], *,
                       max_samples: int, seed: int) -> dict[str, FieldData]:
    """Per field: (local args at round t from the labels of round t-1) -> leaf classes at round t.

    Labels of real-valued fields are snapped to the explaining term (``snap``) before they feed the
    next round, so round t's local args are the DP's exact values under the teacher's decisions.
    """
    ctx = make_context(spec, run.batch)
    n = ctx.graph.num_nodes
    steps = len(run.states) - 1
    cols: dict[str, dict[str, list]] = {f: {"X": [], "E": [], "Phi": [], "r": []} for f in spec.states}
    labels = {k: _as_kind(run.states[0][k], st.type.kind, n) for k, st in spec.states.items()}
    compiler = compiler_for(spec)
    views = {name: compiler.compile(v.agg) for name, v in spec.views.items()}  # once, not per round
    for t in range(1, steps + 1):
        active = run.caps >= t
        if not bool(active.any()):
            break
        ctx.state = labels
        compute_views(ctx, views)
        phi = run.output.embeddings[t]
        labels = {}
        for name, st in spec.states.items():
            args = local_args(spec, ctx, name)
            fs = features[name]
            X = evaluate_features(spec, fs.predicates, args, torch.bool)
            T = evaluate_features(spec, fs.terms, args, st.type.dtype())
            target = _as_kind(run.states[t][name], st.type.kind, n)
            E = close(T, target[:, None])
            labels[name] = snap(T, E, target) if target.is_floating_point() and E.shape[1] else target
            c = cols[name]
            c["X"].append(X[active])
            c["E"].append(E[active])
            c["Phi"].append(phi[active])
            c["r"].append(torch.full((int(active.sum()),), t))
    rng = np.random.default_rng(seed)
    out: dict[str, FieldData] = {}
    for name, c in cols.items():
        if not c["X"]:
            raise UserError("the teacher ran no rounds on the distillation graphs; nothing to distil")
        X = torch.cat(c["X"]).numpy()
        E = torch.cat(c["E"]).numpy()
        Phi = torch.cat(c["Phi"]).numpy().astype(np.float32)
        r = torch.cat(c["r"]).numpy()
        if X.shape[0] > max_samples:
            keep = np.sort(rng.choice(X.shape[0], max_samples, replace=False))
            X, E, Phi, r = X[keep], E[keep], Phi[keep], r[keep]
        out[name] = FieldData(name, features[name], X, E, Phi, r, int((~E.any(axis=1)).sum()))
    return out
