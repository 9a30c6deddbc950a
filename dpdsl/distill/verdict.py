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

from dataclasses import dataclass

from scipy.stats import binomtest

from dpdsl.distill.config import CompileConfig
from dpdsl.distill.dataset import FieldData
from dpdsl.distill.fit import FieldFit
from dpdsl.distill.patterns import Pattern, unexplained_pattern
from dpdsl.distill.verify import Verification, describe_counterexample


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


@dataclass
class Decision:
    """The verdict with its reasons: ``problems`` make it unfaithful, ``notes`` explain a pass."""

    faithful: bool
    problems: list[str]
    notes: list[str]
    noise: Noise
    patterns: list[Pattern]

    def to_json(self) -> dict[str, object]:
        return {"noise": self.noise.to_json(), "patterns": [p.to_json() for p in self.patterns]}


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
