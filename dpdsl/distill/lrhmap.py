"""The LRH map: teacher step x candidate predicate -> held-out 1 - R^2 of a linear probe.

A diagnosis for users (``lrh_map.json`` / ``.png``): where in the teacher's computation each predicate
becomes linearly readable. It does not feed the tree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dpdsl.distill.config import CompileConfig
from dpdsl.distill.dataset import FieldData
from dpdsl.distill.probes import probe_scores
from dpdsl.distill.report import report_number


def lrh_map(data: dict[str, FieldData], cfg: CompileConfig) -> dict[str, Any]:
    """One batched probe solve per teacher step over every field's predicates."""
    names: list[str] = []
    multi = len(data) > 1
    for fname, d in data.items():
        names += [f"{fname}: {p}" if multi else p for p in d.features.predicate_names]
    steps = sorted({int(r) for d in data.values() for r in np.unique(d.rounds)})[: cfg.lrh_map_steps]
    rng = np.random.default_rng(cfg.stream("lrh_map"))
    rows = [sum((_step_scores(d, k, rng, cfg.alpha) for d in data.values()), []) for k in steps]
    return {"steps": steps, "features": names, "scores": [[report_number(x) for x in r] for r in rows]}


def _step_scores(d: FieldData, k: int, rng: np.random.Generator, alpha: float) -> list[float]:
    idx = np.flatnonzero(d.rounds == k)
    if len(idx) < 8 or d.X.shape[1] == 0:
        return [float("nan")] * d.X.shape[1]
    perm = rng.permutation(idx)
    nv = max(2, len(perm) // 4)
    va, tr = np.sort(perm[:nv]), np.sort(perm[nv:])
    sc = probe_scores(d.Phi[tr], d.X[tr].astype(np.float64), d.Phi[va], d.X[va].astype(np.float64), alpha)
    # a predicate constant at this round (e.g. nothing left to improve) has nothing to probe
    const = d.X[idx].all(axis=0) | ~d.X[idx].any(axis=0)
    return [float("nan") if c else float(s) for s, c in zip(sc, const, strict=True)]
