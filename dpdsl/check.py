"""The checker: ``SpecAST`` -> ``SpecIR``. Resolves names, infers and checks types, validates rounds,
relations and sample clauses. Every error is one ``DslError`` pointing at the offending token.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from dpdsl.assume import check_assumes
from dpdsl.errors import DslError
from dpdsl.frontend import ast as A
from dpdsl.ir import InputIR, OutputIR, ParamIR, RoundsIR, SampleIR, SpecIR, StateIR, ViewIR
from dpdsl.registry import AGGREGATORS, BUILTINS, FUNCTIONS, GRAPH_KINDS, RELATIONS, join_numeric
from dpdsl.types import BOOL, ENUM, INT, NODE, REAL, T_BOOL, T_INT, T_REAL, Type

SCALAR_KINDS = (BOOL, INT, REAL)
MAX_SAMPLE_NODES = 2**31 - 1  # node ids stay exact in int32 / float64 and numpy's int64 draws


@dataclass
class _Scope:
    """What names an expression may use. ``only`` restricts local names (reference transitions)."""

    what: str  # human description for messages, e.g. "the init of dist"
    allow: frozenset[str]  # kinds: state, input, view, param, builtin, label
    only: frozenset[str] | None = None
    builtins: frozenset[str] = frozenset({"id", "n"})
    agg_ok: bool = False
    edge: tuple[A.Agg, str] | None = None  # inside an aggregate: (agg, relation edge order)


class Checker:
    def __init__(self, spec: A.SpecAST) -> None:
        self.ast = spec
        self.src = spec.source
        self.file = spec.filename

    # --- helpers -------------------------------------------------------------------------------
    def err(self, msg: str, pos: A.Pos) -> DslError:
        line = pos.line if pos.line > 0 else None
        return DslError(msg, line=line, column=pos.column or 1, source=self.src, filename=self.file)

    def run(self) -> SpecIR:
        decls = self.ast.decls
        seen: dict[tuple[str, str], A.Decl] = {}
        groups: dict[str, list[A.Decl]] = {}
        for d in decls:
            groups.setdefault(d.kind, []).append(d)
            if d.kind in ("predicate", "term", "assume"):
                continue
            key = (d.kind, d.name) if d.kind != "rounds" else ("rounds", "")
            if d.kind == "sample_graph":
                key = ("sample_graph", "")
            if key in seen:
                first = seen[key].pos
                what = {"sample_graph": "sample graph", "rounds": "rounds"}.get(d.kind, f"{d.kind} {d.name}")
                raise self.err(f"duplicate {what}; first declared at line {first.line}", d.pos)
            seen[key] = d

        # graph kind
        graph = groups.get("graph", [])
        if not graph:
            raise self.err("missing 'graph' declaration (one of: " + ", ".join(GRAPH_KINDS) + ")",
                           self.ast.problem_pos)
        if len(graph) > 1:
            raise self.err(f"duplicate graph declaration; first at line {graph[0].pos.line}", graph[1].pos)
        self.kind = graph[0].name
        if self.kind not in GRAPH_KINDS:
            raise self.err(f"unknown graph kind '{self.kind}'; expected one of {', '.join(GRAPH_KINDS)}",
                           graph[0].name_pos)

        # global namespace
        self.names: dict[str, tuple[str, A.Decl]] = {}
        for d in decls:
            if d.kind in ("input", "param", "state", "view"):
                if d.name in self.names:
                    other = self.names[d.name][1]
                    raise self.err(f"name '{d.name}' already declared as {other.kind} at line "
                                   f"{other.pos.line}", d.name_pos)
                if d.name in BUILTINS or d.name in FUNCTIONS:
                    raise self.err(f"'{d.name}' is a built-in name and cannot be redeclared", d.name_pos)
                self.names[d.name] = (d.kind, d)
        self.labels: dict[str, Type] = {}
        for d in decls:
            if d.type is not None:
                self._check_type_decl(d)

        self.inputs = {d.name: InputIR(d.name, d.site, d.type) for d in groups.get("input", [])}
        self.params: dict[str, ParamIR] = {}
        for d in groups.get("param", []):
            e = self.expr(d.expr, _Scope(f"the value of param {d.name}", frozenset({"param"}),
                                         builtins=frozenset()))
            val = _const_value(e)
            if val is None:
                raise self.err("a param value must be a constant", d.expr.pos)
            self._assignable(e.type, d.type, d.expr.pos, f"param {d.name}")
            if math.isnan(val):
                raise self.err(f"param {d.name} is not a number (nan)", d.expr.pos)
            if d.type.kind != BOOL and not d.type.admits(val):
                raise self.err(f"param {d.name} = {val:g} violates its range {d.type.describe_range()}",
                               d.expr.pos)
            self.params[d.name] = ParamIR(d.name, d.type, val)

        # views
        self.views: dict[str, ViewIR] = {}
        for d in groups.get("view", []):
            scope = _Scope(f"view {d.name}", frozenset({"state", "input", "param", "builtin", "label"}),
                           agg_ok=True)
            agg = self.expr(d.expr, scope)
            self.views[d.name] = ViewIR(d.name, agg)

        # states
        states_decl = groups.get("state", [])
        if not states_decl:
            raise self.err("a spec needs at least one 'state' field", self.ast.problem_pos)
        inits = {d.name: d for d in groups.get("init", [])}
        trans = {d.name: d for d in groups.get("transition", [])}
        refs = {d.name: d for d in groups.get("reference", [])}
        for kind, table in (("init", inits), ("transition", trans), ("reference", refs)):
            for name, d in table.items():
                if name not in self.names or self.names[name][0] != "state":
                    what = "not declared" if name not in self.names else f"a {self.names[name][0]}"
                    raise self.err(f"{kind} for '{name}', which is {what}; {kind} defines a state field",
                                   d.name_pos)
        states: dict[str, StateIR] = {}
        state_names = {d.name for d in states_decl}
        for d in groups.get("predicate", []) + groups.get("term", []) + groups.get("assume", []):
            if d.name not in state_names:
                raise self.err(f"{d.kind} for '{d.name}', which is not a state field", d.name_pos)
        for d in states_decl:
            if d.name not in inits:
                raise self.err(f"state '{d.name}' has no init; add 'init {d.name} = ...'", d.name_pos)
            if d.name not in trans:
                raise self.err(f"state '{d.name}' has no transition; add "
                               f"'transition {d.name} = unknown(...)'", d.name_pos)
            init = self.expr(inits[d.name].expr, _Scope(f"the init of {d.name}",
                                                          frozenset({"input", "param", "builtin", "label"})))
            self._assignable(init.type, d.type, inits[d.name].expr.pos, f"state {d.name}")
            ival = _const_value(init, self.params)
            if ival is not None and d.type.kind in (INT, REAL) and not d.type.admits(ival):
                raise self.err(f"init {d.name} = {ival:g} is outside the range of state {d.name} "
                               f"({d.type.describe_range() or 'a number'})", inits[d.name].expr.pos)
            t = trans[d.name]
            args: list[str] = []
            for a, apos in t.args:
                kind = self.names.get(a, ("",))[0]
                if kind not in ("state", "input", "view") or (kind == "input" and
                                                                self.inputs[a].site != "node"):
                    why = ("not declared" if a not in self.names and a not in BUILTINS
                           else "a built-in" if a in BUILTINS else f"a {kind}"
                           if kind != "input" else "an edge input")
                    raise self.err(f"unknown(...) argument '{a}' is {why}; arguments must be local names "
                                   "(the node's own state fields, node inputs or views)", apos)
                if a in args:
                    raise self.err(f"unknown(...) argument '{a}' is repeated", apos)
                args.append(a)
            if not args:
                raise self.err(f"unknown() for '{d.name}' needs at least one argument", t.name_pos)
            only = frozenset(args)
            local = _Scope(f"the reference of {d.name}", frozenset({"state", "input", "view", "param",
                                                                     "label"}), only=only,
                           builtins=frozenset())
            ref = None
            if d.name in refs:
                ref = self.expr(refs[d.name].expr, local)
                self._assignable(ref.type, d.type, refs[d.name].expr.pos, f"state {d.name}",
                                 what="the reference")
            preds, terms = [], []
            for p in [x for x in groups.get("predicate", []) if x.name == d.name]:
                e = self.expr(p.expr, replace(local, what=f"a predicate for {d.name}"))
                if e.type.kind != BOOL:
                    raise self.err(f"a predicate must be bool, got {e.type}", p.expr.pos)
                preds.append(e)
            for p in [x for x in groups.get("term", []) if x.name == d.name]:
                e = self.expr(p.expr, replace(local, what=f"a term for {d.name}"))
                self._assignable(e.type, d.type, p.expr.pos, f"state {d.name}", what="the term")
                terms.append(e)
            assumes = check_assumes(self, groups.get("assume", []), d.name, local)
            states[d.name] = StateIR(d.name, d.type, init, tuple(args), ref, tuple(preds), tuple(terms), assumes)

        # rounds
        rounds = groups.get("rounds", [])
        if not rounds:
            raise self.err("missing 'rounds' declaration, e.g. 'rounds n - 1 until fixpoint'",
                           self.ast.problem_pos)
        r = rounds[0]
        bi = frozenset({"n", "height"} if self.kind == "tree" else {"n"})
        rexpr = self.expr(r.expr, _Scope("rounds", frozenset({"param", "builtin"}), builtins=bi))
        if rexpr.type.kind not in (INT,):
            raise self.err(f"rounds must be an int expression over n{', height' if self.kind == 'tree' else ''}"
                           f" and params, got {rexpr.type}", r.expr.pos)
        for leaf in _subexprs(rexpr):  # a non-finite cap would silently run 0 rounds
            lval = _const_value(leaf, self.params) if isinstance(leaf, (A.Num, A.Name)) else None
            if lval is not None and not math.isfinite(lval):
                raise self.err(f"rounds must be finite, but this is {lval:g}", leaf.pos)
        cval = _const_value(rexpr, self.params)
        if cval is not None and not 0 <= cval < math.inf:
            raise self.err(f"rounds must be a finite number >= 0, got {cval:g}", r.expr.pos)

        # outputs
        outputs: dict[str, OutputIR] = {}
        for d in groups.get("output", []):
            if d.expr is None:
                if d.name not in states:
                    raise self.err(f"'output {d.name}' names no state field; write 'output {d.name} = ...'",
                                   d.name_pos)
                expr = A.Name(pos=d.name_pos, type=states[d.name].type.base(), name=d.name, kind="state")
            else:
                if d.name in self.names and self.names[d.name][0] != "state":
                    raise self.err(f"output '{d.name}' clashes with the {self.names[d.name][0]} of that name",
                                   d.name_pos)
                expr = self.expr(d.expr, _Scope(f"output {d.name}", frozenset(
                    {"state", "input", "view", "param", "builtin", "label"}), agg_ok=True))
            outputs[d.name] = OutputIR(d.name, expr)
        if not outputs:
            raise self.err("a spec needs at least one 'output'", self.ast.problem_pos)

        sample = self._sample(groups)
        node_inputs = {k: v for k, v in self.inputs.items() if v.site == "node"}
        edge_inputs = {k: v for k, v in self.inputs.items() if v.site == "edge"}
        return SpecIR(self.ast.problem, self.kind, node_inputs, edge_inputs, self.params, states,
                      self.views, outputs, RoundsIR(rexpr, r.fixpoint), sample, self.src, self.file)

    # --- types ---------------------------------------------------------------------------------
    def _check_type_decl(self, d: A.Decl) -> None:
        t = d.type
        if t.kind == ENUM:
            if len(set(t.labels)) != len(t.labels):
                raise self.err("enum labels must be distinct", d.type_pos)
            for lab in t.labels:
                if lab in self.names or lab in BUILTINS:
                    raise self.err(f"enum label '{lab}' clashes with a declared name", d.type_pos)
                prev = self.labels.get(lab)
                if prev is not None and prev != t:
                    raise self.err(f"enum label '{lab}' is already used by another enum type", d.type_pos)
                self.labels[lab] = t
            return
        if t.kind not in SCALAR_KINDS:
            raise self.err(f"unknown type '{t.kind}'; expected bool, int, real or {{label, ...}}", d.type_pos)
        if t.kind == BOOL and (t.lo is not None or t.hi is not None):
            raise self.err("bool takes no range", d.type_pos)
        if t.lo is not None and t.hi is not None and t.lo > t.hi:
            raise self.err(f"empty range: {t.lo:g} > {t.hi:g}", d.type_pos)

    def _assignable(self, got: Type, want: Type, pos: A.Pos, target: str, what: str = "the value") -> None:
        ok = got.kind == want.kind or (want.kind == REAL and got.kind in (INT, NODE)) or (
            want.kind == INT and got.kind == NODE)
        if want.kind == ENUM:
            ok = got.kind == ENUM and got.labels == want.labels
        if not ok:
            raise self.err(f"type mismatch: {what} is {got.base()} but {target} is {want.base()}", pos)

    # --- expressions ---------------------------------------------------------------------------
    def expr(self, e: A.Expr, sc: _Scope) -> A.Expr:
        m = getattr(self, "_e_" + type(e).__name__)
        return m(e, sc)

    def _e_Num(self, e: A.Num, sc: _Scope) -> A.Expr:
        t = T_INT if (math.isinf(e.value) or float(e.value).is_integer()) else T_REAL
        return replace(e, type=t)

    def _e_Bool(self, e: A.Bool, sc: _Scope) -> A.Expr:
        return replace(e, type=T_BOOL)

    def _e_Name(self, e: A.Name, sc: _Scope) -> A.Expr:
        name = e.name
        if name in self.labels and name not in self.names:
            return replace(e, type=self.labels[name], kind="label")
        if name in BUILTINS and name not in self.names:
            if name not in sc.builtins:
                where = ", ".join(sorted(sc.builtins)) or "none"
                raise self.err(f"built-in '{name}' cannot be used in {sc.what} (allowed here: {where})",
                               e.pos)
            return replace(e, type=BUILTINS[name][0], kind="builtin")
        if name not in self.names:
            raise self.err(f"unknown name '{name}'" + self._suggest(name), e.pos)
        kind, d = self.names[name]
        if sc.edge is not None and kind in ("state", "input"):
            agg = sc.edge[0]
            raise self.err(f"inside an aggregate, write {name}[{agg.nbr}] for the neighbour's value or "
                           f"{name}[{agg.me}] for the node's own", e.pos)
        if kind not in sc.allow:
            raise self.err(f"{sc.what} cannot read the {kind} '{name}'", e.pos)
        if sc.only is not None and kind in ("state", "input", "view") and name not in sc.only:
            raise self.err(f"{sc.what} reads '{name}', which is not an argument of its unknown(...); "
                           f"arguments: {', '.join(sorted(sc.only))}", e.pos)
        if kind == "input" and self.inputs[name].site == "edge":
            raise self.err(f"'{name}' is an edge input; use it inside an aggregate as {name}[u, v]", e.pos)
        if kind == "param":
            return replace(e, type=d.type.base(), kind="param")
        if kind == "view":
            if name not in self.views:
                raise self.err(f"view '{name}' is used before it is defined", e.pos)
            return replace(e, type=self.views[name].type, kind="view")
        return replace(e, type=d.type.base(), kind=kind)

    def _suggest(self, name: str) -> str:
        import difflib

        pool = list(self.names) + list(BUILTINS) + list(self.labels)
        close = difflib.get_close_matches(name, pool, n=1)
        return f"; did you mean '{close[0]}'?" if close else ""

    def _e_Index(self, e: A.Index, sc: _Scope) -> A.Expr:
        if sc.edge is None:
            raise self.err(f"'{e.name}[...]' indexing is only allowed inside an aggregate "
                           "(view or output 'agg over ...'); here write the bare name", e.pos)
        agg, order = sc.edge
        kind = self.names.get(e.name, ("",))[0]
        if kind not in ("state", "input"):
            what = "not declared" if not kind else f"a {kind}"
            raise self.err(f"'{e.name}' is {what}; only state fields and inputs can be indexed", e.pos)
        if kind == "state" and "state" not in sc.allow:
            raise self.err(f"{sc.what} cannot read state '{e.name}'", e.pos)
        d = self.names[e.name][1]
        is_edge = kind == "input" and self.inputs[e.name].site == "edge"
        if is_edge:
            if len(e.args) != 2:
                raise self.err(f"edge input '{e.name}' takes two indices: {e.name}[{agg.nbr}, {agg.me}]", e.pos)
            a, b = e.args
            want = {"nbr_me": (agg.nbr, agg.me), "me_nbr": (agg.me, agg.nbr)}.get(order)
            pair_ok = (a, b) == want if want else {a, b} == {agg.nbr, agg.me} and a != b
            if not pair_ok:
                exp = f"{e.name}[{want[0]}, {want[1]}]" if want else f"{e.name}[{agg.nbr}, {agg.me}]"
                raise self.err(f"edge input index must name the edge of '{agg.relation}': expected {exp}",
                               e.pos)
            return replace(e, type=d.type.base(), site="edge", kind="input")
        if len(e.args) != 1:
            raise self.err(f"node value '{e.name}' takes one index: {e.name}[{agg.nbr}] or {e.name}[{agg.me}]",
                           e.pos)
        (a,) = e.args
        if a == agg.nbr:
            site = "nbr"
        elif a == agg.me:
            site = "self"
        else:
            raise self.err(f"unknown index '{a}'; this aggregate binds {agg.nbr} (neighbour) and "
                           f"{agg.me} (the node)", e.pos)
        return replace(e, type=d.type.base(), site=site, kind=kind)

    def _e_Unary(self, e: A.Unary, sc: _Scope) -> A.Expr:
        x = self.expr(e.x, sc)
        if e.op == "not":
            if x.type.kind != BOOL:
                raise self.err(f"'not' needs a bool, got {x.type}", e.x.pos)
            return replace(e, x=x, type=T_BOOL)
        if not x.type.is_numeric:
            raise self.err(f"unary '-' needs a number, got {x.type}", e.x.pos)
        return replace(e, x=x, type=T_INT if x.type.kind == NODE else x.type)

    def _e_Binary(self, e: A.Binary, sc: _Scope) -> A.Expr:
        a, b = self.expr(e.a, sc), self.expr(e.b, sc)
        op = e.op
        if op in ("and", "or"):
            for side, orig in ((a, e.a), (b, e.b)):
                if side.type.kind != BOOL:
                    raise self.err(f"'{op}' needs bool operands, got {side.type}", orig.pos)
            return replace(e, a=a, b=b, type=T_BOOL)
        if op in ("+", "-", "*", "/"):
            for side, orig in ((a, e.a), (b, e.b)):
                if not side.type.is_numeric:
                    raise self.err(f"'{op}' needs numbers, got {side.type}", orig.pos)
            t = T_REAL if op == "/" else join_numeric(a.type, b.type)
            return replace(e, a=a, b=b, type=t)
        # comparisons
        ka, kb = a.type.kind, b.type.kind
        if op in ("==", "!="):
            same = (a.type.is_numeric and b.type.is_numeric) or (ka == kb and ka != ENUM) or (
                ka == kb == ENUM and a.type.labels == b.type.labels)
            if not same:
                raise self.err(f"cannot compare {a.type.base()} with {b.type.base()}", e.pos)
        elif not (a.type.is_numeric and b.type.is_numeric):
            bad = a if not a.type.is_numeric else b
            raise self.err(f"'{op}' compares numbers, got {bad.type.base()}", e.pos)
        return replace(e, a=a, b=b, type=T_BOOL)

    def _e_Cond(self, e: A.Cond, sc: _Scope) -> A.Expr:
        c = self.expr(e.cond, sc)
        if c.type.kind != BOOL:
            raise self.err(f"the condition of 'if' must be bool, got {c.type}", e.cond.pos)
        a, b = self.expr(e.then, sc), self.expr(e.other, sc)
        if a.type.is_numeric and b.type.is_numeric:
            t = a.type if a.type.kind == b.type.kind else join_numeric(a.type, b.type)
        elif a.type.base() == b.type.base():
            t = a.type.base()
        else:
            raise self.err(f"'then' and 'else' branches differ in type: {a.type.base()} vs {b.type.base()}",
                           e.other.pos)
        return replace(e, cond=c, then=a, other=b, type=t)

    def _e_Call(self, e: A.Call, sc: _Scope) -> A.Expr:
        fn = FUNCTIONS.get(e.fn)
        if fn is None:
            hint = " (aggregators are written 'agg over relation u -> v : expr')" if e.fn in AGGREGATORS else ""
            raise self.err(f"unknown function '{e.fn}'; known: {', '.join(sorted(FUNCTIONS))}{hint}", e.pos)
        if not fn.min_args <= len(e.args) <= fn.max_args:
            n = str(fn.min_args) if fn.min_args == fn.max_args else f"{fn.min_args} to {fn.max_args}"
            raise self.err(f"{e.fn}() takes {n} arguments, got {len(e.args)}", e.pos)
        args = [self.expr(a, sc) for a in e.args]
        for a, orig in zip(args, e.args, strict=True):
            if a.type.kind not in fn.accepts:
                raise self.err(f"{e.fn}() does not accept {a.type.base()}", orig.pos)
        return replace(e, args=tuple(args), type=fn.result([a.type for a in args]))

    def _e_Agg(self, e: A.Agg, sc: _Scope) -> A.Expr:
        if not sc.agg_ok:
            raise self.err(f"an aggregate cannot appear in {sc.what}"
                           + ("; declare it as a view" if sc.edge is None else " (no nesting)"), e.pos)
        agg = AGGREGATORS.get(e.agg)
        if agg is None:
            raise self.err(f"unknown aggregator '{e.agg}'; expected one of {', '.join(AGGREGATORS)}", e.pos)
        rel = RELATIONS.get(e.relation)
        if rel is None:
            raise self.err(f"unknown relation '{e.relation}'; expected one of {', '.join(RELATIONS)}",
                           e.pos)
        if self.kind not in rel.kinds:
            have = [r for r, x in RELATIONS.items() if self.kind in x.kinds]
            raise self.err(f"relation '{e.relation}' needs a {' or '.join(rel.kinds)} graph, but this spec's "
                           f"graph is {self.kind} (it has: {', '.join(have)})", e.pos)
        if rel.arrow:
            if e.arrow != rel.arrow:
                raise self.err(f"'{e.relation}' is written '{e.relation} "
                               f"{'u' if rel.nbr_first else 'v'} {rel.arrow} {'v' if rel.nbr_first else 'u'}'",
                               e.pos)
            a, b = (e.nbr, e.me)
            nbr, me = (a, b) if rel.nbr_first else (b, a)
        else:
            if e.arrow:
                raise self.err(f"'{e.relation}' is written '{e.relation} u' or '{e.relation} u of v'", e.pos)
            nbr, me = e.nbr, e.me or "v"
        if nbr == me:
            raise self.err("the neighbour and the node need different names", e.pos)
        node = replace(e, nbr=nbr, me=me)
        inner = replace(sc, agg_ok=False, edge=(node, rel.edge_order), what=f"the body of {e.agg}")
        body = self.expr(e.body, inner)
        if body.type.kind not in agg.accepts:
            hint = {"or": "; use min/max/sum for numbers", "and": "; use min/max/sum for numbers",
                    "sum": "; use count for bools", "min": "; use and/or for bools",
                    "max": "; use and/or for bools"}.get(e.agg, "")
            raise self.err(f"'{e.agg}' aggregates {' or '.join(agg.accepts)}, got {body.type.base()}{hint}",
                           e.body.pos)
        return replace(node, body=body, type=agg.result(body.type))

    # --- sample --------------------------------------------------------------------------------
    def _sample(self, groups: dict[str, list[A.Decl]]) -> SampleIR | None:
        from dpdsl import sampling as S
        from dpdsl.graphs import generators as G

        gs = groups.get("sample_graph", [])
        ins = groups.get("sample_input", [])
        if not gs and not ins:
            return None
        if not gs:
            raise self.err("sample clauses need a 'sample graph FAMILY nodes LO..HI' clause", ins[0].pos)
        g = gs[0]
        fam = G.FAMILIES.get(g.name)
        if fam is None:
            raise self.err(f"unknown graph family '{g.name}'; expected one of {', '.join(G.FAMILIES)}",
                           g.name_pos)
        if not S.family_fits(fam, self.kind):
            raise self.err(f"graph family '{g.name}' does not produce {self.kind} graphs", g.name_pos)
        kwargs = []
        for kw, val, pos in g.call_args:
            if kw is None:
                raise self.err("graph family arguments are named, e.g. er(p = 0.5)", pos)
            problem = S.check_family_arg(fam, kw, val)
            if problem:
                raise self.err(problem, pos)
            kwargs.append((kw, val))
        if g.lo < 1 or g.lo > g.hi or g.hi > MAX_SAMPLE_NODES:
            raise self.err(f"bad node range {g.lo}..{g.hi}; need 1 <= lo <= hi <= {MAX_SAMPLE_NODES}",
                           g.name_pos)
        samples = []
        seen: set[str] = set()
        for d in ins:
            if d.name not in self.inputs:
                raise self.err(f"'sample {d.name}' names no declared input", d.name_pos)
            inp = self.inputs[d.name]
            args = tuple(v for kw, v, p in d.call_args)
            for kw, _, p in d.call_args:
                if kw is not None:
                    raise self.err("sampler arguments are positional, e.g. uniform(0, 1)", p)
            ty = inp.type  # an enum value is a label index: check the sampler against 0..len-1
            if ty.kind == ENUM:
                ty = Type(INT, 0.0, float(len(ty.labels) - 1))
            problem = S.check_sampler(d.site, args, ty, inp.site)
            if problem:  # an unknown sampler is pointed at; a bad draw at the input it is for
                raise self.err(problem, d.site_pos if d.site not in G.SAMPLERS and d.site_pos else d.name_pos)
            seen.add(d.name)
            samples.append((d.name, d.site, args))
        for name in self.inputs:
            if name not in seen:
                raise self.err(f"input '{name}' has no sample clause; add 'sample {name} ...'", gs[0].pos)
        return SampleIR(g.name, tuple(kwargs), (g.lo, g.hi), tuple(samples))


def _const_value(e: A.Expr, params: dict[str, ParamIR] | None = None) -> float | None:
    """Fold an expression made only of literals, arithmetic and (if given) params, for static checks."""
    if isinstance(e, A.Num):
        return e.value
    if isinstance(e, A.Name) and e.kind == "param" and params and e.name in params:
        return params[e.name].value
    if isinstance(e, A.Bool):
        return float(e.value)
    if isinstance(e, A.Unary) and e.op == "-":
        v = _const_value(e.x, params)
        return None if v is None else -v
    if isinstance(e, A.Binary) and e.op in "+-*":
        a, b = _const_value(e.a, params), _const_value(e.b, params)
        if a is None or b is None:
            return None
        return {"+": a + b, "-": a - b, "*": a * b}[e.op]
    return None


def _subexprs(e: A.Expr) -> list[A.Expr]:
    """``e`` and every expression below it."""
    out = [e]
    for f in fields(e):
        v = getattr(e, f.name)
        for x in v if isinstance(v, tuple) else (v,):
            if isinstance(x, A.Expr):
                out.extend(_subexprs(x))
    return out


def check(spec: A.SpecAST) -> SpecIR:
    """Check a parsed spec and return its typed IR (raises ``DslError``)."""
    return Checker(spec).run()
