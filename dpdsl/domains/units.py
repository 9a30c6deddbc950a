"""What a teacher, a student and the distiller count on an index domain: tuples (docs/architecture.md §12).

On nodes specs a run's values are per node of a (batched) graph; on index domains they are per tuple of
the lowered batch (``dpdsl.domains.lower``), and a batch is a graph (pairs) or ``SeqBatch``. These two
helpers let the stages above the executor (teachers, distillation, verification, ``dpdsl eval``) stay
one code path: ``batch_any`` batches instances of either kind, and ``unit_graph`` is the graph whose
nodes are the units every per-node tensor of a run is indexed by (its ``batch`` says which instance
each unit belongs to), so scoring, the teacher contract and the graph-level counts read it unchanged.
"""

from __future__ import annotations

from typing import Any

import torch

from dpdsl.domains.instance import SeqBatch, SeqInstance, batch_instances
from dpdsl.domains.lower import lower
from dpdsl.graphs.core import Graph, batch_graphs
from dpdsl.ir import SpecIR


def batch_any(items: list[Any]) -> Graph | SeqBatch:
    """One batch of graphs (``batch_graphs``) or of sequence instances (``batch_instances``)."""
    if items and isinstance(items[0], SeqInstance):
        return batch_instances(items)
    return batch_graphs(items)


def unit_graph(spec: SpecIR, batch: Graph | SeqBatch) -> Graph:
    """The batch itself on nodes specs; on index domains a graph with one node per tuple and no edges,
    ``batch`` = the tuple's instance (what ``execute.make_context`` runs on)."""
    if not spec.domain.indexed:
        assert isinstance(batch, Graph)
        return batch
    lay = lower(spec, batch)
    return Graph(lay.num_tuples, torch.zeros(2, 0, dtype=torch.long), batch=lay.inst,
                 num_graphs=lay.num_instances)


def instance_size(item: Any) -> int:
    """Nodes of a graph, or the total length of a sequence instance (what ``sample length`` draws)."""
    if isinstance(item, SeqInstance):
        return int(sum(item.lengths))
    return int(item.num_nodes)
