"""Outputs pass: each ``output`` is a state field or an expression over the final states and views."""

from __future__ import annotations

from dpdsl.check.state import CheckState, did_you_mean
from dpdsl.check.types import Scope, typed
from dpdsl.frontend import ast as A
from dpdsl.ir import OutputIR

OUTPUT_READS = frozenset({"state", "input", "view", "param", "builtin", "label"})


def check_outputs(st: CheckState) -> None:
    """At least one output; a bare ``output x`` names a state field, ``output x = e`` may aggregate."""
    for d in st.take(A.OutputDecl):
        if d.expr is None:
            if d.name not in st.states:
                raise st.err(f"'output {d.name}' names no state field; write 'output {d.name} = ...'"
                             + did_you_mean(d.name, st.states), d.name_pos)
            expr: A.Expr = A.Name(pos=d.name_pos, type=st.states[d.name].type.base(), name=d.name, kind="state")
        else:
            kind = st.kind_of(d.name)
            if kind and kind != "state":
                raise st.err(f"output '{d.name}' clashes with the {kind} of that name", d.name_pos)
            expr = typed(st, d.expr, Scope(f"output {d.name}", OUTPUT_READS, agg_ok=True))
        st.outputs[d.name] = OutputIR(d.name, expr)
    if not st.outputs:
        raise st.err("a spec needs at least one 'output'", st.ast.problem_pos)
