"""The torch backend: a typed expression compiled once into a closure over tensors.

``TorchEvaluator`` handles everything whose meaning does not depend on where the expression is
evaluated (constants, params, enum labels, operators, ``if``, function calls). What a *name* reads
depends on the site, so subclasses say it: :class:`LocalEvaluator` reads a transition's local arguments
(predicates, terms, references, students' trees); the executor's node and edge evaluators
(``dpdsl.execute``) read a whole graph's state, inputs, views and aggregates. Every compiled closure has
the signature ``fn(env, rows) -> Tensor``; ``rows`` sizes constants (nodes, or edges inside an
aggregate). Encoding as in ``dpdsl.types``: bools are ``torch.bool``, everything else float64.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from dpdsl.expr import nodes as N
from dpdsl.expr.ops import BINARY, UNARY
from dpdsl.registry import FUNCTIONS

Fn = Callable[[Any, int], torch.Tensor]
"""``fn(env, rows) -> tensor``: a compiled expression; ``env`` is whatever the evaluator's names read."""


def const(x: float | bool, rows: int) -> torch.Tensor:
    """A constant as a column: bool stays bool, numbers are float64 (so ``inf`` is legal)."""
    if isinstance(x, bool):
        return torch.full((rows,), x, dtype=torch.bool)
    return torch.full((rows,), float(x), dtype=torch.float64)


def constant_value(e: N.Name, params: Mapping[str, float]) -> float | None:
    """The value of a param or enum label name (its label index), else None."""
    if e.kind == "param":
        return params[e.name]
    if e.kind == "label":
        assert e.type is not None
        return float(e.type.labels.index(e.name))
    return None


class TorchEvaluator(N.Visitor[Fn]):
    """Compile expressions to torch closures; subclasses resolve names, indices and aggregates."""

    def __init__(self, params: Mapping[str, float]) -> None:
        self.params = params

    def compile(self, e: N.Expr) -> Fn:
        return self.visit(e)

    def visit_Num(self, e: N.Num) -> Fn:
        value = e.value
        return lambda env, rows: const(value, rows)

    def visit_Bool(self, e: N.Bool) -> Fn:
        value = e.value
        return lambda env, rows: const(value, rows)

    def visit_Name(self, e: N.Name) -> Fn:
        value = constant_value(e, self.params)
        if value is not None:
            return lambda env, rows: const(value, rows)
        return self.name(e)

    def name(self, e: N.Name) -> Fn:
        """A state field, input, view or builtin: what it reads is the subclass's to say."""
        raise NotImplementedError(f"{type(self).__name__} cannot read the {e.kind} '{e.name}'")

    def visit_Index(self, e: N.Index) -> Fn:
        raise NotImplementedError(f"{type(self).__name__}: '{e.name}[...]' is only meaningful inside an aggregate")

    def visit_Agg(self, e: N.Agg) -> Fn:
        raise NotImplementedError(f"{type(self).__name__} cannot evaluate an aggregate here")

    def visit_Unary(self, e: N.Unary) -> Fn:
        op, fx = UNARY[e.op].torch_fn, self.visit(e.x)
        return lambda env, rows: op(fx(env, rows))

    def visit_Binary(self, e: N.Binary) -> Fn:
        op, fa, fb = BINARY[e.op].torch_fn, self.visit(e.a), self.visit(e.b)
        return lambda env, rows: op(fa(env, rows), fb(env, rows))

    def visit_Cond(self, e: N.Cond) -> Fn:
        fc, ft, fo = self.visit(e.cond), self.visit(e.then), self.visit(e.other)
        return lambda env, rows: torch.where(fc(env, rows), ft(env, rows), fo(env, rows))

    def visit_Call(self, e: N.Call) -> Fn:
        fn_name, fargs = e.fn, [self.visit(a) for a in e.args]
        # looked up per call, so a plugin re-registering a function is seen by compiled students too
        return lambda env, rows: FUNCTIONS[fn_name].torch_fn(*[f(env, rows) for f in fargs])


class ContextEvaluator(TorchEvaluator):
    """Whole-run expressions over a run context (``dpdsl.execute.Context``: ``state``, ``views`` and
    ``builtins`` by name), the reads the node and the index-domain evaluators share."""

    def name(self, e: N.Name) -> Fn:
        key = e.name
        if e.kind == "state":
            return lambda c, rows: c.state[key]
        if e.kind == "view":
            return lambda c, rows: c.views[key]
        if e.kind == "builtin":
            return lambda c, rows: c.builtins[key]
        return super().name(e)


class LocalEvaluator(TorchEvaluator):
    """Node-local expressions over a transition's arguments: ``env`` maps argument names to tensors.

    The checker guarantees that references, predicates and terms read only their field's
    ``unknown(...)`` arguments, params and labels, so nothing else needs resolving here.
    """

    def name(self, e: N.Name) -> Fn:
        if e.kind not in ("state", "input", "view"):
            return super().name(e)
        key = e.name
        return lambda env, rows: env[key]


LocalFn = Callable[[Mapping[str, torch.Tensor], int], torch.Tensor]
"""``fn(local_args, rows) -> tensor``: a node-local expression compiled by :func:`compile_local`."""


def compile_local(params: Mapping[str, float], e: N.Expr) -> LocalFn:
    """Compile a node-local expression (reference, predicate, term) once."""
    return LocalEvaluator(params).compile(e)
