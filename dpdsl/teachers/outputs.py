"""What a foreign teacher hands back, put into the executor's encoding; outputs it did not give are
computed from its decoded states with the spec's own output expressions (docs/teachers.md).

Shared by the adapter (``dpdsl.teachers.adapter``) and recorded traces (``dpdsl.teachers.traces``): a
model's job is the unknown transition, so it may return only its per-step states and let dpdsl compute
``parent = argmin over in-edges ...`` exactly as the reference executor ends a run
(``dpdsl.execute.state_outputs``), per graph of a batch, with graph-local node ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from dpdsl.errors import UserError
from dpdsl.execute import make_context, state_outputs
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR
from dpdsl.types import BOOL, Type


def to_encoding(value: Any, t: Type, n: int, what: str) -> torch.Tensor:
    """A per-node value in the executor's encoding: bool (probabilities > 0.5 are true) or float64."""
    try:
        v = torch.as_tensor(value).detach().reshape(-1)
    except (TypeError, ValueError, RuntimeError) as err:
        raise UserError(f"{what} is not a tensor ({err})") from None
    if v.shape[0] != n:
        raise UserError(f"{what} has {v.shape[0]} values for {n} nodes")
    if t.kind == BOOL:
        return v if v.dtype == torch.bool else v.to(torch.float64) > 0.5
    return v.to(torch.float64)


def encode_states(spec: SpecIR, states: Sequence[Mapping[str, Any]], n: int, who: str) -> list[dict[str, torch.Tensor]]:
    """Per-step decoded states, every state field of the spec at every step, in the executor's encoding."""
    out = []
    for k, st in enumerate(states):
        if not isinstance(st, Mapping):
            raise UserError(f"{who}: decoded state of step {k} is {type(st).__name__}, not a dict of fields")
        missing = [name for name in spec.states if name not in st]
        if missing:
            raise UserError(f"{who}: decoded state of step {k} lacks field '{missing[0]}' "
                            f"(the spec's states: {', '.join(spec.states)})")
        out.append({name: to_encoding(st[name], s.type, n, f"{who}: state '{name}' at step {k}")
                    for name, s in spec.states.items()})
    return out


def complete_outputs(spec: SpecIR, graph: Graph, given: Mapping[str, Any],
                     states: list[dict[str, torch.Tensor]] | None, who: str) -> dict[str, torch.Tensor]:
    """Every spec output: the given ones encoded, the rest from the final decoded state."""
    n = graph.num_nodes
    unknown = [k for k in given if k not in spec.outputs]
    if unknown:
        raise UserError(f"{who} returned output '{unknown[0]}', which the spec does not declare "
                        f"(outputs: {', '.join(spec.outputs)})")
    out = {name: to_encoding(given[name], o.type, n, f"{who}: output '{name}'")
           for name, o in spec.outputs.items() if name in given}
    missing = [name for name in spec.outputs if name not in out]
    if missing:
        if not states:
            raise UserError(f"{who} returned no output '{missing[0]}' and no per-step states to compute it "
                            "from; return it, or return (outputs, states)")
        out.update(state_outputs(make_context(spec, graph), states[-1], missing))
    return {name: out[name] for name in spec.outputs}
