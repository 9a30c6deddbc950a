"""The teacher contract (docs/architecture.md §7): the only thing the distiller knows about a teacher.

A teacher runs a (batched) ``Graph`` and returns a ``TeacherOutput``:

* ``outputs`` — one tensor per spec output, per node, in the executor's encoding (``torch.bool`` for
  bool outputs, float64 with ±inf otherwise; node-typed outputs are node ids *local to each graph* of
  the batch, as float64), exactly comparable with ``RunResult.outputs``;
* ``embeddings`` — per processing step k = 0..K a float32 ``[num_nodes, width]`` tensor: step 0 is the
  encoder's output, step k the output of the k-th processor application (a layer, for non-recurrent
  teachers). This is what the distiller's LRH probes read;
* ``states`` — optional per-step decoded DP state (the executor's trajectory encoding), aligned so
  ``states[k]`` is the teacher's guess of DP round k (``states[0]`` the init). ``None`` for teachers
  that only produce final outputs.

The number of steps is the teacher's business (recurrent teachers run up to the spec's round cap per
graph and may stop early at a fixpoint of their decoded state; layered ones have a fixed depth).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from dpdsl.graphs.core import Graph


@dataclass
class TeacherOutput:
    """What one teacher run returns; see the module docstring for the encodings."""

    outputs: dict[str, torch.Tensor]
    embeddings: list[torch.Tensor]
    states: list[dict[str, torch.Tensor]] | None = None

    @property
    def steps(self) -> int:
        """Number of processing steps K (``len(embeddings) - 1``)."""
        return len(self.embeddings) - 1

    def check(self, num_nodes: int, width: int | None = None) -> None:
        """Raise ``ValueError`` if the shapes/dtypes break the contract (used by tests and adapters)."""
        if not self.embeddings:
            raise ValueError("a teacher must return at least the step-0 embedding")
        for k, h in enumerate(self.embeddings):
            if h.dim() != 2 or h.shape[0] != num_nodes or h.dtype != torch.float32:
                raise ValueError(f"embedding of step {k} has shape {tuple(h.shape)} and dtype {h.dtype}; "
                                 f"expected float32 [{num_nodes}, width]")
            if width is not None and h.shape[1] != width:
                raise ValueError(f"embedding of step {k} has width {h.shape[1]}, expected {width}")
            if not bool(torch.isfinite(h).all()):
                raise ValueError(f"embedding of step {k} holds NaN or infinity (the probes need finite values)")
        for name, v in self.outputs.items():
            if v.shape != (num_nodes,) or v.dtype not in (torch.bool, torch.float64):
                raise ValueError(f"output '{name}' has shape {tuple(v.shape)} and dtype {v.dtype}; "
                                 f"expected bool or float64 [{num_nodes}]")
        if self.states is not None and len(self.states) != len(self.embeddings):
            raise ValueError(f"{len(self.states)} decoded states for {len(self.embeddings)} steps")


@runtime_checkable
class Teacher(Protocol):
    """Anything with these attributes and ``run`` is a teacher: zoo models and adapted user models."""

    spec_name: str
    spec_hash: str
    arch: str
    width: int

    def run(self, graph: Graph) -> TeacherOutput:
        """Run on a graph or a batch (``dpdsl.graphs.batch_graphs``); no gradients are needed."""
        ...


@dataclass(frozen=True)
class Instances:
    """The graphs a compile runs its teacher on: the distillation graphs (the transition dataset) and the
    held-out graphs (fidelity to the teacher). A teacher that can only run on fixed instances — recorded
    traces (``dpdsl.teachers.traces``) — exposes them as its ``instances`` attribute, and the distiller
    uses them instead of sampling its own."""

    distill: list[Graph]
    held_out: list[Graph]


def fixed_instances(teacher: object) -> Instances | None:
    """The teacher's own instances if it has them (recorded traces), else None (the distiller samples)."""
    inst = getattr(teacher, "instances", None)
    return inst if isinstance(inst, Instances) else None
