"""A field's transition problem in z3: symbolic arguments, the tree and the reference as terms, and a
solver wrapper that reads counterexamples back as argument values (docs/certificates.md)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import z3

from dpdsl import tree as T
from dpdsl.expr import nodes as N
from dpdsl.expr.torch_eval import compile_local
from dpdsl.expr.z3_backend import DOMAINS, Domain, Val, Z3Encoder, declare, model_value, same
from dpdsl.features import FeatureSet
from dpdsl.ir import SpecIR
from dpdsl.types import BOOL, T_BOOL, Type

TIMEOUT_MS = 10_000
"""Per solver call; a call that runs out says "unknown" and the field is not certified."""


class FieldProblem:
    """One field's arguments as z3 variables in one domain (``"real"`` or ``"float64"``)."""

    def __init__(self, spec: SpecIR, field: str, domain: str = "real", suffix: str = "",
                 nan_ok: frozenset[str] = frozenset()) -> None:
        self.spec, self.field, self.domain_name = spec, field, domain
        self.d: Domain = DOMAINS[domain]()
        self.st = spec.states[field]
        self.vars: dict[str, Val] = {}
        self.cons: list[z3.BoolRef] = []
        for a in self.st.args:
            v, c = declare(self.d, a + suffix, spec.arg_type(a), a in nan_ok)
            self.vars[a] = v
            self.cons += c
        self.enc = Z3Encoder(self.d, spec.param_values, self.vars)

    def encode(self, e: N.Expr) -> Val:
        return self.enc.encode(e)

    def tree(self, features: FeatureSet, tree: T.Tree) -> Val:
        """The tree as nested ``if`` over its (encoded) predicates and terms."""
        preds: dict[int, Val] = {}
        terms: dict[int, Val] = {}

        def go(t: T.Tree) -> Val:
            if isinstance(t, T.Leaf):
                if t.cls not in terms:
                    terms[t.cls] = self.encode(features.terms[t.cls])
                return terms[t.cls]
            if t.pred not in preds:
                preds[t.pred] = self.encode(features.predicates[t.pred])
            a, b = go(t.if_true), go(t.if_false)
            return z3.If(preds[t.pred], a, b) if isinstance(a, z3.BoolRef) else self.d.ite(preds[t.pred], a, b)

        return go(tree)

    def same(self, a: Val, b: Val) -> z3.BoolRef:
        return same(self.d, a, b)

    def exclusions(self) -> list[str]:
        return list(dict.fromkeys(why for _, why in self.d.exclusions))

    def solve(self, *facts: z3.BoolRef, timeout_ms: int = TIMEOUT_MS) -> tuple[str, z3.ModelRef | None]:
        """``"unsat"`` (the negated claim in ``facts`` is impossible: proved), ``"sat"`` with a model, or
        ``"unknown"``. Type constraints and the domain's exclusions are always added."""
        r, model = check_fresh([*self.cons, *[z3.Not(c) for c, _ in self.d.exclusions], *facts], timeout_ms)
        if r == z3.sat:
            return "sat", model
        return ("unsat", None) if r == z3.unsat else ("unknown", None)

    def args_of(self, model: z3.ModelRef) -> dict[str, bool | float]:
        return {a: model_value(self.d, model, v) for a, v in self.vars.items()}

    def value(self, model: z3.ModelRef, v: Val) -> bool | float:
        return model_value(self.d, model, v)


def tree_expr(features: FeatureSet, tree: T.Tree, ty: Type) -> N.Expr:
    """The tree as one typed ``if``-expression (for printing, sizes and re-checking)."""
    if isinstance(tree, T.Leaf):
        return features.terms[tree.cls]
    return N.Cond(cond=features.predicates[tree.pred], then=tree_expr(features, tree.if_true, ty),
                  other=tree_expr(features, tree.if_false, ty), type=ty.base() if ty.kind != BOOL else T_BOOL)


