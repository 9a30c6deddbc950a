"""States-and-views pass: views, then each state field with its init, ``unknown(...)`` transition,
optional reference, and the distiller's extra predicates and terms.

Views come first because states' transitions take views as arguments; a state's reference, predicates
and terms may read only that transition's arguments (the node-local inputs of the unknown).
"""

from __future__ import annotations

import heapq
from dataclasses import replace
from typing import TypeVar

from dpdsl.assume import check_assumes
from dpdsl.check.state import CheckState, did_you_mean
from dpdsl.check.types import Scope, assignable, typed
from dpdsl.expr.fold import fold
from dpdsl.expr.nodes import walk
from dpdsl.frontend import ast as A
from dpdsl.ir import StateIR, ViewIR
from dpdsl.registry import BUILTINS
from dpdsl.types import BOOL, INT, REAL

N = TypeVar("N", bound=A.NamedDecl)

VIEW_READS = frozenset({"state", "input", "view", "param", "builtin", "label"})
INIT_READS = frozenset({"input", "param", "builtin", "label"})
LOCAL_READS = frozenset({"state", "input", "view", "param", "label"})  # filtered further by Scope.only


def check_views(st: CheckState) -> None:
    """Each view is one aggregate over the graph; its type is the aggregator's result. A view may read
    other views (``b[u]``, this round's values): views are typed, and kept in the IR, in dependency order."""
    for d in _view_order(st, st.take(A.ViewDecl)):
        agg = typed(st, d.expr, Scope(f"view {d.name}", VIEW_READS, agg_ok=True))
        st.views[d.name] = ViewIR(d.name, agg)  # type: ignore[arg-type]  # the grammar admits only aggregates


def _view_order(st: CheckState, views: list[A.ViewDecl]) -> list[A.ViewDecl]:
    """Views sorted so each comes after the views it reads, source order otherwise (Kahn's algorithm,
    iterative); a cycle is an error at the read that closes it."""
    index = {d.name: i for i, d in enumerate(views)}
    reads = [[(x.name, x.pos) for x in walk(d.expr) if isinstance(x, (A.Name, A.Index)) and x.name in index]
             for d in views]
    waiting = [len({dep for dep, _ in r}) for r in reads]
    readers: list[set[int]] = [set() for _ in views]
    for i, r in enumerate(reads):
        for dep, _ in r:
            readers[index[dep]].add(i)
    ready = [i for i, w in enumerate(waiting) if w == 0]
    heapq.heapify(ready)
    order: list[A.ViewDecl] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(views[i])
        for j in readers[i]:
            waiting[j] -= 1
            if waiting[j] == 0:
                heapq.heappush(ready, j)
    if len(order) < len(views):  # follow unresolved reads from the first stuck view until one repeats
        stuck = {i for i, w in enumerate(waiting) if w}
        path, i = [], min(stuck)
        while i not in path:
            path.append(i)
            dep, pos = next((d, p) for d, p in reads[i] if index[d] in stuck)
            i = index[dep]
        cycle = " -> ".join(views[k].name for k in [*path[path.index(i):], i])
        raise st.err(f"views read each other in a cycle ({cycle}); a view may read only views that do not "
                     "read it", pos)
    return order


def _by_name(decls: list[N]) -> dict[str, N]:
    return {d.name: d for d in decls}  # names are unique per kind (the names pass checked duplicates)


def check_states(st: CheckState) -> None:
    """At least one state field; every init/transition/reference/predicate/term targets a state."""
    states = st.take(A.StateDecl)
    if not states:
        raise st.err("a spec needs at least one 'state' field", st.ast.problem_pos)
    inits, trans = _by_name(st.take(A.InitDecl)), _by_name(st.take(A.TransitionDecl))
    refs = _by_name(st.take(A.ReferenceDecl))
    for table in (inits, trans, refs):
        for name, d in table.items():
            if st.kind_of(name) != "state":
                what = "not declared" if name not in st.names else f"a {st.kind_of(name)}"
                raise st.err(f"{d.KEYWORD} for '{name}', which is {what}; {d.KEYWORD} defines a state field"
                             + did_you_mean(name, [s.name for s in states]), d.name_pos)
    preds, terms, assumes = st.take(A.PredicateDecl), st.take(A.TermDecl), st.take(A.AssumeDecl)
    state_names = {d.name for d in states}
    for f in [*preds, *terms, *assumes]:
        if f.name not in state_names:
            raise st.err(f"{f.KEYWORD} for '{f.name}', which is not a state field"
                         + did_you_mean(f.name, state_names), f.name_pos)
    for d in states:
        if d.name not in inits:
            raise st.err(f"state '{d.name}' has no init; add 'init {d.name} = ...'", d.name_pos)
        if d.name not in trans:
            raise st.err(f"state '{d.name}' has no transition; add 'transition {d.name} = unknown(...)'",
                         d.name_pos)
        init = _init(st, d, inits[d.name])
        args = _unknown_args(st, d, trans[d.name])
        local = Scope(f"the reference of {d.name}", LOCAL_READS, only=frozenset(args), builtins=frozenset())
        ref = _reference(st, d, refs.get(d.name), local)
        mine_p = [p for p in preds if p.name == d.name]
        mine_t = [t for t in terms if t.name == d.name]
        ps, ts = _features(st, d, mine_p, mine_t, local)
        asm = check_assumes(st, assumes, d.name, local, typed)
        st.states[d.name] = StateIR(d.name, d.type, init, args, ref, ps, ts, asm)


