"""The Python-source backend: a typed expression as torch code for the emitted skeleton.

The emitted module computes with the same operators as the torch backend (``dpdsl.expr.ops`` source
templates) and the same constant encoding (``dpdsl.runtime.full``), so ``dpdsl emit`` cannot drift from
the executor; tests run both on the same graphs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from dpdsl.expr import nodes as N
from dpdsl.expr.ops import BINARY, UNARY
from dpdsl.expr.torch_eval import constant_value
from dpdsl.registry import FUNCTIONS


def literal(x: float | bool, size: str) -> str:
    """Source of a constant column of ``size`` rows."""
    if isinstance(x, bool):
        return f"_full({x}, {size})"
    if math.isinf(x):
        return f"_full({'INF' if x > 0 else '-INF'}, {size})"
    return f"_full({float(x)!r}, {size})"


class SourceGen(N.Visitor[str]):
    """Expression -> Python source over tensors.

    ``names`` maps state/input/view/builtin names to the local variables holding them; ``aggs`` maps
    ``id(agg_node)`` to the source computing that aggregate; ``size`` is the row-count expression.
    Inside a ``message`` body neighbour values are ``x_j``, the node's own ``x_i``, edge inputs bare.
    """

    def __init__(self, params: Mapping[str, float], size: str, names: Mapping[str, str] | None = None,
                 aggs: Mapping[int, str] | None = None) -> None:
        self.params, self.size = params, size
        self.names = dict(names or {})
        self.aggs = dict(aggs or {})

    def visit_Num(self, e: N.Num) -> str:
        return literal(e.value, self.size)

    def visit_Bool(self, e: N.Bool) -> str:
        return literal(e.value, self.size)

    def visit_Name(self, e: N.Name) -> str:
        value = constant_value(e, self.params)
        return literal(value, self.size) if value is not None else self.names[e.name]

    def visit_Index(self, e: N.Index) -> str:
        return e.name + {"nbr": "_j", "self": "_i", "edge": ""}[e.site]

    def visit_Unary(self, e: N.Unary) -> str:
        return UNARY[e.op].source.format(x=self.visit(e.x))

    def visit_Binary(self, e: N.Binary) -> str:
        return BINARY[e.op].source.format(a=self.visit(e.a), b=self.visit(e.b))

    def visit_Cond(self, e: N.Cond) -> str:
        return f"torch.where({self.visit(e.cond)}, {self.visit(e.then)}, {self.visit(e.other)})"

    def visit_Call(self, e: N.Call) -> str:
        args = [self.visit(a) for a in e.args]
        return FUNCTIONS[e.fn].source.format(*args, args=", ".join(args))

    def visit_Agg(self, e: N.Agg) -> str:
        return self.aggs[id(e)]
