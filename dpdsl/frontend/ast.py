"""Syntax tree of a ``.dp`` spec: declarations with positions.

Expression nodes live in the expression core (``dpdsl.expr.nodes``) and are re-exported here, so the
parser, the checker and plugins build them as ``ast.Num``, ``ast.Agg``, ...
"""

from __future__ import annotations

from dataclasses import dataclass

from dpdsl.expr.nodes import (  # noqa: F401  (re-exported: the parser, checker and plugins build these)
    NOPOS,
    Agg,
    Binary,
    Bool,
    Call,
    Cond,
    Expr,
    Index,
    Name,
    Num,
    Pos,
    Unary,
)
from dpdsl.types import Type

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
    end_line: int = 0  # assume: the last line of the declaration (it must be on one line)


@dataclass(frozen=True)
class SpecAST:
    problem: str
    problem_pos: Pos
    decls: tuple[Decl, ...]
    source: str
    filename: str
