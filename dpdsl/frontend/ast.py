"""Syntax tree of a ``.dp`` spec.

Expression nodes are shared by the parser and the checker: the parser builds them untyped
(``type is None``); the checker returns typed copies (``dataclasses.replace``) with names resolved, and
those typed trees are what the IR, the executor, the code generator and the distiller read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass(frozen=True)
class Unary(Expr):
    op: str = ""  # '-' or 'not'
    x: Expr = field(default_factory=Expr)


@dataclass(frozen=True)
class Binary(Expr):
    op: str = ""  # + - * / < <= > >= == != and or
    a: Expr = field(default_factory=Expr)
    b: Expr = field(default_factory=Expr)


@dataclass(frozen=True)
class Cond(Expr):
    cond: Expr = field(default_factory=Expr)
    then: Expr = field(default_factory=Expr)
    other: Expr = field(default_factory=Expr)


@dataclass(frozen=True)
class Agg(Expr):
    """``agg over relation nbr (->|--) me : body``; ``me`` is the aggregating node."""

    agg: str = ""
    relation: str = ""
    nbr: str = "u"
    me: str = "v"
    arrow: str = ""
    body: Expr = field(default_factory=Expr)


# --- declarations -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Decl:
    kind: str  # graph, input, param, state, init, view, transition, reference, rounds, output, ...
    name: str
    pos: Pos
    name_pos: Pos
    type: Type | None = None
    type_pos: Pos | None = None
    expr: Expr | None = None
    site: str = ""  # input: node | edge; sample_input: the sampler's name
    site_pos: Pos | None = None  # sample_input: where the sampler's name is
    args: tuple[tuple[str, Pos], ...] = ()  # transition: unknown(...) arguments
    fixpoint: bool = False  # rounds ... until fixpoint
    call_args: tuple[tuple[str | None, float, Pos], ...] = ()  # sample: (kw or None, value, pos)
    lo: int = 0  # sample graph nodes lo..hi
    hi: int = 0


@dataclass(frozen=True)
class SpecAST:
    problem: str
    problem_pos: Pos
    decls: tuple[Decl, ...]
    source: str
    filename: str
