"""The Spark backend: a typed expression as a PySpark ``Column`` (``dpdsl run --engine spark``).

Spark SQL is not IEEE in two places the torch backend relies on, so the columns spell IEEE out:

* comparisons: Spark orders NaN above every number and makes ``NaN = NaN`` true; torch's ``<``, ``==``
  ... are false with a NaN operand (and ``!=`` true), so numeric comparisons are guarded by ``isnan``;
* division: Spark gives NULL (or, in ANSI mode, an error) for ``x / 0``; torch gives ±inf or NaN by
  the signs (a zero's sign read with ``atan2(z, -1)``, which is ±pi).

``min``/``max`` follow ``torch.minimum``/``maximum``: NaN propagates, and on a tie the first argument
is kept (so signed zeros come out as torch's). Everything else (``+ - *``, negation, ``abs``, ``if``,
``and or not``) is Java's double/boolean arithmetic, the same IEEE operations torch does. Names resolve
through the engine's column names (``names``: bare names; ``index``: ``x[u]``/``x[v]``/``w[u, v]``
inside an aggregate body); aggregates are columns the engine computed before (``aggs``, keyed by
``id(node)``, as the source backend does).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from dpdsl.expr import nodes as N
from dpdsl.expr.torch_eval import constant_value

INF = float("inf")
NAN = float("nan")


def lit(x: float | bool) -> Column:
    return F.lit(x) if isinstance(x, bool) else F.lit(float(x))


def nan_in(*cols: Column) -> Column:
    out = F.isnan(cols[0])
    for c in cols[1:]:
        out = out | F.isnan(c)
    return out


def _ieee_cmp(fn: Callable[[Column, Column], Column]) -> Callable[[Column, Column], Column]:
    return lambda a, b: F.when(nan_in(a, b), F.lit(False)).otherwise(fn(a, b))


def _divide(a: Column, b: Column) -> Column:
    by_zero = F.when(nan_in(a) | (a == 0), F.lit(NAN)).when(
        (a > 0) == (F.atan2(b, F.lit(-1.0)) > 0), F.lit(INF)).otherwise(F.lit(-INF))
    return F.when(b == 0, by_zero).otherwise(a / b)


NUMERIC: dict[str, Callable[[Column, Column], Column]] = {
    "<": _ieee_cmp(lambda a, b: a < b), "<=": _ieee_cmp(lambda a, b: a <= b),
    ">": _ieee_cmp(lambda a, b: a > b), ">=": _ieee_cmp(lambda a, b: a >= b),
    "==": _ieee_cmp(lambda a, b: a == b),
    "!=": lambda a, b: F.when(nan_in(a, b), F.lit(True)).otherwise(a != b),
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": _divide,
}
"""Binary operators on numbers (float64 columns), by ``dpdsl.expr.ops`` symbol."""

BOOLEAN: dict[str, Callable[[Column, Column], Column]] = {
    "and": lambda a, b: a & b, "or": lambda a, b: a | b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}
"""Binary operators on booleans."""


def fmin(*xs: Column) -> Column:
    """``runtime.fmin``: pairwise ``torch.minimum`` (NaN propagates; ties keep the left value)."""
    out = xs[0]
    for x in xs[1:]:
        out = F.when(nan_in(out, x), F.lit(NAN)).when(x < out, x).otherwise(out)
    return out


def fmax(*xs: Column) -> Column:
    out = xs[0]
    for x in xs[1:]:
        out = F.when(nan_in(out, x), F.lit(NAN)).when(x > out, x).otherwise(out)
    return out


FUNCTIONS: dict[str, Callable[..., Column]] = {"min": fmin, "max": fmax, "abs": F.abs}
"""Spark forms of the registry's functions; a plugin function without one cannot run on Spark."""


class SparkColumns(N.Visitor[Column]):
    """Expression -> ``Column`` (module docstring). Numbers are doubles, bools booleans."""

    def __init__(self, params: Mapping[str, float], names: Mapping[str, str],
                 index: Mapping[tuple[str, str], str] | None = None, aggs: Mapping[int, str] | None = None) -> None:
        self.params, self.names = params, dict(names)
        self.index, self.aggs = dict(index or {}), dict(aggs or {})

    def visit_Num(self, e: N.Num) -> Column:
        return lit(e.value)

    def visit_Bool(self, e: N.Bool) -> Column:
        return lit(e.value)

    def visit_Name(self, e: N.Name) -> Column:
        value = constant_value(e, self.params)
        return lit(value) if value is not None else F.col(self.names[e.name])

    def visit_Index(self, e: N.Index) -> Column:
        return F.col(self.index[(e.site, e.name)])

    def visit_Unary(self, e: N.Unary) -> Column:
        x = self.visit(e.x)
        return ~x if e.op == "not" else -x

    def visit_Binary(self, e: N.Binary) -> Column:
        a, b = self.visit(e.a), self.visit(e.b)
        assert e.a.type is not None
        table = BOOLEAN if e.a.type.kind == "bool" else NUMERIC
        return table[e.op](a, b)

    def visit_Cond(self, e: N.Cond) -> Column:
        return F.when(self.visit(e.cond), self.visit(e.then)).otherwise(self.visit(e.other))

    def visit_Call(self, e: N.Call) -> Column:
        if e.fn not in FUNCTIONS:
            raise NotImplementedError(f"function '{e.fn}' has no Spark form")
        return FUNCTIONS[e.fn](*[self.visit(a) for a in e.args])

    def visit_Agg(self, e: N.Agg) -> Column:
        return F.col(self.aggs[id(e)])


def compile_column(e: N.Expr, params: Mapping[str, float], names: Mapping[str, str], **kw: Any) -> Column:
    return SparkColumns(params, names, **kw).visit(e)
