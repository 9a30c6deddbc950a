"""Value types of the DP model (docs/architecture.md §2) and the tensor encoding every stage shares.

Encoding: ``bool`` values are ``torch.bool`` tensors; ``int``, ``real``, ``node`` and ``enum`` values are
float64 tensors (so ``inf``/``-inf`` are legal for ``int`` and ``real``; a ``node`` is a node index; an
``enum`` value is the index of its label in ``Type.labels``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

BOOL, INT, REAL, NODE, ENUM = "bool", "int", "real", "node", "enum"
NUMERIC = (INT, REAL, NODE)


@dataclass(frozen=True)
class Type:
    """A value type plus its optional range constraint.

    ``lo``/``hi`` bound the value (``lo_strict`` makes ``lo`` exclusive); an ``int`` written ``int 0..9``
    has ``lo=0, hi=9``. ``labels`` lists an enum's labels in order.
    """

    kind: str
    lo: float | None = None
    hi: float | None = None
    lo_strict: bool = False
    hi_strict: bool = False
    labels: tuple[str, ...] = ()

    @property
    def is_numeric(self) -> bool:
        return self.kind in NUMERIC

    def base(self) -> Type:
        """The type without its range (what the checker compares)."""
        return Type(self.kind, labels=self.labels)

    def dtype(self) -> torch.dtype:
        return torch.bool if self.kind == BOOL else torch.float64

    def admits(self, x: float) -> bool:
        """Whether a single number satisfies the range (NaN never does)."""
        if isinstance(x, float) and math.isnan(x):
            return False
        if self.lo is not None and (x <= self.lo if self.lo_strict else x < self.lo):
            return False
        if self.hi is not None and (x >= self.hi if self.hi_strict else x > self.hi):
            return False
        return True

    def describe_range(self) -> str:
        parts = []
        if self.lo is not None:
            parts.append(f"{'>' if self.lo_strict else '>='} {_fmt(self.lo)}")
        if self.hi is not None:
            parts.append(f"{'<' if self.hi_strict else '<='} {_fmt(self.hi)}")
        return " and ".join(parts)

    def __str__(self) -> str:
        if self.kind == ENUM:
            return "{" + ", ".join(self.labels) + "}"
        rng = self.describe_range()
        return f"{self.kind} {rng}" if rng else self.kind


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


T_BOOL, T_INT, T_REAL, T_NODE = Type(BOOL), Type(INT), Type(REAL), Type(NODE)