def _init(st: CheckState, d: A.StateDecl, init: A.InitDecl) -> A.Expr:
    """The init, typed; a constant init must lie inside the state's declared range."""
    e = typed(st, init.expr, Scope(f"the init of {d.name}", INIT_READS))
    assignable(st, e.type, d.type, init.expr.pos, f"state {d.name}")
    val = fold(e, st.param_values)
    if val is not None and d.type.kind in (INT, REAL) and not d.type.admits(val):
        raise st.err(f"init {d.name} = {val:g} is outside the range of state {d.name} "
                     f"({d.type.describe_range() or 'a number'})", init.expr.pos)
    return e


def _unknown_args(st: CheckState, d: A.StateDecl, t: A.TransitionDecl) -> tuple[str, ...]:
    """The unknown's arguments: distinct node-local names (state fields, node inputs, views)."""
    args: list[str] = []
    for a, apos in t.args:
        kind = st.kind_of(a)
        if kind == "input" and st.domain != "nodes":  # an input is not tuple-local on an index domain (§12)
            raise st.err(f"unknown(...) argument '{a}' is an input, which is not local on {st.domain}; "
                         f"read it in a view, e.g. 'view {a}_here = max over at : {a}[{st.vars[0]}]'", apos)
        if kind not in ("state", "input", "view") or (kind == "input" and st.inputs[a].site != "node"):
            why = ("not declared" if a not in st.names and a not in BUILTINS
                   else "a built-in" if a in BUILTINS else f"a {kind}"
                   if kind != "input" else "an edge input")
            local = [k for k in st.names if st.kind_of(k) in ("state", "view")
                     or (st.kind_of(k) == "input" and st.inputs[k].site == "node")]
            raise st.err(f"unknown(...) argument '{a}' is {why}; arguments must be local names "
                         "(the node's own state fields, node inputs or views)"
                         + (did_you_mean(a, local) if why == "not declared" else ""), apos)
        if a in args:
            raise st.err(f"unknown(...) argument '{a}' is repeated", apos)
        args.append(a)
    if not args:
        raise st.err(f"unknown() for '{d.name}' needs at least one argument", t.name_pos)
    return tuple(args)


def _reference(st: CheckState, d: A.StateDecl, ref: A.ReferenceDecl | None, local: Scope) -> A.Expr | None:
    """The optional ground-truth transition, over the unknown's arguments only."""
    if ref is None:
        return None
    e = typed(st, ref.expr, local)
    assignable(st, e.type, d.type, ref.expr.pos, f"state {d.name}", what="the reference")
    return e


def _features(st: CheckState, d: A.StateDecl, preds: list[A.PredicateDecl], terms: list[A.TermDecl],
              local: Scope) -> tuple[tuple[A.Expr, ...], tuple[A.Expr, ...]]:
    """The spec's extra distiller features for one state: bool predicates and state-typed terms."""
    ps: list[A.Expr] = []
    for p in preds:
        e = typed(st, p.expr, replace(local, what=f"a predicate for {d.name}"))
        if e.type.kind != BOOL:
            raise st.err(f"a predicate must be bool, got {e.type}", p.expr.pos)
        ps.append(e)
    ts: list[A.Expr] = []
    for t in terms:
        e = typed(st, t.expr, replace(local, what=f"a term for {d.name}"))
        assignable(st, e.type, d.type, t.expr.pos, f"state {d.name}", what="the term")
        ts.append(e)
    return tuple(ps), tuple(ts)
