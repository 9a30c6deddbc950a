"""The typed IR of a checked spec (docs/architecture.md §2): what every later stage reads.

Expressions inside are typed ``dpdsl.frontend.ast`` trees (the checker filled ``type`` and resolved
names). The IR is immutable and carries the source text and its hash, so artifacts can record exactly
which spec produced them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from dpdsl.assume import hashed_source
from dpdsl.frontend.ast import Agg, Expr
from dpdsl.types import Type


@dataclass(frozen=True)
class InputIR:
    name: str
    site: str  # node | edge | pos (a per-position input of a sequence axis, index domains)
    type: Type
    axis: int = 0  # site pos: which axis of the domain (grid: 0 for i, 1 for j)


@dataclass(frozen=True)
class DomainIR:
    """The index domain the states live on (docs/architecture.md §12): ``nodes`` (the default), ``pairs``
    of nodes, a ``sequence``, a ``grid`` over two sequences, or the ``intervals`` i <= j of a sequence.

    ``vars`` are the states' index variables (``d[i, j]``), ``inputs`` the per-position inputs.
    """

    kind: str = "nodes"
    vars: tuple[str, ...] = ()
    inputs: dict[str, InputIR] = field(default_factory=dict)

    @property
    def indexed(self) -> bool:
        """Whether states live on tuples other than the graph's nodes (the lowered engine runs them)."""
        return self.kind != "nodes"


@dataclass(frozen=True)
class ParamIR:
    name: str
    type: Type
    value: float


@dataclass(frozen=True)
class StateIR:
    """A state field: its init, its unknown transition's arguments and optional reference.

    ``predicates`` and ``terms`` are extra candidate features the spec declares for the distiller;
    ``assumes`` are the spec's ``assume`` lines for this field (read only by ``dpdsl verify``).
    """

    name: str
    type: Type
    init: Expr
    args: tuple[str, ...]
    reference: Expr | None
    predicates: tuple[Expr, ...] = ()
    terms: tuple[Expr, ...] = ()
    assumes: tuple[Expr, ...] = ()  # ``assume`` lines: claimed invariants of the arguments (dpdsl.assume)


@dataclass(frozen=True)
class ViewIR:
    name: str
    agg: Agg

    @property
    def type(self) -> Type:
        assert self.agg.type is not None
        return self.agg.type


@dataclass(frozen=True)
class OutputIR:
    name: str
    expr: Expr

    @property
    def type(self) -> Type:
        assert self.expr.type is not None
        return self.expr.type


@dataclass(frozen=True)
class RoundsIR:
    expr: Expr
    fixpoint: bool


@dataclass(frozen=True)
class SampleIR:
    family: str  # "" for a sequence domain's ``sample length LO..HI``
    family_args: tuple[tuple[str, float], ...]
    nodes: tuple[int, int]  # node range, or the total length range of a sequence domain
    inputs: tuple[tuple[str, str, tuple[float, ...]], ...]  # (input, sampler, args)


@dataclass(frozen=True)
class SpecIR:
    name: str
    graph_kind: str
    node_inputs: dict[str, InputIR]
    edge_inputs: dict[str, InputIR]
    params: dict[str, ParamIR]
    states: dict[str, StateIR]
    views: dict[str, ViewIR]
    outputs: dict[str, OutputIR]
    rounds: RoundsIR
    sample: SampleIR | None
    source: str = field(repr=False)
    filename: str = "<spec>"
    domain: DomainIR = field(default_factory=DomainIR)

    @property
    def hash(self) -> str:
        """sha256 of the spec text without its ``assume`` lines (they change no computation, so a
        teacher stays valid when one is added; ``dpdsl.assume``): what teachers and students record to
        detect a changed spec."""
        return hashlib.sha256(hashed_source(self.source).encode()).hexdigest()

    @property
    def param_values(self) -> dict[str, float]:
        """Params by value: what the expression backends fold into constants."""
        return {k: p.value for k, p in self.params.items()}

    def input_types(self, site: str) -> dict[str, Type]:
        """Declared input types of ``site`` ("node" or "edge"), as ``validate_graph`` takes them."""
        inputs = self.node_inputs if site == "node" else self.edge_inputs
        return {k: v.type for k, v in inputs.items()}

    def arg_type(self, name: str) -> Type:
        """Type of a local name an ``unknown(...)`` may take: a state field, node input or view."""
        if name in self.states:
            return self.states[name].type
        if name in self.node_inputs:
            return self.node_inputs[name].type
        return self.views[name].type
