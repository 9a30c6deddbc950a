"""Candidate features of an unknown transition (docs/architecture.md §5): predicates for the tree's splits and the
vocabulary of terms its leaves select.

"Let the tree choose; let the DSL compute": internal nodes test predicates over the unknown's
arguments (bool arguments; comparisons between numeric arguments, and between a sum of two and a
third when the spec adds; comparisons with the spec's own constants and params; an enum argument equal
to a label or to another argument of its enum), and leaves *select* a term (a numeric argument, a
constant of the spec, or a small term built with the spec's own operators; for enum fields a label or
an enum argument) or emit a constant for bool fields. ``min``/``max``
of arguments are deliberately not terms: they are selections, which the tree expresses with a split
the LRH test can see. Features are
written as spec text and typed by the checker (as ``predicate``/``term`` declarations appended to the
spec), so the student, the distiller and the report all evaluate and print them the same way. The
``reference`` transitions are never read here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from dpdsl.check import check
from dpdsl.expr import nodes as A
from dpdsl.expr.torch_eval import compile_local
from dpdsl.expr.unparse import number_text, unparse
from dpdsl.frontend.parser import parse
from dpdsl.ir import SpecIR
from dpdsl.types import BOOL, ENUM, REAL


@dataclass(frozen=True)
class FeatureSet:
    """The candidate predicates and leaf terms of one state field, typed and printable."""

    field: str
    predicates: tuple[A.Expr, ...]
    terms: tuple[A.Expr, ...]

    @property
    def predicate_names(self) -> list[str]:
        return [unparse(p) for p in self.predicates]

    @property
    def term_names(self) -> list[str]:
        return [unparse(t) for t in self.terms]


def spec_vocabulary(spec: SpecIR) -> tuple[list[float], set[str], list[str]]:
    """Constants, operators and params the spec uses outside its reference transitions.

    Aggregators count as their iterated operator (``sum``/``count``/``mean`` use ``+``, ``prod`` uses
    ``*``, ``min``/``max`` use the functions), since a DP over them combines values that way.
    """
    exprs: list[A.Expr] = [st.init for st in spec.states.values()]
    exprs += [v.agg for v in spec.views.values()] + [o.expr for o in spec.outputs.values()]
    consts: set[float] = {0.0, math.inf}
    ops: set[str] = set()
    for e in exprs:
        for x in A.walk(e):
            if isinstance(x, A.Num):
                consts.add(float(x.value))
            elif isinstance(x, A.Binary) and x.op in "+-*/":
                ops.add(x.op)
            elif isinstance(x, A.Call):
                ops.add(x.fn)
            elif isinstance(x, A.Agg):
                ops.add({"sum": "+", "count": "+", "mean": "+", "prod": "*"}.get(x.agg, x.agg))
    return sorted(consts), ops, sorted(spec.params)


def candidate_texts(spec: SpecIR, field: str) -> tuple[list[str], list[str]]:
    """(predicate texts, term texts) for a field, deterministic order, duplicates removed."""
    st = spec.states[field]
    consts, ops, params = spec_vocabulary(spec)
    numeric = [a for a in st.args if spec.arg_type(a).is_numeric]
    bools = [a for a in st.args if spec.arg_type(a).kind == BOOL]
    const_txt = [number_text(c) for c in consts] + params
    preds: list[str] = list(bools)
    for i, a in enumerate(numeric):
        for b in numeric[i + 1:]:
            preds += [f"{a} < {b}", f"{a} == {b}", f"{b} < {a}"]
    for a in numeric:
        for c in const_txt:
            if c == "inf":
                preds.append(f"{a} == inf")
            elif c == "-inf":
                preds.append(f"{a} == -inf")
            else:
                preds += [f"{a} < {c}", f"{a} == {c}", f"{c} < {a}"]
    if "+" in ops:  # a sum the leaves can select, compared with the third argument it competes with
        preds += [p for i, a in enumerate(numeric) for b in numeric[i + 1:] for c in numeric if c not in (a, b)
                  for p in (f"{a} + {b} < {c}", f"{c} < {a} + {b}")]
    preds += _enum_predicates(spec, st.args)
    preds += [unparse(p) for p in st.predicates]
    kind = st.type.kind
    if kind == BOOL:
        terms = ["false", "true"]
    elif kind == ENUM:  # a label, or an enum argument of the same enum (so the field can keep its value)
        terms = list(st.type.labels) + [a for a in st.args if spec.arg_type(a).base() == st.type.base()]
    else:  # an int field takes no real-valued argument as a term (max_subarray's s beside its real e)
        fits = [a for a in numeric if kind == REAL or spec.arg_type(a).kind != REAL]
        terms = list(fits) + const_txt
        finite = [c for c in const_txt if c not in ("inf", "-inf", "0")]
        if "+" in ops:
            terms += [f"{a} + {b}" for i, a in enumerate(fits) for b in fits[i + 1:]]
            terms += [f"{a} + {c}" for a in fits for c in finite]
    terms += [unparse(t) for t in st.terms]
    return _dedup(preds), _dedup(terms)


def _enum_predicates(spec: SpecIR, args: tuple[str, ...]) -> list[str]:
    """``a == label`` for each enum argument and label, ``a == b`` for two arguments of one enum."""
    enums = [a for a in args if spec.arg_type(a).kind == ENUM]
    preds = [f"{a} == {lab}" for a in enums for lab in spec.arg_type(a).labels]
    for i, a in enumerate(enums):
        preds += [f"{a} == {b}" for b in enums[i + 1:] if spec.arg_type(a).labels == spec.arg_type(b).labels]
    return preds


def _dedup(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(xs))


def typed_features(spec: SpecIR, field: str, predicates: list[str], terms: list[str]) -> FeatureSet:
    """Type feature texts by checking them as ``predicate``/``term`` declarations of the spec."""
    st = spec.states[field]
    base_p, base_t = len(st.predicates), len(st.terms)
    extra = "".join(f"\npredicate {field} : {p}" for p in predicates)
    extra += "".join(f"\nterm {field} : {t}" for t in terms)
    ir = check(parse(spec.source + "\n" + extra + "\n", spec.filename))
    st2 = ir.states[field]
    return FeatureSet(field, st2.predicates[base_p:], st2.terms[base_t:])


def candidate_features(spec: SpecIR, field: str) -> FeatureSet:
    """All candidate predicates and terms of a field."""
    preds, terms = candidate_texts(spec, field)
    return typed_features(spec, field, preds, terms)


@functools.lru_cache(maxsize=4096)
def _compiled(params: tuple[tuple[str, float], ...], e: A.Expr):  # noqa: ANN202 - a LocalFn closure
    """One closure per (params, feature): the dataset evaluates the same features every round."""
    return compile_local(dict(params), e)


def evaluate_features(spec: SpecIR, exprs: tuple[A.Expr, ...], args: dict[str, torch.Tensor],
                      dtype: torch.dtype) -> torch.Tensor:
    """``[N, len(exprs)]`` values of features given the unknown's arguments (vectorised per feature)."""
    n = int(next(iter(args.values())).shape[0])
    if not exprs:
        return torch.zeros(n, 0, dtype=dtype)
    cols = []
    params = tuple(sorted(spec.param_values.items()))
    for e in exprs:
        v = _compiled(params, e)(args, n)
        if v.dim() == 0:
            v = v.expand(n)
        cols.append(v.to(dtype))
    return torch.stack(cols, dim=1)
