"""Params pass: each ``param`` is a typed constant, folded once so every later stage reads a number."""

from __future__ import annotations

import math

from dpdsl.check.state import CheckState
from dpdsl.check.types import Scope, assignable, typed
from dpdsl.expr.fold import fold
from dpdsl.frontend import ast as A
from dpdsl.ir import ParamIR
from dpdsl.types import BOOL


def check_params(st: CheckState) -> None:
    """Fold each param's value; it must be a constant of its declared type, inside its range."""
    for d in st.take(A.ParamDecl):
        e = typed(st, d.expr, Scope(f"the value of param {d.name}", frozenset({"param"}), builtins=frozenset()))
        folded = fold(e)  # params by name are not constants here: a param cannot read another one
        if folded is None:
            raise st.err("a param value must be a constant", d.expr.pos)
        assignable(st, e.type, d.type, d.expr.pos, f"param {d.name}")
        val = float(folded)  # ParamIR.value is a float: a bool param is 0.0 / 1.0
        if math.isnan(val):
            raise st.err(f"param {d.name} is not a number (nan)", d.expr.pos)
        if d.type.kind != BOOL and not d.type.admits(val):
            raise st.err(f"param {d.name} = {val:g} violates its range {d.type.describe_range()}", d.expr.pos)
        st.params[d.name] = ParamIR(d.name, d.type, val)
