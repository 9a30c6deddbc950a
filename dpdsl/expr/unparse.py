"""Expression -> spec syntax, with only the parentheses precedence needs (rules, reports, comments)."""

from __future__ import annotations

import math

from dpdsl.expr import nodes as N
from dpdsl.expr.ops import BINARY, UNARY
from dpdsl.registry import DOMAIN_RELATIONS, RELATIONS


def number_text(x: float) -> str:
    """A number as the spec language writes it: ``inf``, ``-inf``, ``3``, ``0.5``."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return str(int(x)) if float(x).is_integer() else repr(float(x))


class Unparser(N.Visitor[str]):
    """``text(e, prec)``: source for ``e`` placed where the surrounding operator binds at ``prec``."""

    def text(self, e: N.Expr, prec: int = 0) -> str:
        self._prec = prec
        return self.visit(e)

    def visit_Num(self, e: N.Num) -> str:
        return number_text(e.value)

    def visit_Bool(self, e: N.Bool) -> str:
        return "true" if e.value else "false"

    def visit_Name(self, e: N.Name) -> str:
        return e.name

    def visit_Index(self, e: N.Index) -> str:
        return f"{e.name}[{', '.join(e.args)}]"

    def visit_Unary(self, e: N.Unary) -> str:
        outer, p = self._prec, UNARY[e.op].prec
        s = f"not {self.text(e.x, p)}" if e.op == "not" else f"-{self.text(e.x, p)}"
        return f"({s})" if outer > p else s

    def visit_Binary(self, e: N.Binary) -> str:
        outer, p = self._prec, BINARY[e.op].prec
        s = f"{self.text(e.a, p)} {e.op} {self.text(e.b, p + 1)}"
        return f"({s})" if outer > p else s

    def visit_Cond(self, e: N.Cond) -> str:
        outer = self._prec
        s = f"if {self.text(e.cond)} then {self.text(e.then)} else {self.text(e.other)}"
        return f"({s})" if outer > 0 else s

    def visit_Call(self, e: N.Call) -> str:
        return f"{e.fn}({', '.join(self.text(a) for a in e.args)})"

    def visit_Agg(self, e: N.Agg) -> str:
        outer = self._prec
        rel = RELATIONS.get(e.relation)
        if rel is not None and rel.arrow:
            pair = f" {e.nbr} {rel.arrow} {e.me}" if rel.nbr_first else f" {e.me} {rel.arrow} {e.nbr}"
        elif e.relation in DOMAIN_RELATIONS or (rel is not None and rel.over_all and e.me == "v"):
            pair = f" {e.nbr}" if e.nbr else ""  # ``all u``, index domains' ``split k`` and ``at`` (§12)
        else:
            pair = f" {e.nbr} of {e.me}"
        s = f"{e.agg} over {e.relation}{pair} : {self.text(e.body)}"
        if e.default is not None:
            s += f" default {self.text(e.default, 100)}"
        return f"({s})" if outer > 0 else s


def unparse(e: N.Expr, prec: int = 0) -> str:
    """Readable source for an expression."""
    return Unparser().text(e, prec)
