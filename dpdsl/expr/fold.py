"""Constant folding: the value of an expression built only of literals, params and labels.

The checker folds to reject what can never run (a non-finite round count, an out-of-range constant).
Operators fold through ``dpdsl.expr.ops`` scalar functions (float64 IEEE semantics) and calls through
the registry's own torch functions on 0-d tensors, so a folded value equals what the torch backend
computes for the same expression.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from dpdsl.expr import nodes as N
from dpdsl.expr.ops import BINARY, UNARY
from dpdsl.expr.torch_eval import constant_value
from dpdsl.registry import FUNCTIONS

Value = float | bool | None


class ConstFolder(N.Visitor[Value]):
    """``visit(e)`` is e's constant value, or None when it reads anything that varies."""

    def __init__(self, params: Mapping[str, float] | None = None) -> None:
        self.params = params or {}

    def visit_Num(self, e: N.Num) -> Value:
        return float(e.value)

    def visit_Bool(self, e: N.Bool) -> Value:
        return bool(e.value)

    def visit_Name(self, e: N.Name) -> Value:
        if e.kind == "param" and e.name not in self.params:
            return None
        return constant_value(e, self.params)

    def visit_Index(self, e: N.Index) -> Value:
        return None

    def visit_Agg(self, e: N.Agg) -> Value:
        return None

    def visit_Unary(self, e: N.Unary) -> Value:
        x = self.visit(e.x)
        return None if x is None else _plain(UNARY[e.op].scalar_fn(x))

    def visit_Binary(self, e: N.Binary) -> Value:
        a, b = self.visit(e.a), self.visit(e.b)
        if a is None or b is None:
            return None
        return _plain(BINARY[e.op].scalar_fn(a, b))

    def visit_Cond(self, e: N.Cond) -> Value:
        c = self.visit(e.cond)
        if c is None:
            return None
        return self.visit(e.then if c else e.other)

    def visit_Call(self, e: N.Call) -> Value:
        args = [self.visit(a) for a in e.args]
        if any(a is None for a in args):
            return None
        out = FUNCTIONS[e.fn].torch_fn(*[torch.tensor(a, dtype=torch.float64) for a in args])
        return float(out.item())


def _plain(x: bool | np.bool_ | float | np.floating) -> Value:
    """numpy scalars -> Python bool/float, so callers compare and format plain values."""
    return bool(x) if isinstance(x, (bool, np.bool_)) else float(x)


def fold(e: N.Expr, params: Mapping[str, float] | None = None) -> Value:
    """The constant value of ``e`` (params by value), or None if it is not constant."""
    return ConstFolder(params).visit(e)
