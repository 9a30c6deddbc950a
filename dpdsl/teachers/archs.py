"""The zoo's architecture table (docs/architecture.md §7, §10.5): one place maps an architecture's name to
its network and teacher classes, its own options with their defaults, and how it is trained.

Checkpoints (saving, loading), training, ``init_teacher`` and ``TeacherConfig``'s validation all read
``ARCHS``; a new zoo architecture is one entry here plus its module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dpdsl.ir import SpecIR
from dpdsl.teachers import aligned_domain, transformer
from dpdsl.types import REAL

REAL_VALUED_RECIPE = {"decoder": "embedding", "value_weight": 100.0}
"""What the aligned teacher needs when a state is real-valued (issue 14 item 5): every decision a linear
read-out of the embedding the distiller probes, and a value loss weighted so values land well inside the
1e-2 tolerance. With the "wide" defaults a hop-budget Bellman-Ford teacher reached 0.83 per node."""
DISCRETE_RECIPE = {"decoder": "wide", "value_weight": 1.0}


def state_recipe(spec: SpecIR) -> dict[str, Any]:
    """The aligned decoder and value weight that work for the spec's state types."""
    real = any(st.type.kind == REAL for st in spec.states.values())
    return dict(REAL_VALUED_RECIPE if real else DISCRETE_RECIPE)


@dataclass(frozen=True)
class Arch:
    """One zoo architecture. ``options`` are its own ``TeacherConfig`` fields with their defaults (a
    ``None`` default is chosen from the spec by ``spec_defaults``); ``per_round`` says whether it trains
    teacher-forced on (round t-1 -> round t) pairs or on whole graphs' final outputs."""

    name: str
    net: Callable[[dict], Any]  # config -> network
    teacher: Callable[..., Any]  # (spec, config, net) -> teacher
    options: dict[str, Any]
    per_round: bool
    loss: Callable[..., Any]
    spec_defaults: Callable[[SpecIR], dict[str, Any]] = lambda spec: {}
    doc: str = ""

    def defaults(self, spec: SpecIR) -> dict[str, Any]:
        """Every option's default for this spec."""
        return {**self.options, **{k: v for k, v in self.spec_defaults(spec).items() if k in self.options}}


ARCHS: dict[str, Arch] = {
    a.name: a for a in (
        Arch("aligned", aligned_domain.make_net, aligned_domain.make_teacher,
             {"noise": 2e-3, "linear_channels": 0, "decoder": None, "value_weight": None, "sum_candidates": False},
             per_round=True, loss=aligned_domain.loss, spec_defaults=state_recipe,
             doc="recurrent encode-process-decode GNN, one processor step per DP round (index domains: one "
                 "message per view along its gather lists, triplets for split relations)"),
        Arch("transformer", transformer.TransformerNet, transformer.TransformerTeacher,
             {"layers": 6, "heads": 4}, per_round=False, loss=transformer.training_loss,
             doc="dense graph transformer on final outputs only (the non-aligned control)"),
    )
}
