"""The operators of the expression language: one table every backend reads.

For each operator: its precedence (unparsing), its torch function (evaluation), its numpy-scalar
function (constant folding, with float64 IEEE semantics so folding agrees with torch bit for bit) and
its Python source template (the emitted skeleton). A new operator is one row here plus its grammar rule
and type rule (docs/architecture.md §4).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dpdsl.runtime import floor_div, floor_mod


@dataclass(frozen=True)
class Op:
    """One operator. ``source`` is a template over ``{a}``/``{b}`` (``{x}`` for unary ones)."""

    symbol: str
    prec: int
    torch_fn: Callable[..., torch.Tensor]
    scalar_fn: Callable[..., Any]
    source: str


def _sdiv(a: Any, b: Any) -> np.float64:
    with np.errstate(all="ignore"):
        return np.float64(a) / np.float64(b)


def _sfloordiv(a: Any, b: Any) -> np.float64:
    with np.errstate(all="ignore"):
        return np.floor(np.float64(a) / np.float64(b))


def _sfloormod(a: Any, b: Any) -> np.float64:
    a, b = np.float64(a), np.float64(b)
    with np.errstate(all="ignore"):
        return a - b * np.floor(a / b)


def _arith(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], np.float64]:
    def run(a: Any, b: Any) -> np.float64:
        with np.errstate(all="ignore"):
            return np.float64(fn(np.float64(a), np.float64(b)))

    return run


def _cmp(fn: Callable[[Any, Any], Any]) -> Callable[[Any, Any], bool]:
    return lambda a, b: bool(fn(np.float64(a), np.float64(b)))


BINARY: dict[str, Op] = {
    "or": Op("or", 1, torch.logical_or, lambda a, b: bool(a) or bool(b), "({a} | {b})"),
    "and": Op("and", 2, torch.logical_and, lambda a, b: bool(a) and bool(b), "({a} & {b})"),
    "<": Op("<", 4, torch.lt, _cmp(operator.lt), "({a} < {b})"),
    "<=": Op("<=", 4, torch.le, _cmp(operator.le), "({a} <= {b})"),
    ">": Op(">", 4, torch.gt, _cmp(operator.gt), "({a} > {b})"),
    ">=": Op(">=", 4, torch.ge, _cmp(operator.ge), "({a} >= {b})"),
    "==": Op("==", 4, torch.eq, _cmp(operator.eq), "({a} == {b})"),
    "!=": Op("!=", 4, torch.ne, _cmp(operator.ne), "({a} != {b})"),
    "+": Op("+", 5, torch.add, _arith(operator.add), "({a} + {b})"),
    "-": Op("-", 5, torch.sub, _arith(operator.sub), "({a} - {b})"),
    "*": Op("*", 6, torch.mul, _arith(operator.mul), "({a} * {b})"),
    "/": Op("/", 6, torch.div, _sdiv, "({a} / {b})"),
    # floor division and its remainder, floor(a / b) of the float64 quotient: dpdsl.runtime.floor_div says
    # what they give on inf, NaN and a zero divisor; z3: Domain.floor (dpdsl.expr.z3_backend)
    "//": Op("//", 6, floor_div, _sfloordiv, "_floor_div({a}, {b})"),
    "%": Op("%", 6, floor_mod, _sfloormod, "_floor_mod({a}, {b})"),
}

UNARY: dict[str, Op] = {
    "not": Op("not", 3, torch.logical_not, lambda x: not bool(x), "(~{x})"),
    "-": Op("-", 7, torch.neg, lambda x: -np.float64(x), "(-{x})"),
}
