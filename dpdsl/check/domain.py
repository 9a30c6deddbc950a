"""Domain pass and the index-domain expression checker (docs/architecture.md §12).

``check_domain`` runs before the graph pass: it reads ``domain KIND``, the states' index variables
(``state d[i, j]``) and the per-position inputs (``input a[i]``), and installs
:class:`DomainTypeChecker`, which types index variables, indexed reads (``d[i, k]``, ``c[i - 1, j]``),
domain relations (``split k``, ``at``, ``prev k``, ...) and ``default`` values. On the ``nodes`` domain
(every spec without a ``domain`` line) nothing changes.
"""

from __future__ import annotations

from dataclasses import replace

from dpdsl.check.state import CheckState
from dpdsl.check.types import Scope, TypeChecker, assignable
from dpdsl.domains.core import NODE_AXIS, axes, bound_axis, parse_index
from dpdsl.frontend import ast as A
from dpdsl.registry import BUILTINS, DOMAIN_ARITY, DOMAIN_KINDS, DOMAIN_RELATIONS, RELATIONS
from dpdsl.types import T_NODE

GRAPH_DOMAINS = ("nodes", "pairs")


def check_domain(st: CheckState) -> None:
    """The domain kind, the states' index variables, and the per-position inputs' axes."""
    decls = st.take(A.DomainDecl)
    if len(decls) > 1:
        raise st.err(f"duplicate domain declaration; first at line {decls[0].pos.line}", decls[1].pos)
    kind = decls[0].kind if decls else "nodes"
    if kind not in DOMAIN_KINDS:
        raise st.err(f"unknown domain '{kind}'; expected one of {', '.join(DOMAIN_KINDS)}", decls[0].kind_pos)
    st.domain = kind
    _state_vars(st)
    _input_sites(st)
    if kind != "nodes":
        st.checker = DomainTypeChecker


def _state_vars(st: CheckState) -> None:
    kind, arity = st.domain, DOMAIN_ARITY[st.domain]
    first: A.StateDecl | None = None
    for d in st.peek(A.StateDecl):
        names = tuple(v for v, _ in d.index)
        if kind == "nodes":
            if d.index:
                raise st.err("index variables need an index domain: add 'domain pairs' (or sequence, grid, "
                             "intervals), or write the state without them", d.index[0][1])
            continue
        if len(names) != arity:
            want = ", ".join(("i", "j")[:arity])
            raise st.err(f"a state on {kind} takes {arity} index variable{'s' * (arity > 1)}: "
                         f"state {d.name}[{want}]", d.name_pos)
        if len(set(names)) != len(names):
            raise st.err("index variables must be distinct", d.index[1][1])
        if first is None:
            first, st.vars = d, names
        elif names != st.vars:
            raise st.err(f"mismatched index variables: state {first.name} uses [{', '.join(st.vars)}] "
                         f"(line {first.pos.line}); every state must use the same", d.index[0][1])
        for v, vpos in d.index:
            if v in BUILTINS:
                raise st.err(f"'{v}' is a built-in name and cannot be an index variable", vpos)
    if kind != "nodes" and not st.vars:  # no state at all: the states pass says so; type the rest meanwhile
        st.vars = ("i", "j")[:arity]


def _input_sites(st: CheckState) -> None:
    for d in st.peek(A.InputDecl):
        if d.site == "pos":
            if st.domain in GRAPH_DOMAINS:
                raise st.err(f"per-position inputs belong to sequence domains; on {st.domain} declare "
                             "'input node NAME : T' or 'input edge NAME : T'", d.index[0][1])
            var, vpos = d.index[0]
            if var not in st.vars:
                raise st.err(f"unknown index '{var}'; the states' index variables are "
                             f"{', '.join(st.vars)}", vpos)
        elif st.domain not in GRAPH_DOMAINS:
            raise st.err(f"a {st.domain} spec has no graph; declare per-position inputs as "
                         f"'input {d.name}[{st.vars[0] if st.vars else 'i'}] : ...'", d.pos)


def input_axis(st: CheckState, d: A.InputDecl) -> int:
    """The axis a per-position input runs along (grid: 0 for the first index variable, 1 for the second)."""
    return st.vars.index(d.index[0][0]) if st.domain == "grid" else 0


def check_domain_names(st: CheckState) -> None:
    """Index variables stay apart from declared names (runs after the names pass)."""
    for d in st.peek(A.StateDecl):
        for v, vpos in d.index:
            if v in st.names:
                raise st.err(f"index variable '{v}' clashes with the {st.kind_of(v)} of that name", vpos)
    st.inputs = {k: (replace(v, axis=input_axis(st, st.names[k])) if v.site == "pos" else v)  # type: ignore[arg-type]
                 for k, v in st.inputs.items()}


