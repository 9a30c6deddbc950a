"""The named tolerances and the round cap: every equality rule in dpdsl, in one place.

- ``EXACT_RTOL``/``EXACT_ATOL``: "exact" agreement of two DP results (students, executors, emitted
  skeletons against the reference). Equal infinities and NaNs match; finite floats may differ only in
  summation order.
- ``TEACHER_MATCH_RTOL``: a teacher's approximate real-valued state "is" a term of the vocabulary when
  within this (relative, absolute below 1). Used to label and snap distillation data.
- ``TEACHER_EVAL_RTOL``: accuracy figures of teachers against the reference.
- ``TEACHER_MOVED_RTOL``: a teacher's decoded real state "moved" between two steps.
- Fixpoints are exact: a state is unchanged only when bit-identical (NaN equal to NaN).

``round_caps`` is the one computation of how many rounds each node may run (docs/architecture.md §2).
"""

from __future__ import annotations

import torch

EXACT_RTOL = 1e-9
EXACT_ATOL = 1e-12
TEACHER_MATCH_RTOL = 0.02
TEACHER_EVAL_RTOL = 1e-2
TEACHER_MOVED_RTOL = 1e-3


TEACHER_EVAL_DOC = "real: |err| <= 1e-2 * max(1, |y|), ±inf must match exactly; bool/int/node/enum: exact"


def close(a: torch.Tensor, b: torch.Tensor, rtol: float = TEACHER_MATCH_RTOL) -> torch.Tensor:
    """``|a - b| <= rtol * max(1, |b|)`` for finite ``b``, else equal (same infinity; NaN never matches).
    Bools compare exactly."""
    if a.dtype == torch.bool or b.dtype == torch.bool:
        return a.to(torch.bool) == b.to(torch.bool)
    a, b = a.to(torch.float64), b.to(torch.float64)
    fin = torch.isfinite(b)
    near = (a - b).abs() <= rtol * b.abs().clamp(min=1.0)
    return torch.where(fin, near & torch.isfinite(a), a == b)


def teacher_correct(pred: torch.Tensor, true: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-node correctness of a teacher's value of a field of ``kind`` (see ``TEACHER_EVAL_DOC``)."""
    if kind == "real" or pred.dtype == torch.bool or true.dtype == torch.bool:
        return close(pred, true, TEACHER_EVAL_RTOL)
    return pred.to(torch.float64) == true.to(torch.float64)


def moved(new: torch.Tensor, old: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-node "a teacher's decoded state moved" between steps (reals: beyond ``TEACHER_MOVED_RTOL``)."""
    if kind != "real":
        return new != old
    near = (new - old).abs() <= TEACHER_MOVED_RTOL * old.abs().clamp(min=1.0)
    return ~((new == old) | (torch.isfinite(new) & torch.isfinite(old) & near))


def exact_equal(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-element "exact" agreement (see ``EXACT_RTOL``); non-float values must be equal."""
    if not x.is_floating_point():
        return x == y
    ok = (x == y) | (torch.isnan(x) & torch.isnan(y))
    return ok | (torch.isfinite(x) & torch.isfinite(y) & torch.isclose(x, y, rtol=EXACT_RTOL, atol=EXACT_ATOL))


def round_caps(raw: torch.Tensor, max_rounds: int | None = None) -> torch.Tensor:
    """Per-node round caps from the evaluated ``rounds`` expression: NaN and +inf run no rounds, negatives
    clamp to 0, and ``max_rounds`` (if given) bounds them."""
    caps = torch.nan_to_num(raw.to(torch.float64), nan=0.0, posinf=0.0).clamp(min=0)
    return caps if max_rounds is None else caps.clamp(max=max_rounds)