def expr_size(e: N.Expr) -> int:
    """Nodes of an expression: the measure "smallest rule" minimises."""
    return sum(1 for _ in N.walk(e))


# --- concrete values -------------------------------------------------------------------------------


def torch_args(spec: SpecIR, field: str, values: Mapping[str, bool | float]) -> dict[str, torch.Tensor]:
    out = {}
    for a in spec.states[field].args:
        dt = spec.arg_type(a).dtype()
        out[a] = torch.tensor([values[a]], dtype=dt)
    return out


def torch_eval(spec: SpecIR, e: N.Expr, args: Mapping[str, torch.Tensor]) -> torch.Tensor:
    n = int(next(iter(args.values())).shape[0])
    v = compile_local(spec.param_values, e)(args, n)
    return v.expand(n) if v.dim() == 0 else v


def equal_tensors(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Elementwise output equality as the executor's fixpoint test sees it (NaN equals NaN)."""
    if a.dtype == torch.bool or b.dtype == torch.bool:
        return a.to(torch.bool) == b.to(torch.bool)
    a, b = a.to(torch.float64), b.to(torch.float64)
    return (a == b) | (torch.isnan(a) & torch.isnan(b))


def show(value: bool | float, ty: Type | None = None) -> str:
    """A value as spec text: ``true``, ``3``, ``-inf``, ``0.25``, an enum label."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if ty is not None and ty.kind == "enum" and float(value).is_integer() and 0 <= value < len(ty.labels):
        return ty.labels[int(value)]
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(float(value))


@dataclass
class Counterexample:
    """Argument values where two transitions differ, their two outputs, and torch's verdict on them."""

    args: dict[str, bool | float]
    outputs: dict[str, bool | float]  # label (e.g. "student", "reference") -> value per the solver
    torch_outputs: dict[str, bool | float]  # the same, evaluated by the torch backend
    domain: str
    confirmed: bool  # torch also sees the two outputs differ at these (float64) argument values

    def describe(self, spec: SpecIR, field: str) -> str:
        st = spec.states[field]
        args = ", ".join(f"{a} = {show(self.args[a], spec.arg_type(a))}" for a in st.args)
        outs = ", ".join(f"{k} gives {show(v, st.type)}" for k, v in self.torch_outputs.items())
        note = "" if self.confirmed else (" (in exact arithmetic; the float64 values above round it away: "
                                          f"solver outputs {', '.join(show(v) for v in self.outputs.values())})")
        return f"{args}: {outs}{note}"


def counterexample(spec: SpecIR, field: str, prob: FieldProblem, model: z3.ModelRef,
                   named: Sequence[tuple[str, Val, N.Expr]]) -> Counterexample:
    """Read a model back; re-evaluate each named expression with torch at the model's argument values."""
    args = prob.args_of(model)
    targs = torch_args(spec, field, args)
    outs = {k: prob.value(model, v) for k, v, _ in named}
    touts_t = [torch_eval(spec, e, targs) for _, _, e in named]
    touts = {k: (bool(t[0]) if t.dtype == torch.bool else float(t[0])) for (k, _, _), t in zip(named, touts_t,
                                                                                                   strict=True)}
    confirmed = not bool(equal_tensors(touts_t[0], touts_t[1])[0]) if len(touts_t) == 2 else True
    return Counterexample(args, outs, touts, prob.domain_name, confirmed)


def check_fresh(claims: list, timeout_ms: int) -> tuple[z3.CheckSatResult, z3.ModelRef | None]:
    """Check ``claims`` in a fresh z3 context and bring a model back to the main one: z3's choice of
    model depends on everything the process built before, and counterexamples land in student.json,
    which must be the same bytes for the same seed."""
    ctx = z3.Context()
    s = z3.Solver(ctx=ctx)
    s.set("timeout", timeout_ms)
    s.add(*[c.translate(ctx) for c in claims])
    r = s.check()
    return r, (s.model().translate(z3.main_ctx()) if r == z3.sat else None)
