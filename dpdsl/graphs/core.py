"""The graph container shared by every stage: generators, files, executor, teachers, students.

A ``Graph`` is a plain record of tensors, so batching is a disjoint union (node offsets added to the
edge index) and every stage can stay vectorised. Node and edge inputs are keyed by the spec's input
names; numeric inputs are float64 (``inf`` is a legal value), boolean inputs are ``torch.bool``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

# The graph kinds a spec may declare: the one definition (the checker, generators and validation read it).
GRAPH_KINDS: dict[str, str] = {
    "directed": "directed graph; an undirected input graph counts each edge in both directions",
    "undirected": "undirected graph (each edge listed once)",
    "dag": "directed acyclic graph",
    "tree": "rooted tree or forest, edges parent -> child",
}
KINDS = tuple(GRAPH_KINDS)


@dataclass
class Graph:
    """One graph, or a batch of graphs stored as a disjoint union.

    ``edge_index`` is ``[2, E]`` int64 with rows (source, target). An undirected graph lists each edge
    once; ``directed_view`` expands it to both directions. A rooted tree is a directed graph with
    edges parent -> child. ``batch`` maps nodes to graphs (``None`` for a single graph).
    """

    num_nodes: int
    edge_index: torch.Tensor
    directed: bool = True
    node: dict[str, torch.Tensor] = field(default_factory=dict)
    edge: dict[str, torch.Tensor] = field(default_factory=dict)
    batch: torch.Tensor | None = None
    num_graphs: int = 1

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    def node_batch(self) -> torch.Tensor:
        """Graph id of every node (all zeros for a single graph)."""
        if self.batch is None:
            return torch.zeros(self.num_nodes, dtype=torch.long)
        return self.batch

    def graph_sizes(self) -> torch.Tensor:
        """Number of nodes of every graph in the batch."""
        if self.batch is None:
            return torch.tensor([self.num_nodes])
        return torch.bincount(self.node_batch(), minlength=self.num_graphs)

    def directed_view(self) -> Graph:
        """Each undirected edge in both directions with the same inputs (torch-geometric's convention)."""
        if self.directed:
            return self
        ei = torch.cat([self.edge_index, self.edge_index.flip(0)], dim=1)
        edge = {k: torch.cat([t, t]) for k, t in self.edge.items()}
        return Graph(self.num_nodes, ei, True, dict(self.node), edge, self.batch, self.num_graphs)


def batch_graphs(graphs: list[Graph]) -> Graph:
    """Disjoint union of ``graphs``; ``unbatch`` inverts it."""
    if not graphs:
        raise ValueError("batch_graphs needs at least one graph")
    directed = {g.directed for g in graphs}
    if len(directed) != 1:
        raise ValueError("cannot batch directed with undirected graphs")
    offsets, total = [], 0
    for g in graphs:
        offsets.append(total)
        total += g.num_nodes
    ei = torch.cat([g.edge_index + off for g, off in zip(graphs, offsets, strict=True)], dim=1)
    batch = torch.cat(
        [torch.full((g.num_nodes,), i, dtype=torch.long) for i, g in enumerate(graphs)]
    )
    node = {k: torch.cat([g.node[k] for g in graphs]) for k in graphs[0].node}
    edge = {k: torch.cat([g.edge[k] for g in graphs]) for k in graphs[0].edge}
    return Graph(total, ei.long(), directed.pop(), node, edge, batch, len(graphs))


def unbatch_nodes(values: torch.Tensor, batch: Graph) -> list[torch.Tensor]:
    """Split a per-node tensor of a batch back into one tensor per graph."""
    return list(torch.split(values, batch.graph_sizes().tolist()))
