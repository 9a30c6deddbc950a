"""Shrink a failing graph to a small one that still fails (greedy delta debugging).

Used to name a *smallest failing instance* when a student disagrees with the reference: the first
failing graph found at 16x has ~200 nodes, which no one can read; the shrunk one usually has a handful.
Candidates that are not valid graphs of the spec's kind are skipped (the caller's ``fails`` decides).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from dpdsl.graphs.core import Graph


def subgraph(g: Graph, keep_nodes: torch.Tensor, keep_edges: torch.Tensor) -> Graph:
    """The graph on the kept nodes (renumbered in order) and the kept edges between kept nodes."""
    keep_edges = keep_edges & keep_nodes[g.edge_index[0]] & keep_nodes[g.edge_index[1]]
    new_id = torch.cumsum(keep_nodes.long(), 0) - 1
    ei = new_id[g.edge_index[:, keep_edges]]
    node = {k: v[keep_nodes] for k, v in g.node.items()}
    edge = {k: v[keep_edges] for k, v in g.edge.items()}
    return Graph(int(keep_nodes.sum()), ei, g.directed, node, edge)


def shrink(g: Graph, fails: Callable[[Graph], bool], *, budget: int = 400) -> Graph:
    """A graph that still ``fails``, reached by removing nodes, then edges, one at a time.

    Each removal is kept when the smaller graph still fails; at most ``budget`` candidates are tried,
    so the cost is bounded whatever the graph's size. ``g`` itself must fail.
    """
    tries = 0
    for what in ("nodes", "edges"):
        changed = True
        while changed and tries < budget:
            changed = False
            count = g.num_nodes if what == "nodes" else g.num_edges
            for i in reversed(range(count)):
                if tries >= budget or (what == "nodes" and g.num_nodes == 1):
                    break
                kn = torch.ones(g.num_nodes, dtype=torch.bool)
                ke = torch.ones(g.num_edges, dtype=torch.bool)
                (kn if what == "nodes" else ke)[i] = False
                cand = subgraph(g, kn, ke)
                tries += 1
                if fails(cand):
                    g, changed = cand, True
                    break
    return g
