"""The expression type checker: one ``Visitor`` that returns a typed copy with names resolved.

Every expression in a spec goes through :func:`typed` with a :class:`Scope` saying where it stands (an
init, a view, the body of an aggregate, ...), because what a name may mean depends on that place:
``dist`` is a state read in a reference, but must be written ``dist[u]`` inside an aggregate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from dpdsl.check.state import CheckState, did_you_mean
from dpdsl.expr import nodes as N
from dpdsl.frontend import ast as A
from dpdsl.registry import AGGREGATORS, BUILTINS, FUNCTIONS, RELATIONS, Aggregator, join_numeric
from dpdsl.types import BOOL, ENUM, INT, NODE, REAL, T_BOOL, T_INT, T_REAL, Type


@dataclass(frozen=True)
class Scope:
    """What names an expression may use. ``only`` restricts local names (reference transitions)."""

    what: str  # human description for messages, e.g. "the init of dist"
    allow: frozenset[str]  # kinds: state, input, view, param, builtin, label
    only: frozenset[str] | None = None
    builtins: frozenset[str] = frozenset({"id", "n"})
    agg_ok: bool = False
    edge: tuple[A.Agg, str] | None = None  # inside an aggregate: (agg, relation edge order)


def typed(st: CheckState, e: A.Expr, scope: Scope) -> A.Expr:
    """``e`` type-checked in ``scope``: a typed copy, or a positioned ``DslError``.

    Index domains (docs/architecture.md §12) set ``st.checker`` to their subclass of the checker."""
    return (st.checker or TypeChecker)(st, scope).visit(e)


def assignable(st: CheckState, got: Type, want: Type, pos: A.Pos, target: str, what: str = "the value") -> None:
    """Refuse a value of type ``got`` stored where ``want`` is declared (ints widen to real)."""
    ok = got.kind == want.kind or (want.kind == REAL and got.kind in (INT, NODE)) or (
        want.kind == INT and got.kind == NODE)
    if want.kind == ENUM:
        ok = got.kind == ENUM and got.labels == want.labels
    if not ok:
        raise st.err(f"type mismatch: {what} is {got.base()} but {target} is {want.base()}", pos)


class TypeChecker(N.Visitor[A.Expr]):
    """Types one expression tree in one scope (an aggregate's body gets a checker of its own)."""

    def __init__(self, st: CheckState, scope: Scope) -> None:
        self.st = st
        self.sc = scope

    def visit_Num(self, e: A.Num) -> A.Expr:
        t = T_INT if (math.isinf(e.value) or float(e.value).is_integer()) else T_REAL
        return replace(e, type=t)

    def visit_Bool(self, e: A.Bool) -> A.Expr:
        return replace(e, type=T_BOOL)

    def visit_Name(self, e: A.Name) -> A.Expr:
        st, sc, name = self.st, self.sc, e.name
        if name in st.labels and name not in st.names:
            return replace(e, type=st.labels[name], kind="label")
        if name in BUILTINS and name not in st.names:
            if name not in sc.builtins:
                where = ", ".join(sorted(sc.builtins)) or "none"
                raise st.err(f"built-in '{name}' cannot be used in {sc.what} (allowed here: {where})", e.pos)
            return replace(e, type=BUILTINS[name][0], kind="builtin")
        if name not in st.names:
            raise st.err(f"unknown name '{name}'" + _suggest(st, name), e.pos)
        d = st.names[name]
        kind = d.KEYWORD
        if sc.edge is not None and kind in ("state", "input", "view"):
            agg = sc.edge[0]
            raise st.err(f"inside an aggregate, write {name}[{agg.nbr}] for the neighbour's value or "
                         f"{name}[{agg.me}] for the node's own", e.pos)
        if kind not in sc.allow:
            raise st.err(f"{sc.what} cannot read the {kind} '{name}'", e.pos)
        if sc.only is not None and kind in ("state", "input", "view") and name not in sc.only:
            raise st.err(f"{sc.what} reads '{name}', which is not an argument of its unknown(...); "
                         f"arguments: {', '.join(sorted(sc.only))}", e.pos)
        if kind == "input" and st.inputs[name].site == "edge":
            raise st.err(f"'{name}' is an edge input; use it inside an aggregate as {name}[u, v]", e.pos)
        if kind == "view":
            if name not in st.views:
                raise st.err(f"view '{name}' is used before it is defined", e.pos)
            return replace(e, type=st.views[name].type, kind="view")
        assert isinstance(d, (A.InputDecl, A.ParamDecl, A.StateDecl))
        return replace(e, type=d.type.base(), kind=kind)

    def visit_Index(self, e: A.Index) -> A.Expr:
        st, sc = self.st, self.sc
        if sc.edge is None:
            raise st.err(f"'{e.name}[...]' indexing is only allowed inside an aggregate "
                         "(view or output 'agg over ...'); here write the bare name", e.pos)
        agg, order = sc.edge
        kind = st.kind_of(e.name)
        if kind not in ("state", "input", "view"):
            what = "not declared" if not kind else f"a {kind}"
            hint = did_you_mean(e.name, [k for k, d in st.names.items() if d.KEYWORD != "param"])
            raise st.err(f"'{e.name}' is {what}; only state fields, inputs and views can be indexed{hint}", e.pos)
        if kind in ("state", "view") and kind not in sc.allow:
            raise st.err(f"{sc.what} cannot read {kind} '{e.name}'", e.pos)
        over_all = RELATIONS[agg.relation].over_all
        if kind == "input" and st.inputs[e.name].site == "edge":
            if over_all:
                raise st.err(f"an aggregate over all nodes has no edges: edge input '{e.name}' cannot be read "
                             "here", e.pos)
            self._edge_pair(e, agg, order)
            return replace(e, type=st.inputs[e.name].type.base(), site="edge", kind="input")
        if len(e.args) != 1:
            raise st.err(f"node value '{e.name}' takes one index: {e.name}[{agg.nbr}] or {e.name}[{agg.me}]",
                         e.pos)
        (a,) = e.args
        if a == agg.nbr:
            site = "nbr"
        elif a == agg.me and over_all:
            raise st.err(f"an aggregate over all nodes reads only {agg.nbr}'s values; {e.name}[{a}] is the same "
                         f"on every row: use it outside the aggregate", e.pos)
        elif a == agg.me:
            site = "self"
        else:
            raise st.err(f"unknown index '{a}'; this aggregate binds {agg.nbr} (neighbour) and "
                         f"{agg.me} (the node)" + did_you_mean(a, (agg.nbr, agg.me)), e.pos)
        if kind == "view":
            if e.name not in st.views:  # the views pass types views in dependency order
                raise st.err(f"view '{e.name}' is used before it is defined", e.pos)
            return replace(e, type=st.views[e.name].type, site=site, kind="view")
        d = st.names[e.name]
        assert isinstance(d, (A.InputDecl, A.StateDecl))
        return replace(e, type=d.type.base(), site=site, kind=kind)

    def _edge_pair(self, e: A.Index, agg: A.Agg, order: str) -> None:
        """An edge input's two indices must name the aggregate's edge, in the relation's order."""
        if len(e.args) != 2:
            raise self.st.err(f"edge input '{e.name}' takes two indices: {e.name}[{agg.nbr}, {agg.me}]", e.pos)
        a, b = e.args
        want = {"nbr_me": (agg.nbr, agg.me), "me_nbr": (agg.me, agg.nbr)}.get(order)
        pair_ok = (a, b) == want if want else {a, b} == {agg.nbr, agg.me} and a != b
        if not pair_ok:
            exp = f"{e.name}[{want[0]}, {want[1]}]" if want else f"{e.name}[{agg.nbr}, {agg.me}]"
            raise self.st.err(f"edge input index must name the edge of '{agg.relation}': expected {exp}", e.pos)

    def visit_Unary(self, e: A.Unary) -> A.Expr:
        x = self.visit(e.x)
        if e.op == "not":
            if x.type.kind != BOOL:
                raise self.st.err(f"'not' needs a bool, got {x.type}", e.x.pos)
            return replace(e, x=x, type=T_BOOL)
        if not x.type.is_numeric:
            raise self.st.err(f"unary '-' needs a number, got {x.type}", e.x.pos)
        return replace(e, x=x, type=T_INT if x.type.kind == NODE else x.type)

    def visit_Binary(self, e: A.Binary) -> A.Expr:
        a, b = self.visit(e.a), self.visit(e.b)
        op = e.op
        if op in ("and", "or"):
            for side, orig in ((a, e.a), (b, e.b)):
                if side.type.kind != BOOL:
                    raise self.st.err(f"'{op}' needs bool operands, got {side.type}", orig.pos)
            return replace(e, a=a, b=b, type=T_BOOL)
        if op in ("+", "-", "*", "/", "//", "%"):
            for side, orig in ((a, e.a), (b, e.b)):
                if not side.type.is_numeric:
                    raise self.st.err(f"'{op}' needs numbers, got {side.type}", orig.pos)
            t = T_REAL if op == "/" else join_numeric(a.type, b.type)
            return replace(e, a=a, b=b, type=t)
        # comparisons
        ka, kb = a.type.kind, b.type.kind
        if op in ("==", "!="):
            same = (a.type.is_numeric and b.type.is_numeric) or (ka == kb and ka != ENUM) or (
                ka == kb == ENUM and a.type.labels == b.type.labels)
            if not same:
                raise self.st.err(f"cannot compare {a.type.base()} with {b.type.base()}", e.pos)
        elif not (a.type.is_numeric and b.type.is_numeric):
            bad = a if not a.type.is_numeric else b
            raise self.st.err(f"'{op}' compares numbers, got {bad.type.base()}", e.pos)
        return replace(e, a=a, b=b, type=T_BOOL)

    def visit_Cond(self, e: A.Cond) -> A.Expr:
        c = self.visit(e.cond)
        if c.type.kind != BOOL:
            raise self.st.err(f"the condition of 'if' must be bool, got {c.type}", e.cond.pos)
        a, b = self.visit(e.then), self.visit(e.other)
        if a.type.is_numeric and b.type.is_numeric:
            t = a.type if a.type.kind == b.type.kind else join_numeric(a.type, b.type)
        elif a.type.base() == b.type.base():
            t = a.type.base()
        else:
            raise self.st.err(f"'then' and 'else' branches differ in type: {a.type.base()} vs {b.type.base()}",
                              e.other.pos)
        return replace(e, cond=c, then=a, other=b, type=t)

    def visit_Call(self, e: A.Call) -> A.Expr:
        fn = FUNCTIONS.get(e.fn)
        if fn is None:
            hint = " (aggregators are written 'agg over relation u -> v : expr')" if e.fn in AGGREGATORS else ""
            raise self.st.err(f"unknown function '{e.fn}'; known: {', '.join(sorted(FUNCTIONS))}{hint}"
                              + did_you_mean(e.fn, FUNCTIONS), e.pos)
        if not fn.min_args <= len(e.args) <= fn.max_args:
            n = str(fn.min_args) if fn.min_args == fn.max_args else f"{fn.min_args} to {fn.max_args}"
            raise self.st.err(f"{e.fn}() takes {n} arguments, got {len(e.args)}", e.pos)
        args = [self.visit(a) for a in e.args]
        for a, orig in zip(args, e.args, strict=True):
            if a.type.kind not in fn.accepts:
                raise self.st.err(f"{e.fn}() does not accept {a.type.base()}", orig.pos)
        return replace(e, args=tuple(args), type=fn.result([a.type for a in args]))

    def aggregator(self, e: A.Agg) -> Aggregator:
        """The aggregate's aggregator, if an aggregate may stand here at all (index domains share this)."""
        st, sc = self.st, self.sc
        if not sc.agg_ok:
            raise st.err(f"an aggregate cannot appear in {sc.what}"
                         + ("; declare it as a view" if sc.edge is None else " (no nesting)"), e.pos)
        agg = AGGREGATORS.get(e.agg)
        if agg is None:
            raise st.err(f"unknown aggregator '{e.agg}'; expected one of {', '.join(AGGREGATORS)}"
                         + did_you_mean(e.agg, AGGREGATORS), e.pos)
        return agg

    def visit_Agg(self, e: A.Agg) -> A.Expr:
        st, sc = self.st, self.sc
        agg = self.aggregator(e)
        if e.default is not None:
            raise st.err("'default' gives the value outside an index domain (grid, sequence, ...); on nodes "
                         "an empty neighbourhood yields the aggregator's identity", e.default.pos)
        node, order = self._relation(e)
        inner = replace(sc, agg_ok=False, edge=(node, order), what=f"the body of {e.agg}")
        if RELATIONS[e.relation].over_all:  # one value per graph: the aggregating node's own id is not one
            inner = replace(inner, builtins=sc.builtins - {"id"}, what=f"the body of {e.agg} over all nodes")
        body = TypeChecker(st, inner).visit(e.body)
        if body.type.kind not in agg.accepts:
            hint = {"or": "; use min/max/sum for numbers", "and": "; use min/max/sum for numbers",
                    "sum": "; use count for bools", "min": "; use and/or for bools",
                    "max": "; use and/or for bools"}.get(e.agg, "")
            raise st.err(f"'{e.agg}' aggregates {' or '.join(agg.accepts)}, got {body.type.base()}{hint}",
                         e.body.pos)
        return replace(node, body=body, type=agg.result(body.type))

    def _relation(self, e: A.Agg) -> tuple[A.Agg, str]:
        """The aggregate with ``nbr``/``me`` resolved from how its relation is written, and its edge order."""
        st, kind = self.st, self.st.kind
        rel = RELATIONS.get(e.relation)
        if rel is None:
            raise st.err(f"unknown relation '{e.relation}'; expected one of {', '.join(RELATIONS)}"
                         + did_you_mean(e.relation, RELATIONS), e.pos)
        if kind not in rel.kinds:
            have = [r for r, x in RELATIONS.items() if kind in x.kinds]
            raise st.err(f"relation '{e.relation}' needs a {' or '.join(rel.kinds)} graph, but this spec's "
                         f"graph is {kind} (it has: {', '.join(have)})", e.pos)
        if not e.nbr:
            raise st.err(f"'{e.relation}' binds a neighbour variable: write '{e.relation} u ...'", e.pos)
        if rel.arrow:
            if e.arrow != rel.arrow:
                raise st.err(f"'{e.relation}' is written '{e.relation} "
                             f"{'u' if rel.nbr_first else 'v'} {rel.arrow} {'v' if rel.nbr_first else 'u'}'",
                             e.pos)
            nbr, me = (e.nbr, e.me) if rel.nbr_first else (e.me, e.nbr)
        else:
            if e.arrow:
                raise st.err(f"'{e.relation}' is written '{e.relation} u' or '{e.relation} u of v'", e.pos)
            nbr, me = e.nbr, e.me or "v"
        if nbr == me:
            raise st.err("the neighbour and the node need different names", e.pos)
        return replace(e, nbr=nbr, me=me), rel.edge_order


def _suggest(st: CheckState, name: str) -> str:
    """A 'did you mean' hint from the declared names, built-ins and enum labels."""
    return did_you_mean(name, list(st.names) + list(BUILTINS) + list(st.labels))