class DomainTypeChecker(TypeChecker):
    """The expression checker on an index domain. ``bound`` maps each index variable in scope to its
    axis: the states' variables everywhere tuple-level reads are allowed, plus a relation's bound
    variable inside its body (``inside`` is then the aggregate and its pivot variable)."""

    def __init__(self, st: CheckState, scope: Scope, bound: dict[str, int] | None = None,
                 inside: A.Agg | None = None) -> None:
        super().__init__(st, scope)
        self.bound = bound if bound is not None else dict(zip(st.vars, axes(st.domain), strict=True))
        self.inside = inside

    def visit_Name(self, e: A.Name) -> A.Expr:
        st, sc, name = self.st, self.sc, e.name
        if name in self.bound:
            if self.inside is None and "id" not in sc.builtins:
                raise st.err(f"index variable '{name}' cannot be used in {sc.what}", e.pos)
            return replace(e, type=T_NODE, kind="builtin")
        if name == "id" and name not in st.names:
            raise st.err(f"'id' is the node of a node spec; on {st.domain} use the index variables "
                         f"{', '.join(st.vars)}", e.pos)
        kind = st.kind_of(name)
        if kind in ("state", "input") and (self.inside is not None or kind == "input"):
            inp = st.inputs.get(name)
            if kind == "input" and inp is not None and inp.site == "edge" and self.inside is None:
                return super().visit_Name(e)  # the base checker's message for edge inputs
            want = f"{name}[{', '.join(st.vars)}]" if kind == "state" else f"{name}[{st.vars[0]}]"
            raise st.err(f"write '{name}' with its indices, e.g. {want}", e.pos)
        return super().visit_Name(e)

    def visit_Index(self, e: A.Index) -> A.Expr:
        st = self.st
        kind = st.kind_of(e.name)
        if kind not in ("state", "input"):
            what = "not declared" if not kind else f"a {kind}"
            raise st.err(f"'{e.name}' is {what}; only state fields and inputs can be indexed", e.pos)
        if kind == "state" and "state" not in self.sc.allow:
            raise st.err(f"{self.sc.what} cannot read state '{e.name}'", e.pos)
        idx = [parse_index(a) for a in e.args]
        for var, off in idx:
            if var not in self.bound:
                raise st.err(f"unknown index '{var}'; in scope: {', '.join(self.bound)}", e.pos)
            if off and st.domain == "pairs":
                raise st.err("pairs take no index offsets (offsets are for grid, sequence and intervals)", e.pos)
            if off and self.inside is None:
                raise st.err(f"an offset index can leave the domain; read it inside a view, e.g. "
                             f"'max over at : {e.name}[{', '.join(e.args)}] default 0'", e.pos)
        d = st.names[e.name]
        assert isinstance(d, (A.InputDecl, A.StateDecl))
        if kind == "state":
            self._state_index(e, idx)
            return replace(e, type=d.type.base(), site="tuple", kind="state")
        inp = st.inputs[e.name]
        if inp.site == "edge":
            self._edge_index(e, idx)
        else:
            want = NODE_AXIS if inp.site == "node" else inp.axis
            if len(idx) != 1:
                raise st.err(f"'{e.name}' is per {'node' if inp.site == 'node' else 'position'} and takes "
                             f"one index", e.pos)
            if self.bound[idx[0][0]] != want:
                raise st.err(f"index '{idx[0][0]}' runs along another sequence than '{e.name}' "
                             f"(declared {e.name}[{d.index[0][0] if d.index else '?'}])", e.pos)
        return replace(e, type=d.type.base(), site=inp.site, kind="input")

    def _state_index(self, e: A.Index, idx: list[tuple[str, int]]) -> None:
        st, want = self.st, axes(self.st.domain)
        if len(idx) != len(want):
            raise st.err(f"'{e.name}' lives on {st.domain} and takes {len(want)} "
                         f"ind{'ices' if len(want) > 1 else 'ex'}: {e.name}[{', '.join(st.vars)}]", e.pos)
        for (var, _), ax in zip(idx, want, strict=True):
            if self.bound[var] != ax:
                raise st.err(f"index '{var}' runs along another axis than position "
                             f"{idx.index((var, _)) + 1} of '{e.name}'", e.pos)
        if self.inside is None and st.domain in ("grid", "intervals", "sequence") and \
                tuple(v for v, _ in idx) != st.vars:
            raise st.err(f"out-of-domain index: outside an aggregate read '{e.name}[{', '.join(st.vars)}]'",
                         e.pos)

    def _edge_index(self, e: A.Index, idx: list[tuple[str, int]]) -> None:
        st, agg = self.st, self.inside
        if agg is not None and agg.relation == "edge":
            if tuple(v for v, _ in idx) != st.vars:
                raise st.err(f"edge input index must name the edge of 'edge': expected "
                             f"{e.name}[{', '.join(st.vars)}]", e.pos)
            return
        if agg is None or agg.relation not in RELATIONS:
            raise st.err(f"'{e.name}' is an edge input; read it inside in-edges/out-edges/neighbors", e.pos)
        rel = RELATIONS[agg.relation]
        pair = tuple(v for v, _ in idx)
        want = (agg.nbr, agg.me) if rel.edge_order == "nbr_me" else (agg.me, agg.nbr)
        ok = pair == want if rel.edge_order != "any" else set(pair) == {agg.nbr, agg.me}
        if len(idx) != 2 or not ok:
            raise st.err(f"edge input index must name the edge of '{agg.relation}': expected "
                         f"{e.name}[{want[0]}, {want[1]}]", e.pos)

    def visit_Agg(self, e: A.Agg) -> A.Expr:
        st, sc = self.st, self.sc
        agg = self.aggregator(e)
        node, bound = self._relation(e)
        inner = replace(sc, agg_ok=False, edge=(node, "domain"), what=f"the body of {e.agg}")
        body = DomainTypeChecker(st, inner, bound, node).visit(e.body)
        if body.type.kind not in agg.accepts:
            raise st.err(f"'{e.agg}' aggregates {' or '.join(agg.accepts)}, got {body.type.base()}", e.body.pos)
        out_t = agg.result(body.type)
        default = None
        if e.default is not None:
            dscope = Scope(f"the default of {e.agg}", frozenset({"param", "label"}))
            default = DomainTypeChecker(st, dscope).visit(e.default)
            assignable(st, default.type, out_t, e.default.pos, f"the result of {e.agg}", what="the default")
        return replace(node, body=body, type=out_t, default=default)

    def _relation(self, e: A.Agg) -> tuple[A.Agg, dict[str, int]]:
        """The aggregate with its bound variable (``nbr``) and pivot (``me``) resolved, and the variables
        its body sees."""
        st, dom = self.st, self.st.domain
        rel = DOMAIN_RELATIONS.get(e.relation)
        if rel is None or dom not in rel.domains:
            have = [r for r, x in DOMAIN_RELATIONS.items() if dom in x.domains]
            what = "unknown relation" if rel is None else "no relation"
            raise st.err(f"{what} '{e.relation}' on {dom}; {dom} has: {', '.join(have)}"
                         + (" (a split needs pairs or intervals)" if e.relation == "split" else ""), e.pos)
        bound = dict(zip(st.vars, axes(dom), strict=True))
        if rel.graph:
            grel = RELATIONS[e.relation]
            if st.kind not in grel.kinds:
                raise st.err(f"relation '{e.relation}' needs a {' or '.join(grel.kinds)} graph, but this spec's "
                             f"graph is {st.kind}", e.pos)
            if e.arrow != grel.arrow:
                raise st.err(f"'{e.relation}' on pairs is written '{e.relation} "
                             f"{'u' if grel.nbr_first else st.vars[0]} {grel.arrow} "
                             f"{st.vars[1] if grel.nbr_first else 'u'}'", e.pos)
            nbr, me = (e.nbr, e.me) if grel.nbr_first else (e.me, e.nbr)
            if me not in st.vars:
                raise st.err(f"the edge must end at an index variable ({' or '.join(st.vars)}), got '{me}'", e.pos)
        elif rel.binds:
            if not e.nbr or e.arrow or e.me:
                raise st.err(f"'{e.relation}' is written '{e.relation} k' (it binds one variable)", e.pos)
            nbr, me = e.nbr, st.vars[0]
        else:
            if e.nbr:
                raise st.err(f"'{e.relation}' binds no variable: write 'over {e.relation} : ...'", e.pos)
            nbr, me = "", st.vars[0]
        if nbr:
            if nbr in bound or nbr in st.names or nbr in BUILTINS:
                raise st.err(f"the bound variable '{nbr}' is already a name here; pick another", e.pos)
            bound[nbr] = bound_axis(dom)
        return replace(e, nbr=nbr, me=me), bound
