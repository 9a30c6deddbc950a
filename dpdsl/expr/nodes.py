"""Expression nodes of the ``.dp`` language, and the one visitor every backend subclasses.

The parser builds nodes untyped (``type is None``); the checker returns typed copies
(``dataclasses.replace``) with names resolved, and those typed trees are what the IR, the executor, the
code generator, the distiller and the verifier read. Every node exposes its sub-expressions through
``children()`` and rebuilds itself from new ones with ``with_children``, so generic walks (``walk``)
never need to know the node kinds; backends that do (evaluation, source, folding, unparsing) subclass
:class:`Visitor`, which dispatches on the node's class and names the missing method when a backend lacks
one (docs/architecture.md §3).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

from dpdsl.types import Type


@dataclass(frozen=True)
class Pos:
    line: int
    column: int


NOPOS = Pos(0, 0)


@dataclass(frozen=True)
class Expr:
    pos: Pos = field(default=NOPOS, compare=False, repr=False)
    type: Type | None = field(default=None, compare=False, repr=False)

    def children(self) -> tuple[Expr, ...]:
        """The direct sub-expressions, in evaluation order (leaves have none)."""
        return ()

    def with_children(self, kids: tuple[Expr, ...]) -> Expr:
        """A copy with ``children()`` replaced by ``kids`` (same count, same order)."""
        if kids:
            raise ValueError(f"{type(self).__name__} has no children")
        return self


@dataclass(frozen=True)
class Num(Expr):
    value: float = 0.0


@dataclass(frozen=True)
class Bool(Expr):
    value: bool = False


@dataclass(frozen=True)
class Name(Expr):
    """A bare name. ``kind`` is set by the checker: state, input, view, param, builtin, label."""

    name: str = ""
    kind: str = ""


@dataclass(frozen=True)
class Index(Expr):
    """``x[u]`` (neighbour), ``x[v]`` (own) or ``w[u, v]`` (edge) inside an aggregate.

    ``site`` is set by the checker: ``nbr``, ``self`` or ``edge``; ``kind`` as for ``Name``.
    """

    name: str = ""
    args: tuple[str, ...] = ()
    site: str = ""
    kind: str = ""


@dataclass(frozen=True)
class Call(Expr):
    fn: str = ""
    args: tuple[Expr, ...] = ()

    def children(self) -> tuple[Expr, ...]:
        return self.args

    def with_children(self, kids: tuple[Expr, ...]) -> Expr:
        return replace(self, args=tuple(kids))


@dataclass(frozen=True)
class Unary(Expr):
    op: str = ""  # '-' or 'not'
    x: Expr = field(default_factory=Expr)

    def children(self) -> tuple[Expr, ...]:
        return (self.x,)

    def with_children(self, kids: tuple[Expr, ...]) -> Expr:
        (x,) = kids
        return replace(self, x=x)


@dataclass(frozen=True)
class Binary(Expr):
    op: str = ""  # see dpdsl.expr.ops.BINARY
    a: Expr = field(default_factory=Expr)
    b: Expr = field(default_factory=Expr)

    def children(self) -> tuple[Expr, ...]:
        return (self.a, self.b)

    def with_children(self, kids: tuple[Expr, ...]) -> Expr:
        a, b = kids
        return replace(self, a=a, b=b)


@dataclass(frozen=True)
class Cond(Expr):
    cond: Expr = field(default_factory=Expr)
    then: Expr = field(default_factory=Expr)
    other: Expr = field(default_factory=Expr)

    def children(self) -> tuple[Expr, ...]:
        return (self.cond, self.then, self.other)

    def with_children(self, kids: tuple[Expr, ...]) -> Expr:
        c, t, o = kids
        return replace(self, cond=c, then=t, other=o)


@dataclass(frozen=True)
class Agg(Expr):
    """``agg over relation nbr (->|--) me : body [default e]``; ``me`` is the aggregating node.

    ``default`` (index domains only, docs/architecture.md §12) replaces the aggregator's identity where
    a tuple receives no message; it reads only params and the tuple's index variables.
    """

    agg: str = ""
    relation: str = ""
    nbr: str = "u"
    me: str = "v"
    arrow: str = ""
    body: Expr = field(default_factory=Expr)
    default: Expr | None = None

    def children(self) -> tuple[Expr, ...]:
        return (self.body,)

    def with_children(self, kids: tuple[Expr, ...]) -> Expr:
        (body,) = kids
        return replace(self, body=body)


NODE_KINDS: tuple[type[Expr], ...] = (Num, Bool, Name, Index, Call, Unary, Binary, Cond, Agg)
"""Every concrete expression node class: what each backend must handle (tests/test_expr_core.py)."""


def walk(e: Expr) -> Iterator[Expr]:
    """``e`` and every expression below it, pre-order (iterative: deep trees cannot overflow)."""
    stack = [e]
    while stack:
        x = stack.pop()
        yield x
        stack.extend(reversed(x.children()))


R = TypeVar("R")


class Visitor(Generic[R]):
    """Dispatch ``visit(e)`` to ``visit_<ClassName>(e)``: the one base of every expression backend.

    A backend that lacks a method for a node kind fails loudly, naming the kind, instead of falling
    through a chain of ``isinstance`` tests.
    """

    def visit(self, e: Expr) -> R:
        method = getattr(self, "visit_" + type(e).__name__, None)
        if method is None:
            raise NotImplementedError(f"{type(self).__name__} does not handle {type(e).__name__} nodes")
        return method(e)
