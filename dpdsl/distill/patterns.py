"""The unexplained-pattern test (docs/architecture.md §6.6): a region the teacher linearly represents
where it systematically prefers another term than the tree's leaf.

Shared by the tree fit (``fit.fit_field`` widens its search while a pattern remains: the selector can
only skip a region for lack of candidates, depth or size) and the verdict (``verdict.decide``: a
pattern left after widening makes the student unfaithful).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import binom

from dpdsl import tree as T
from dpdsl.distill.dataset import FieldData

PATTERN_ALPHA = 1e-3  # family-wise false-alarm rate of the unexplained-pattern test


@dataclass(frozen=True)
class Pattern:
    """A represented region where the teacher systematically prefers another term than the tree."""

    field: str
    where: str  # the leaf's path and the region's predicate, readable
    term: str  # the term the teacher prefers there
    tree_term: str
    fixes: int  # samples the switch would fix
    breaks: int  # samples it would break
    p_value: float  # Bonferroni-corrected
    path: tuple[tuple[int, bool], ...] = field(default=(), compare=False)  # the leaf's (predicate, value) tests

    def to_json(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k != "path"}

    def describe(self) -> str:
        return (f"{self.field}: where {self.where} the teacher prefers {self.term} to the tree's {self.tree_term} "
                f"({self.fixes} transition samples against {self.breaks}, corrected p = {self.p_value:.1e}): "
                "a represented pattern the tree leaves unexplained")


def unexplained_pattern(d: FieldData, tree: T.Tree, represented: np.ndarray, tolerance: float) -> Pattern | None:
    """The strongest significant represented region the tree gets wrong (see the module docstring)."""
    if d.size == 0 or d.E.shape[1] == 0:
        return None
    X = np.asarray(d.X, dtype=bool)
    cols = np.flatnonzero(represented)
    arr = T.to_arrays(tree)
    leaf = T.apply(arr, X) if X.shape[1] else np.zeros(d.size, dtype=np.int64)
    rows = np.arange(d.size)
    ok = d.E[rows, arr.value[leaf]]
    paths = T.leaf_paths(tree)
    # regions: the whole leaf, and the leaf intersected with each represented predicate or its negation
    regions = np.concatenate([np.ones((d.size, 1), bool), X[:, cols], ~X[:, cols]], axis=1)
    labels = [None, *[(int(p), True) for p in cols], *[(int(p), False) for p in cols]]
    n_tests = max(1, len(paths) * regions.shape[1] * d.E.shape[1])
    min_gain = max(1, math.floor(tolerance * d.size) + 1)
    best: tuple[int, Pattern] | None = None
    for lf, path in paths.items():
        m = leaf == lf
        if not m.any():
            continue
        R = regions[m].astype(np.int64)  # [n_l, regions]
        Em, okm = d.E[m], ok[m]
        fixes = R.T @ (Em & ~okm[:, None]).astype(np.int64)  # [regions, K]
        breaks = R.T @ (okm[:, None] & ~Em).astype(np.int64)
        gain = fixes - breaks
        r, k = np.unravel_index(int(np.argmax(gain)), gain.shape)
        g, a, b = int(gain[r, k]), int(fixes[r, k]), int(breaks[r, k])
        if g < min_gain:
            continue
        p = min(1.0, float(binom.sf(a - 1, a + b, 0.5)) * n_tests)
        if p >= PATTERN_ALPHA or (best is not None and best[0] >= g):
            continue
        names, terms = d.features.predicate_names, d.features.term_names
        tests = [f"{names[q]}" if v else f"not ({names[q]})" for q, v in path]
        if labels[r] is not None:
            q, v = labels[r]
            tests.append(names[q] if v else f"not ({names[q]})")
        where = " and ".join(tests) if tests else "every input"
        best = (g, Pattern(d.field, where, terms[k], terms[int(arr.value[lf])], a, b, p,
                               tuple((int(q), bool(v)) for q, v in path)))
    return best[1] if best else None
