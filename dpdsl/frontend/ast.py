"""Syntax tree of a ``.dp`` spec: one typed declaration class per declaration kind, with positions.

Each declaration rule of the base grammar (``graph_decl``, ``input_decl``, ...) has its own frozen
dataclass, so every field means one thing (an input's ``site`` is ``node``/``edge``; a sample clause's
sampler is ``sampler``) and a checker pass asks for exactly the kind it handles. ``KEYWORD`` is the kind's
name as error messages spell it (``duplicate init dist``, ``already declared as input``).

Expression nodes live in the expression core (``dpdsl.expr.nodes``) and are re-exported here, so the
parser, the checker and plugins build them as ``ast.Num``, ``ast.Agg``, ...
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

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
    """Base of every declaration; ``pos`` is where its keyword starts."""

    pos: Pos
    KEYWORD: ClassVar[str] = ""


@dataclass(frozen=True)
class NamedDecl(Decl):
    """A declaration about one name (a state field, an input, ...); ``name_pos`` points at the name."""

    name: str
    name_pos: Pos


@dataclass(frozen=True)
class GraphDecl(Decl):
    """``graph KIND``."""

    kind: str
    kind_pos: Pos
    KEYWORD: ClassVar[str] = "graph"


@dataclass(frozen=True)
class DomainDecl(Decl):
    """``domain KIND``: the index domain the states live on (nodes, pairs, sequence, grid, intervals)."""

    kind: str
    kind_pos: Pos
    KEYWORD: ClassVar[str] = "domain"


@dataclass(frozen=True)
class InputDecl(NamedDecl):
    """``input SITE NAME : TYPE`` (``site`` node or edge) or ``input NAME[VAR] : TYPE`` (``site`` pos: a
    per-position input of the sequence axis that ``VAR`` indexes)."""

    site: str
    type: Type
    type_pos: Pos
    index: tuple[tuple[str, Pos], ...] = ()
    KEYWORD: ClassVar[str] = "input"


@dataclass(frozen=True)
class ParamDecl(NamedDecl):
    """``param NAME : TYPE = EXPR`` (the value must fold to a constant)."""

    type: Type
    type_pos: Pos
    expr: Expr
    KEYWORD: ClassVar[str] = "param"


@dataclass(frozen=True)
class StateDecl(NamedDecl):
    """``state NAME[VARS] : TYPE``; ``index`` names the domain's index variables (empty on nodes)."""

    type: Type
    type_pos: Pos
    index: tuple[tuple[str, Pos], ...] = ()
    KEYWORD: ClassVar[str] = "state"


@dataclass(frozen=True)
class InitDecl(NamedDecl):
    """``init NAME = EXPR``."""

    expr: Expr
    KEYWORD: ClassVar[str] = "init"


@dataclass(frozen=True)
class ViewDecl(NamedDecl):
    """``view NAME = AGG`` (the grammar admits only an aggregate here)."""

    expr: Expr
    KEYWORD: ClassVar[str] = "view"


@dataclass(frozen=True)
class TransitionDecl(NamedDecl):
    """``transition NAME = unknown(ARG, ...)``; ``args`` are (name, position) pairs."""

    args: tuple[tuple[str, Pos], ...]
    KEYWORD: ClassVar[str] = "transition"


@dataclass(frozen=True)
class ReferenceDecl(NamedDecl):
    """``reference NAME = EXPR``: the ground-truth transition over the unknown's arguments."""

    expr: Expr
    KEYWORD: ClassVar[str] = "reference"


@dataclass(frozen=True)
class RoundsDecl(Decl):
    """``rounds EXPR [until fixpoint]``."""

    expr: Expr
    fixpoint: bool
    KEYWORD: ClassVar[str] = "rounds"


@dataclass(frozen=True)
class OutputDecl(NamedDecl):
    """``output NAME [= EXPR]``; without an expression it outputs the state field of that name."""

    expr: Expr | None
    KEYWORD: ClassVar[str] = "output"


@dataclass(frozen=True)
class PredicateDecl(NamedDecl):
    """``predicate STATE : EXPR``: an extra bool feature for the distiller."""

    expr: Expr
    KEYWORD: ClassVar[str] = "predicate"


@dataclass(frozen=True)
class TermDecl(NamedDecl):
    """``term STATE : EXPR``: an extra leaf value for the distiller."""

    expr: Expr
    KEYWORD: ClassVar[str] = "term"


@dataclass(frozen=True)
class AssumeDecl(NamedDecl):
    """``assume STATE : BOOL-EXPR``: an invariant of the field's arguments, read only by ``dpdsl verify``
    (``end_line``: it must be a line of its own, since the spec hash leaves assume lines out)."""

    expr: Expr
    end_line: int = 0
    KEYWORD: ClassVar[str] = "assume"


@dataclass(frozen=True)
class CallArg:
    """One argument of a sample clause's call: ``keyword = value`` or a positional ``value``."""

    keyword: str | None
    value: float
    pos: Pos


@dataclass(frozen=True)
class SampleGraphDecl(Decl):
    """``sample graph FAMILY[(k = v, ...)] nodes LO..HI``."""

    family: str
    family_pos: Pos
    call_args: tuple[CallArg, ...]
    lo: int
    hi: int
    KEYWORD: ClassVar[str] = "sample_graph"


@dataclass(frozen=True)
class SampleLengthDecl(Decl):
    """``sample length LO..HI``: the total length of a sequence domain's instances (a grid splits it
    between its two sequences as CLRS-30 does: the second gets half, rounded down)."""

    lo: int
    hi: int
    KEYWORD: ClassVar[str] = "sample_length"


@dataclass(frozen=True)
class SampleInputDecl(NamedDecl):
    """``sample INPUT SAMPLER[(a, ...)]``."""

    sampler: str
    sampler_pos: Pos
    call_args: tuple[CallArg, ...]
    KEYWORD: ClassVar[str] = "sample_input"


DECL_KINDS: tuple[type[Decl], ...] = (
    GraphDecl, DomainDecl, InputDecl, ParamDecl, StateDecl, InitDecl, ViewDecl, TransitionDecl, ReferenceDecl,
    RoundsDecl, OutputDecl, PredicateDecl, TermDecl, AssumeDecl, SampleGraphDecl, SampleInputDecl,
    SampleLengthDecl,
)
"""Every concrete declaration class: what the parser builds and the checker must consume."""


@dataclass(frozen=True)
class SpecAST:
    problem: str
    problem_pos: Pos
    decls: tuple[Decl, ...]
    source: str
    filename: str
