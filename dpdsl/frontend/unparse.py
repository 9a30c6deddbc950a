"""Expression -> spec syntax. Used for rules, reports and comments in emitted code."""

from __future__ import annotations

import math

from dpdsl.frontend import ast as A
from dpdsl.registry import RELATIONS

_PREC = {"or": 1, "and": 2, "<": 4, "<=": 4, ">": 4, ">=": 4, "==": 4, "!=": 4, "+": 5, "-": 5, "*": 6, "/": 6}


def unparse(e: A.Expr, prec: int = 0) -> str:
    """Readable source for an expression, with only the parentheses precedence needs."""
    if isinstance(e, A.Num):
        if math.isinf(e.value):
            return "inf" if e.value > 0 else "-inf"
        return str(int(e.value)) if float(e.value).is_integer() else repr(e.value)
    if isinstance(e, A.Bool):
        return "true" if e.value else "false"
    if isinstance(e, A.Name):
        return e.name
    if isinstance(e, A.Index):
        return f"{e.name}[{', '.join(e.args)}]"
    if isinstance(e, A.Unary):
        s = f"not {unparse(e.x, 3)}" if e.op == "not" else f"-{unparse(e.x, 7)}"
        return f"({s})" if prec > (3 if e.op == "not" else 7) else s
    if isinstance(e, A.Binary):
        p = _PREC[e.op]
        s = f"{unparse(e.a, p)} {e.op} {unparse(e.b, p + 1)}"
        return f"({s})" if prec > p else s
    if isinstance(e, A.Cond):
        s = f"if {unparse(e.cond)} then {unparse(e.then)} else {unparse(e.other)}"
        return f"({s})" if prec > 0 else s
    if isinstance(e, A.Call):
        return f"{e.fn}({', '.join(unparse(a) for a in e.args)})"
    if isinstance(e, A.Agg):
        rel = RELATIONS.get(e.relation)
        if rel is not None and rel.arrow:
            pair = f"{e.nbr} {rel.arrow} {e.me}" if rel.nbr_first else f"{e.me} {rel.arrow} {e.nbr}"
        else:
            pair = f"{e.nbr} of {e.me}"
        s = f"{e.agg} over {e.relation} {pair} : {unparse(e.body)}"
        return f"({s})" if prec > 0 else s
    raise AssertionError(type(e).__name__)
