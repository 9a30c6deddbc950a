"""Frontier execution: a round recomputes only the nodes whose transition arguments can have changed.

A transition is a deterministic function of its arguments (own state, node inputs, views), so a node
none of whose arguments changed cannot change. After a round that changed the nodes C, the next round
needs the nodes A = C ∪ {targets of C's edges on every view's relation}; their views are re-aggregated
from *all* their in-edges, in the original edge order (a stable CSR layout built once per run), so the
values are the same bits the dense round computes. Like Ligra, a round falls back to the dense scatter
when the frontier's edges exceed a fraction of all edges (``DENSE_FRACTION``), where the dense pass is
cheaper than the gathers (docs/architecture.md §2).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from dpdsl.expr import nodes as A
from dpdsl.ir import SpecIR
from dpdsl.registry import AGGREGATORS, RELATIONS

DENSE_FRACTION = 0.05
"""A round touching more than this fraction of a relation's edges runs dense (Ligra uses 1/20)."""


class Csr:
    """The edges of one relation grouped by a key node (stable: each group in original edge order)."""

    def __init__(self, key: torch.Tensor, num_nodes: int) -> None:
        self.key = key
        counts = torch.bincount(key, minlength=num_nodes)
        self.ptr = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)])
        self._perm: torch.Tensor | None = None

    @property
    def perm(self) -> torch.Tensor:
        """Edge ids sorted by key, built on first use: runs that never go sparse skip the sort."""
        if self._perm is None:
            self._perm = torch.argsort(self.key, stable=True)
        return self._perm

    def degree(self, nodes: torch.Tensor) -> torch.Tensor:
        return self.ptr.index_select(0, nodes + 1) - self.ptr.index_select(0, nodes)

    def edges_of(self, nodes: torch.Tensor) -> torch.Tensor:
        """Edge ids of ``nodes``' groups, concatenated in ``nodes`` order."""
        starts = self.ptr.index_select(0, nodes)
        counts = self.ptr.index_select(0, nodes + 1) - starts
        total = int(counts.sum())
        if total == 0:
            return torch.zeros(0, dtype=torch.long)
        group_start = torch.cumsum(counts, 0) - counts
        offs = torch.arange(total) + torch.repeat_interleave(starts - group_start, counts)
        return self.perm.index_select(0, offs)


class Frontier:
    """Per-run sparse machinery: CSR layouts per relation, the affected set, in-place view updates."""

    @staticmethod
    def applies(spec: SpecIR) -> bool:
        """Plugin aggregators with a custom reduction may depend on the whole edge set's layout, a view
        over all nodes on every node and a view reading a view on more than its edges: those specs keep
        dense rounds."""
        return all(AGGREGATORS[v.agg.agg].custom is None and not RELATIONS[v.agg.relation].over_all
                   and not any(isinstance(x, A.Index) and x.kind == "view" for x in A.walk(v.agg))
                   for v in spec.views.values())

    def __init__(self, ctx: Any, views: Mapping[str, Any]) -> None:
        self.ctx, self.views = ctx, dict(views)
        n = ctx.graph.num_nodes
        self.into: dict[str, Csr] = {}
        self.out_of: dict[str, Csr] = {}
        for agg in self.views.values():
            if agg.relation not in self.into:
                nbr, me = ctx.relation(agg.relation)
                self.into[agg.relation], self.out_of[agg.relation] = Csr(me, n), Csr(nbr, n)
        self.limit = DENSE_FRACTION * sum(int(c.key.shape[0]) for c in self.into.values())
        self.owned = False  # whether state/view tensors are this run's own copies (safe to update in place)

    def affected(self, changed: torch.Tensor) -> torch.Tensor | None:
        """Sorted ids of the nodes the next round must recompute, or None when a dense round is cheaper."""
        ids = changed.nonzero().squeeze(1) if changed.dtype == torch.bool else changed
        parts = [ids]
        for rel, out in self.out_of.items():
            if int(out.degree(ids).sum()) > self.limit:
                return self._dense()
            parts.append(self.ctx.relation(rel)[1].index_select(0, out.edges_of(ids)))
        nodes = torch.unique(torch.cat(parts))
        if sum(int(c.degree(nodes).sum()) for c in self.into.values()) > self.limit:
            return self._dense()
        if not self.owned:  # once per switch to sparse rounds: later updates go in place
            self.ctx.state = {k: v.clone() for k, v in self.ctx.state.items()}
            self.ctx.views = {k: v.clone() for k, v in self.ctx.views.items()}
            self.owned = True
        return nodes

    def _dense(self) -> None:
        self.owned = False  # a dense round builds fresh tensors, possibly aliasing inputs
        return None

    def update_views(self, nodes: torch.Tensor) -> None:
        """Re-aggregate every view at ``nodes`` from all their in-edges, in place."""
        for name, agg in self.views.items():
            eids = self.into[agg.relation].edges_of(nodes)
            self.ctx.views[name].index_put_((nodes,), agg.on(self.ctx, nodes, eids))
