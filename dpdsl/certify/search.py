"""Solver-driven searches over small expressions built from a field's own vocabulary:

- :func:`suggest_invariant`: the simplest candidate ``assume`` line that holds on every sampled
  reachable argument tuple *and* makes the student provably equal to the reference;
- :func:`simplify_rule`: the smallest expression provably equal to the tree on every input.

Both enumerate by size and stop at the first hit, so what they print is the smallest *within the
enumerated family* (single literals and terms, two literals joined by ``and``/``or``, ``min``/``max``
of two terms); docs/certificates.md §5 says exactly which family.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import z3

from dpdsl import tree as T
from dpdsl.certify.encode import FieldProblem, expr_size, tree_expr
from dpdsl.certify.reach import Reached, violations
from dpdsl.expr import nodes as N
from dpdsl.expr.z3_backend import Unencodable
from dpdsl.features import FeatureSet, candidate_texts, typed_features
from dpdsl.ir import SpecIR
from dpdsl.types import BOOL, T_BOOL

_FLIP = {"<": ">=", ">=": "<", ">": "<=", "<=": ">", "==": "!=", "!=": "=="}


def negate(e: N.Expr) -> N.Expr:
    """``not e``, written as the flipped comparison when both sides are plain names or numbers (exact
    there: arguments are never NaN), else with ``not``."""
    if isinstance(e, N.Binary) and e.op in _FLIP and all(isinstance(x, (N.Name, N.Num)) for x in (e.a, e.b)):
        return N.Binary(op=_FLIP[e.op], a=e.a, b=e.b, type=T_BOOL)
    if isinstance(e, N.Unary) and e.op == "not":
        return e.x
    return N.Unary(op="not", x=e, type=T_BOOL)


def _literals(atoms: list[N.Expr]) -> list[N.Expr]:
    out: list[N.Expr] = []
    for a in atoms:
        out += [a, negate(a)]
    return out


def _bool_candidates(atoms: list[N.Expr], with_constants: bool) -> Iterator[N.Expr]:
    """Constants, literals, then two literals joined by ``or`` / ``and``, in size order."""
    if with_constants:
        yield N.Bool(value=True, type=T_BOOL)
        yield N.Bool(value=False, type=T_BOOL)
    lits = _literals(atoms)
    pairs = [N.Binary(op=op, a=x, b=y, type=T_BOOL)
             for x, y in itertools.combinations(lits, 2) for op in ("or", "and")
             if not (x == negate(y) or y == negate(x))]
    yield from sorted(lits + pairs, key=expr_size)


def suggest_invariant(spec: SpecIR, field: str, features: FeatureSet, tree: T.Tree, reached: Reached,
                      max_checks: int = 400) -> tuple[N.Expr, int] | None:
    """The simplest invariant over the field's candidate predicates (literals and two-literal ``or``s)
    that holds on every reached tuple and under which the tree equals the reference (proved in both
    domains). Returns it with the number of reached tuples it was checked on, or None."""
    st = spec.states[field]
    texts, _ = candidate_texts(spec, field)
    atoms = list(typed_features(spec, field, texts, []).predicates)
    cands = [c for c in _bool_candidates(atoms, with_constants=False)
             if not (isinstance(c, N.Binary) and c.op == "and")]
    probs = {}
    for dom in ("real", "float64"):
        p = FieldProblem(spec, field, dom)
        probs[dom] = (p, z3.Not(p.same(p.tree(features, tree), p.encode(st.reference))))
    for c in cands[:max_checks]:
        if violations(spec, field, c, reached)[0]:
            continue
        try:
            if all(p.solve(goal, p.encode(c))[0] == "unsat" for p, goal in probs.values()):
                return c, reached.rows(field)
        except Unencodable:
            continue
    return None


def simplify_rule(spec: SpecIR, field: str, features: FeatureSet, tree: T.Tree) -> N.Expr | None:
    """The smallest expression (from the tree's own predicates and terms, and the field's arguments)
    proved equal to the tree for every input in both domains, if smaller than the tree; else None."""
    st = spec.states[field]
    rule = tree_expr(features, tree, st.type)
    used_p = sorted(_used(tree, preds=True))
    used_t = sorted(_used(tree, preds=False))
    if st.type.kind == BOOL:
        atoms = [features.predicates[i] for i in used_p]
        cands = list(_bool_candidates(atoms, with_constants=True))
    else:
        terms = [features.terms[i] for i in used_t]
        args = [N.Name(name=a, kind=_kind(spec, a), type=spec.arg_type(a).base()) for a in st.args
                if spec.arg_type(a).is_numeric or spec.arg_type(a).kind == st.type.kind]
        pool = list(dict.fromkeys(terms + args))
        cands = list(pool)
        for x, y in itertools.combinations(pool, 2):
            if x.type is not None and y.type is not None and x.type.is_numeric and y.type.is_numeric:
                ty = x.type if x.type.kind == y.type.kind else spec.states[field].type.base()
                cands += [N.Call(fn=fn, args=(x, y), type=ty) for fn in ("min", "max")]
        cands.sort(key=expr_size)
    limit = expr_size(rule)
    probs = {dom: FieldProblem(spec, field, dom) for dom in ("real", "float64")}
    encoded = {dom: p.tree(features, tree) for dom, p in probs.items()}
    for c in cands:
        if expr_size(c) >= limit:
            break
        try:
            if all(p.solve(z3.Not(p.same(encoded[dom], p.encode(c))))[0] == "unsat" for dom, p in probs.items()):
                return c
        except Unencodable:
            continue
    return None


def _kind(spec: SpecIR, name: str) -> str:
    return "state" if name in spec.states else "input" if name in spec.node_inputs else "view"


def _used(t: T.Tree, preds: bool) -> set[int]:
    if isinstance(t, T.Leaf):
        return set() if preds else {t.cls}
    return ({t.pred} if preds else set()) | _used(t.if_true, preds) | _used(t.if_false, preds)
