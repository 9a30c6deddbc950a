"""Can NaN reach a transition's arguments? A sound, type-level answer (docs/certificates.md §3).

No dpdsl type has NaN and graph inputs are validated NaN-free, but ``±inf`` are legal reals, so a
view's body can make one (``dist[u] + w[u, v]`` at ``inf + -inf``) and a state can then carry it. This
module finds every state and view that the declared types do *not* rule out as NaN, by a fixpoint:

- a view may be NaN if its body can be NaN (z3, over the body's indexed values at their declared types,
  NaN for the states already marked), or its aggregator can make NaN from non-NaN values (``sum`` /
  ``mean`` of ``+inf`` and ``-inf``, ``prod`` of ``0`` and ``inf``; an unknown aggregator: assumed);
- a state may be NaN if its init can be, or its reference can be given the arguments marked so far.

"Not ruled out" is not "happens": the declared types may be wider than what the DP reaches (a
``real`` state that is never ``-inf``). The certificate re-proves a field with NaN allowed in the marked
arguments and says which holds.
"""

from __future__ import annotations

import z3

from dpdsl.certify.encode import check_fresh, show
from dpdsl.expr import nodes as N
from dpdsl.expr.unparse import unparse
from dpdsl.expr.z3_backend import ExtReal, Unencodable, Z3Encoder, declare, model_value
from dpdsl.ir import SpecIR
from dpdsl.registry import BUILTINS
from dpdsl.types import INT, Type

_BUILTIN_TYPES = {"id": Type("node"), "n": Type(INT, lo=1.0), "height": Type(INT, lo=0.0)}
_PROPAGATE = ("min", "max", "or", "and", "count", "argmin", "argmax")


def _index_type(spec: SpecIR, e: N.Index) -> Type:
    if e.kind == "state":
        return spec.states[e.name].type
    if e.kind == "view":
        return spec.views[e.name].type
    return {**spec.node_inputs, **spec.edge_inputs, **spec.domain.inputs}[e.name].type  # per-position inputs: §12


def _builtin_type(name: str) -> Type:
    """A builtin's type; index variables of a domain (``i``, ``j``, bound ``k``) are ints >= 0 (§12)."""
    if name in _BUILTIN_TYPES:
        return _BUILTIN_TYPES[name]
    return BUILTINS[name][0] if name in BUILTINS else Type(INT, lo=0.0)


def _encode(spec: SpecIR, e: N.Expr, nan: dict[str, str], local: bool, field: str | None = None):
    """(domain, value, constraints, variables) for ``e`` over fresh variables of its names."""
    d = ExtReal()
    variables, cons, shown = {}, [], {}
    for x in N.walk(e):
        if isinstance(x, N.Index):
            key, ty, name = f"{x.name}[{', '.join(x.args)}]", _index_type(spec, x), x.name
        elif isinstance(x, N.Name) and x.kind in ("state", "input", "view", "builtin"):
            key, name = x.name, x.name
            ty = (_builtin_type(x.name) if x.kind == "builtin"
                  else spec.arg_type(x.name) if local else spec.node_inputs[x.name].type)
        else:
            continue
        if key not in variables:
            v, c = declare(d, key, ty, nan_ok=name in nan)
            variables[key], shown[key] = v, ty
            cons += c
    return d, Z3Encoder(d, spec.param_values, variables).encode(e), cons, (variables, shown)


def _can(d: ExtReal, cons: list, goal: z3.BoolRef, variables) -> str | None:
    r, m = check_fresh([*cons, *[z3.Not(c) for c, _ in d.exclusions], goal], 5000)
    if r != z3.sat or m is None:
        return None
    vs, tys = variables
    return ", ".join(f"{k} = {show(model_value(d, m, v), tys[k])}" for k, v in vs.items()) or "always"


def nan_sources(spec: SpecIR) -> dict[str, str]:
    """States and views the declared types do not rule out as NaN, each with the reason (one line)."""
    nan: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for name, v in spec.views.items():
            if name in nan:
                continue
            why = _view_nan(spec, name, v.agg, nan)
            if why:
                nan[name], changed = why, True
        for name, st in spec.states.items():
            if name in nan or st.type.kind == "bool":
                continue
            why = None
            try:
                d, val, cons, vs = _encode(spec, st.init, nan, local=False)
                w = _can(d, cons, d.is_nan(val), vs) if not isinstance(val, z3.BoolRef) else None
                why = f"the init of {name} is NaN at {w}" if w else None
                if why is None and st.reference is not None:
                    d, val, cons, vs = _encode(spec, st.reference, nan, local=True)
                    w = _can(d, cons, d.is_nan(val), vs)
                    why = f"the reference of {name}, {unparse(st.reference)}, is NaN at {w}" if w else None
            except Unencodable as err:
                why = f"{name} cannot be analysed ({err})"
            if why:
                nan[name], changed = why, True
    return nan


def _view_nan(spec: SpecIR, name: str, agg: N.Agg, nan: dict[str, str]) -> str | None:
    if agg.agg in ("or", "and", "count", "argmin", "argmax"):
        return None  # bools and node ids are never NaN
    try:
        d, body, cons, vs = _encode(spec, agg.body, nan, local=False)
    except Unencodable as err:
        return f"view {name} cannot be analysed ({err})"
    text = f"view {name} = {agg.agg} over {agg.relation} of {unparse(agg.body)}"
    w = _can(d, cons, d.is_nan(body), vs)
    if w:
        return f"{text}: the body is NaN at {w}"
    if agg.agg in _PROPAGATE:
        return None
    inf, ninf, zero = d.const(float("inf")), d.const(float("-inf")), d.const(0.0)
    if agg.agg in ("sum", "mean"):
        if _can(d, cons, d.eq(body, inf), vs) and _can(d, cons, d.eq(body, ninf), vs):
            return f"{text}: the body can be inf on one edge and -inf on another"
        return None
    if agg.agg == "prod":
        if _can(d, cons, d.eq(body, zero), vs) and _can(d, cons, z3.Or(d.eq(body, inf), d.eq(body, ninf)), vs):
            return f"{text}: the body can be 0 on one edge and infinite on another"
        return None
    return f"{text}: aggregator '{agg.agg}' is not known to keep NaN out"
