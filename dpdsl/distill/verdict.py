"""Is the student faithful? Separate the teacher's *systematic* behaviour from its *noise*.

A teacher that is noisier than the student (an imperfect GNN, say 93 % output accuracy) must not make
the distiller refuse the right rule, and a student that misses part of what the teacher does must not
pass because the rest agrees. The rule (docs/architecture.md §6.6):

* **Unexplained pattern** (fails in both modes): within some leaf of a field's tree, a predicate the
  teacher linearly represents (LRH score <= tau, or the leaf itself) marks a region where the teacher
  prefers another term than the leaf's — switching that region would fix more transition samples than
  it breaks, by more than the selector's ``tolerance`` (so the selector skipped it only for lack of
  depth, size or candidates), and a one-sided binomial test of fixes against breaks (Bonferroni over
  every (leaf, predicate, sign, term) tested) rejects "no preference" at ``PATTERN_ALPHA``.
* **Noise** (noise-aware mode, the default): output fidelity to the teacher below ``fidelity`` is
  allowed when no such pattern exists and the disagreement rate's upper 95 % Wilson bound is at most
  ``max_noise``; the report then says "faithful up to teacher noise ε" with ε and its interval.
* ``strict`` mode keeps the hard gate: fidelity below ``fidelity`` fails, whatever the residual is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom, binomtest

from dpdsl import tree as T
from dpdsl.distill.config import CompileConfig
from dpdsl.distill.dataset import FieldData
from dpdsl.distill.fit import FieldFit
from dpdsl.distill.verify import Verification, describe_counterexample

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

    def describe(self) -> str:
        return (f"{self.field}: where {self.where} the teacher prefers {self.term} to the tree's {self.tree_term} "
                f"({self.fixes} transition samples against {self.breaks}, corrected p = {self.p_value:.1e}): "
                "a represented pattern the tree leaves unexplained")


@dataclass(frozen=True)
class Noise:
    """Disagreement rate between student and teacher outputs with its 95 % Wilson interval."""

    rate: float
    lo: float
    hi: float
    n: int

    def to_json(self) -> dict[str, float | int]:
        return {"rate": round(self.rate, 6), "ci95": [round(self.lo, 6), round(self.hi, 6)], "nodes": self.n}


def wilson(k: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of a binomial proportion ``k / n`` (``(0, 1)`` when ``n == 0``)."""
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    return (0.0 if k == 0 else float(ci.low)), (1.0 if k == n else float(ci.high))


def noise_of(disagree: int, n: int) -> Noise:
    lo, hi = wilson(disagree, n)
    return Noise(disagree / n if n else 0.0, lo, hi, n)


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
        best = (g, Pattern(d.field, where, terms[k], terms[int(arr.value[lf])], a, b, p))
    return best[1] if best else None


@dataclass
class Decision:
    """The verdict with its reasons: ``problems`` make it unfaithful, ``notes`` explain a pass."""

    faithful: bool
    problems: list[str]
    notes: list[str]
    noise: Noise
    patterns: list[Pattern]

    def to_json(self) -> dict[str, object]:
        return {"noise": self.noise.to_json(), "patterns": [p.__dict__ for p in self.patterns]}


def decide(fits: dict[str, FieldFit], data: dict[str, FieldData], ver: Verification, init_agreement: float,
           label_source: str, cfg: CompileConfig) -> Decision:
    """Apply the rule of the module docstring to one compile's fits and verification."""
    problems = _lrh_problems(fits, data, cfg)
    if init_agreement < cfg.fidelity:
        problems.insert(0, f"state labels from the teacher's {label_source} agree with the known init at step 0 "
                        f"on only {init_agreement:.3f} of nodes: its steps do not line up with DP rounds")
    patterns = [p for name, f in fits.items()
                if (p := unexplained_pattern(data[name], f.tree, f.represented(cfg.tau), cfg.tolerance))]
    problems += [p.describe() for p in patterns]
    noise = noise_of(ver.disagreements, ver.nodes)
    fid = ver.report["fidelity"]["node_agreement"]
    rounds = _weak_rounds(fits, cfg)
    notes: list[str] = []
    if fid >= cfg.fidelity:
        notes += rounds
    elif cfg.faithfulness == "strict":
        problems += [f"fidelity to the teacher on held-out graphs is {fid:.4f} < {cfg.fidelity} (strict)", *rounds]
    elif noise.hi > cfg.max_noise:
        problems += [f"fidelity to the teacher on held-out graphs is {fid:.4f} < {cfg.fidelity}, and the "
                     f"disagreement rate's upper 95 % bound {noise.hi:.4f} exceeds max_noise {cfg.max_noise}: "
                     "too many disagreements to call them noise", *rounds]
    elif not patterns:
        notes += [f"faithful up to teacher noise: ε = {noise.rate:.4f} (95 % CI {noise.lo:.4f}–{noise.hi:.4f}) of "
                  f"{noise.n} held-out nodes disagree with the teacher, and no represented predicate explains "
                  "the residual transitions (fidelity below the strict gate "
                  f"{cfg.fidelity}; --faithfulness strict refuses it)", *rounds]
    for row in ver.inexact:
        problems.append(f"not exact against the reference at {row['scale']}x ({row['nodes']} nodes): node exact "
                        f"{row['node_exact']:.4f}, per output "
                        + " ".join(f"{k}={v:.4f}" for k, v in row["per_output"].items()))
    if ver.counterexample:
        problems.append(describe_counterexample(ver.counterexample))
    return Decision(not problems, problems, notes, noise, patterns)


def _lrh_problems(fits: dict[str, FieldFit], data: dict[str, FieldData], cfg: CompileConfig) -> list[str]:
    problems = []
    for name, f in fits.items():
        names = data[name].features.predicate_names
        bad = sorted({names[i] for i in f.used_predicates() if not f.represented(cfg.tau)[i]})
        if names and not f.represented(cfg.tau).any():
            best = sorted(zip(f.predicate_scores.tolist(), names, strict=True))[:3]
            problems.append(f"{name}: no candidate predicate passes the LRH test (tau={cfg.tau}); best: "
                            + ", ".join(f"{p} {s:.3f}" for s, p in best))
        if bad:
            problems.append(f"{name}: the tree uses predicates the teacher does not linearly represent: "
                            + ", ".join(f"{p} ({f.predicate_scores[names.index(p)]:.3f})" for p in bad))
    return problems


def _weak_rounds(fits: dict[str, FieldFit], cfg: CompileConfig) -> list[str]:
    """Rounds whose transition agreement is below the fidelity gate: a diagnosis, not a verdict."""
    out = []
    for name, f in fits.items():
        weak = {r: a for r, a in f.per_round.items() if a is not None and a < cfg.fidelity}
        if weak:
            out.append(f"{name}: transition agreement with the teacher below {cfg.fidelity} in rounds "
                       + ", ".join(f"{r} ({a:.3f})" for r, a in sorted(weak.items())[:8]))
    return out
