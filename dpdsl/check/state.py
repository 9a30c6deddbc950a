"""The state every checker pass reads and fills, created whole before the first pass runs.

Passes run in a fixed order (``dpdsl.check.PASSES``); each one takes the declarations it turns into IR
through :meth:`CheckState.take`, which records that their kind was consumed, so the orchestrator can
refuse a declaration no pass handled instead of silently dropping it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from dpdsl.errors import DslError
from dpdsl.frontend import ast as A
from dpdsl.ir import DomainIR, InputIR, OutputIR, ParamIR, RoundsIR, SampleIR, SpecIR, StateIR, ViewIR
from dpdsl.types import Type

D = TypeVar("D", bound=A.Decl)


def did_you_mean(name: str, pool: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest name in ``pool`` (difflib), or ``""``: every checker
    error about an unknown name ends with it."""
    import difflib  # only on error paths: keeps checker start-up light

    close = difflib.get_close_matches(name, [p for p in pool if p != name], n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


class CheckState:
    """The spec being checked and everything resolved so far (filled pass by pass)."""

    def __init__(self, spec: A.SpecAST) -> None:
        self.ast = spec
        self.src = spec.source
        self.file = spec.filename
        self.consumed: set[type[A.Decl]] = set()
        self.kind = ""  # the graph kind, set by the names pass
        self.names: dict[str, A.NamedDecl] = {}  # the global namespace: inputs, params, states, views
        self.labels: dict[str, Type] = {}  # enum label -> its enum type
        self.inputs: dict[str, InputIR] = {}
        self.params: dict[str, ParamIR] = {}
        self.views: dict[str, ViewIR] = {}
        self.states: dict[str, StateIR] = {}
        self.rounds: RoundsIR | None = None
        self.outputs: dict[str, OutputIR] = {}
        self.sample: SampleIR | None = None
        # index domains (dpdsl.check.domain): the domain kind, the states' index variables, the
        # per-position inputs, and the expression checker class (a subclass on index domains)
        self.domain = "nodes"
        self.vars: tuple[str, ...] = ()
        self.checker: type | None = None  # None: dpdsl.check.types.TypeChecker

    def err(self, msg: str, pos: A.Pos) -> DslError:
        """A positioned error in this spec (a position without a line points at line 1)."""
        line = pos.line if pos.line > 0 else None
        return DslError(msg, line=line, column=pos.column or 1, source=self.src, filename=self.file)

    def peek(self, cls: type[D] | tuple[type[D], ...]) -> list[D]:
        """The declarations of the given kind(s), in source order (cross-cutting passes: no claim)."""
        return [d for d in self.ast.decls if isinstance(d, cls)]  # type: ignore[misc]

    def take(self, cls: type[D]) -> list[D]:
        """The declarations of one kind, in source order, claimed by the pass that builds their IR."""
        self.consumed.add(cls)
        return self.peek(cls)

    def kind_of(self, name: str) -> str:
        """The keyword (input, param, state, view) that declared a global name, or ``""``."""
        d = self.names.get(name)
        return d.KEYWORD if d is not None else ""

    @property
    def param_values(self) -> dict[str, float]:
        """Params by value, for constant folding."""
        return {k: p.value for k, p in self.params.items()}

    def ir(self) -> SpecIR:
        """The typed IR, once every pass has run."""
        assert self.rounds is not None
        node_inputs = {k: v for k, v in self.inputs.items() if v.site == "node"}
        edge_inputs = {k: v for k, v in self.inputs.items() if v.site == "edge"}
        pos_inputs = {k: v for k, v in self.inputs.items() if v.site == "pos"}
        return SpecIR(self.ast.problem, self.kind, node_inputs, edge_inputs, self.params, self.states,
                      self.views, self.outputs, self.rounds, self.sample, self.src, self.file,
                      DomainIR(self.domain, self.vars, pos_inputs))
