"""Rounds pass: the round cap is an int expression over ``n`` (and ``height`` on trees) and params.

A cap that folds to a non-finite or negative number can never run, so it is refused here rather than
silently running zero rounds.
"""

from __future__ import annotations

import math

from dpdsl.check.state import CheckState
from dpdsl.check.types import Scope, typed
from dpdsl.expr.fold import fold
from dpdsl.expr.nodes import walk
from dpdsl.frontend import ast as A
from dpdsl.ir import RoundsIR
from dpdsl.types import INT


def check_rounds(st: CheckState) -> None:
    """Type the one ``rounds`` declaration and refuse caps that fold to a non-finite or negative value."""
    rounds = st.take(A.RoundsDecl)
    if not rounds:
        raise st.err("missing 'rounds' declaration, e.g. 'rounds n - 1 until fixpoint'", st.ast.problem_pos)
    r = rounds[0]
    tree = st.kind == "tree"
    builtins = frozenset({"n", "height"} if tree else {"n"})
    e = typed(st, r.expr, Scope("rounds", frozenset({"param", "builtin"}), builtins=builtins))
    if e.type.kind != INT:
        raise st.err(f"rounds must be an int expression over n{', height' if tree else ''}"
                     f" and params, got {e.type}", r.expr.pos)
    params = st.param_values
    for leaf in walk(e):  # a non-finite cap would silently run 0 rounds: point at the leaf that makes it
        value = fold(leaf, params) if isinstance(leaf, (A.Num, A.Name)) else None
        if value is not None and not math.isfinite(value):
            raise st.err(f"rounds must be finite, but this is {value:g}", leaf.pos)
    value = fold(e, params)
    if value is not None and not 0 <= value < math.inf:
        raise st.err(f"rounds must be a finite number >= 0, got {value:g}", r.expr.pos)
    st.rounds = RoundsIR(e, r.fixpoint)
