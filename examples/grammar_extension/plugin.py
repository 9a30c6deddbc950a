"""dpdsl plugin: tempered (soft) aggregates — new syntax (``ext.lark``) plus its semantics.

Load it with ``dpdsl --plugin examples/grammar_extension/plugin.py ...`` or
``dpdsl.plugins.load_plugin(path)``. It adds

* syntax ``softmin[g] over REL : body`` / ``softmax[g] over REL : body`` (``GRAMMAR``), turned into an
  ordinary ``Agg`` node by ``AST_RULES``; each temperature ``g`` becomes one registered aggregator
  named ``softmin[g]``, so the checker, the reference executor, the emitted skeleton and students
  handle it like any built-in aggregator;
* the aggregator ``logsumexp`` (= ``softmax[1]``), which needs no new syntax: aggregator names are
  plain names in the base grammar, only the ``[g]`` needs the grammar extension.

The soft minimum is the smoothed ``min`` of differentiable dynamic programming (Mensch & Blondel,
ICML 2018): ``softmin_g(x) = -g log sum_i exp(-x_i / g)``, with ``min(x) - g log k <= softmin_g(x) <=
min(x)`` over ``k`` terms, and the hard ``min`` as ``g -> 0``. An empty neighbourhood yields the
identity: ``+inf`` for softmin, ``-inf`` for softmax.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import torch
from lark import Token

from dpdsl.frontend import ast as A
from dpdsl.registry import AGGREGATORS, Aggregator, register_aggregator
from dpdsl.types import INT, REAL, T_REAL, Type

GRAMMAR = Path(__file__).resolve().parent / "ext.lark"

# kind -> (sign, identity): softmin_g(x) = -softmax_g(-x), so one kernel serves both.
TEMPERED: dict[str, tuple[float, float]] = {"softmin": (-1.0, math.inf), "softmax": (1.0, -math.inf)}


def _real(_: Type) -> Type:
    return T_REAL


def soft_reduce(
    sign: float, gamma: float
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor]:
    """A vectorised ``Aggregator.custom``: ``sign * softmax_gamma(sign * values)`` per node.

    Numerically stable (shift by the per-node extreme before ``exp``), exact at the limits: an
    all-``inf`` or empty neighbourhood gives the identity, a neighbour at the absorbing infinity
    (``-inf`` for softmin) gives that infinity, and ``gamma == 0`` is the hard min/max.
    """

    def reduce(values: torch.Tensor, me: torch.Tensor, nbr: torch.Tensor, num_nodes: int) -> torch.Tensor:
        y = values.to(torch.float64) * sign
        top = torch.full((num_nodes,), -math.inf, dtype=torch.float64)
        top.scatter_reduce_(0, me, y, reduce="amax", include_self=True)
        if gamma == 0.0:
            return top * sign
        finite = torch.isfinite(top)
        shift = torch.where(finite, top, torch.zeros_like(top)).index_select(0, me)
        total = torch.zeros(num_nodes, dtype=torch.float64).index_add_(0, me, torch.exp((y - shift) / gamma))
        out = torch.where(finite, top + gamma * torch.log(total), top)
        return out * sign

    return reduce


def _fmt(gamma: float) -> str:
    return str(int(gamma)) if gamma.is_integer() else repr(gamma)


def tempered(kind: str, gamma: float) -> str:
    """Register (once) the aggregator ``kind[gamma]`` and return its name.

    The parser calls this for every ``softmin[g]`` it reads; call it yourself before importing an
    emitted skeleton in a process that has not parsed the spec. Unknown kinds are left unregistered,
    so the checker reports them as unknown aggregators at the right position.
    """
    name = f"{kind}[{_fmt(gamma)}]"
    if kind in TEMPERED and name not in AGGREGATORS:
        sign, identity = TEMPERED[kind]
        register_aggregator(Aggregator(
            name, (INT, REAL), _real, identity, "amin" if sign < 0 else "amax", None,
            f"{'smooth minimum' if sign < 0 else 'smooth maximum'} at temperature {_fmt(gamma)}; "
            f"{'+inf' if identity > 0 else '-inf'} if empty",
            custom=soft_reduce(sign, gamma),
        ))
    return name


def _tempered_agg(meta: object, children: list) -> A.Agg:
    """``NAME [ NUMBER ] over relation : expr`` -> the same ``Agg`` node a built-in aggregate gives."""
    kind, gamma, (relation, a, arrow, b, _), body = children
    assert isinstance(kind, Token)
    name = tempered(str(kind), float(gamma))
    return A.Agg(pos=A.Pos(kind.line or 0, kind.column or 0), agg=name, relation=relation, nbr=a, me=b,
                 arrow=arrow, body=body)


AST_RULES = {"tempered_agg": _tempered_agg}

register_aggregator(Aggregator(
    "logsumexp", (INT, REAL), _real, -math.inf, "amax", None,
    "log(sum(exp(x))) (= softmax[1]); -inf if empty", custom=soft_reduce(1.0, 1.0),
))
