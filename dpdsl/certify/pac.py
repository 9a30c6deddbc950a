"""A PAC bound for a student without a reference (docs/certificates.md §6).

The distiller selects a tree ``h`` from a finite class ``H`` (trees of depth ≤ D whose splits test one
of P candidate predicates and whose leaves select one of K candidate terms) by its agreement with the
teacher on m transition samples. If the samples are i.i.d. draws from the teacher's distribution of
transition inputs, Chernoff's bound for each fixed tree and a union bound over ``H`` give, with
probability ≥ 1 − δ, for *every* tree in ``H`` at once (so also for the selected one)::

    kl(ê ‖ ε) ≤ (ln |H| + ln(1/δ)) / m,

where ê is the tree's disagreement on the samples and ε its disagreement on the distribution; ε is
bounded by inverting kl (the largest ε ≥ ê satisfying the inequality). With ê = 0 this is
ε ≤ 1 − δ^{1/m} |H|^{-1/m} ≈ (ln |H| + ln(1/δ)) / m.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


def log_class_size(n_predicates: int, n_terms: int, max_depth: int) -> float:
    """ln |H| for trees of depth ≤ D: N(0) = K, N(d) = K + P · N(d−1)² (a leaf, or a split on one of P
    predicates with two subtrees of depth ≤ d−1). Exact integer arithmetic, then the log."""
    size = max(1, n_terms)
    for _ in range(max_depth):
        size = max(1, n_terms) + n_predicates * size * size
    return math.log(size)


def kl(p: float, q: float) -> float:
    """Bernoulli KL divergence kl(p ‖ q)."""
    def term(a: float, b: float) -> float:
        return 0.0 if a == 0 else (math.inf if b == 0 else a * math.log(a / b))

    return term(p, q) + term(1 - p, 1 - q)


def kl_upper(e_hat: float, budget: float) -> float:
    """The largest ε ≥ ê with kl(ê ‖ ε) ≤ budget (bisection; 1 if none below 1)."""
    lo, hi = e_hat, 1.0
    if kl(e_hat, hi) <= budget:
        return 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if kl(e_hat, mid) <= budget:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass(frozen=True)
class PacBound:
    epsilon: float
    delta: float
    samples: int
    disagreement: float  # ê on the samples
    log_class_size: float
    n_predicates: int
    n_terms: int
    max_depth: int

    def statement(self, field: str) -> str:
        return (f"with probability >= {1 - self.delta:g} the transition of {field} disagrees with the teacher "
                f"on at most {self.epsilon:.2%} of transition inputs from the distillation distribution "
                f"(m = {self.samples} samples, sample disagreement {self.disagreement:.2%}, "
                f"ln|H| = {self.log_class_size:.1f} for depth <= {self.max_depth} trees over "
                f"{self.n_predicates} predicates and {self.n_terms} terms; samples assumed i.i.d.)")


def pac_bound(agreement: float, samples: int, n_predicates: int, n_terms: int, max_depth: int,
              delta: float = 0.05) -> PacBound:
    e_hat = max(0.0, 1.0 - agreement)
    ln_h = log_class_size(n_predicates, n_terms, max_depth)
    eps = kl_upper(e_hat, (ln_h + math.log(1 / delta)) / max(1, samples))
    return PacBound(eps, delta, samples, e_hat, ln_h, n_predicates, n_terms, max_depth)


def pac_from_report(meta: dict[str, Any], field: str, delta: float = 0.05) -> PacBound | None:
    """The bound from a student's recorded compile report, or None if it lacks the numbers."""
    try:
        f = meta["report"]["fields"][field]
        depth = int(meta["provenance"]["config"]["max_depth"])
        return pac_bound(float(f["transition_agreement"]), int(f["samples"]), int(f["candidate_predicates"]),
                         int(f["candidate_terms"]), depth, delta)
    except (KeyError, TypeError, ValueError):
        return None
