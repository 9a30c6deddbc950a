"""Lowering an index domain to tuples and its relations to gather lists (docs/architecture.md §12).

A batch of instances (graphs for ``pairs``; sequence instances otherwise) becomes a flat numbering of
tuples, instance by instance in row-major order, and every relation becomes *messages*: a target tuple,
the values of the index variables (the target's and the bound one) and, for graph relations, an edge
id. A read ``d[i, k]`` in a body is then a gather at the tuple those variables name, so the executor,
the code generator and the student see one thing: per-message source ids and a target id. Messages are
enumerated in chunks of whole targets (``limits.cap("chunk_messages")``), so a split relation with
n^3 messages never materialises at once. Everything is vectorised over tuples and messages; the only
Python loops are over instances while numbering tuples (once per run) and over chunks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from dpdsl import limits
from dpdsl.domains.core import NODE_AXIS, axes
from dpdsl.domains.instance import SeqBatch, SeqInstance, batch_instances
from dpdsl.graphs.core import Graph, batch_graphs
from dpdsl.ir import SpecIR
from dpdsl.registry import RELATIONS

LONG = torch.long


@dataclass
class Layout:
    """The tuples of a batch: instance and coordinates per tuple, sizes and offsets per instance."""

    kind: str
    inst: torch.Tensor  # [T] instance of each tuple
    coords: tuple[torch.Tensor, ...]  # per index position, [T] long
    sizes: torch.Tensor  # [B, 2] long: axis sizes (pairs: n, n; sequence: n, 1)
    offset: torch.Tensor  # [B] first tuple of each instance
    graph: Graph | None = None  # pairs: the directed view of the (batched) graph
    node_offset: torch.Tensor | None = None  # pairs: first node of each instance
    seqs: SeqBatch | None = None  # sequence domains: the per-position inputs
    _csr: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = field(default_factory=dict)

    @property
    def num_tuples(self) -> int:
        return int(self.inst.shape[0])

    @property
    def num_instances(self) -> int:
        return int(self.sizes.shape[0])

    def tuple_ids(self, inst: torch.Tensor, coords: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """The tuple id at ``coords`` of instance ``inst`` (per message) and whether it is in the domain."""
        n0 = self.sizes[:, 0].index_select(0, inst)
        valid = (coords[0] >= 0) & (coords[0] < n0)
        if len(coords) == 1:
            return self.offset.index_select(0, inst) + coords[0], valid
        c0, c1 = coords
        n1 = self.sizes[:, 1].index_select(0, inst)
        valid &= (c1 >= 0) & (c1 < n1)
        if self.kind == "intervals":
            valid &= c0 <= c1
            local = c0 * n0 - (c0 * (c0 - 1)) // 2 + (c1 - c0)  # row-major over i <= j
        else:
            local = c0 * n1 + c1
        return self.offset.index_select(0, inst) + local, valid

    def csr(self, relation: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(indptr over global nodes, edge ids grouped by the relation's ``me`` node, their ``nbr``)."""
        if relation not in self._csr:
            assert self.graph is not None
            nbr, me = RELATIONS[relation].edges(self.graph.edge_index)
            order = torch.argsort(me, stable=True)
            counts = torch.bincount(me, minlength=self.graph.num_nodes)
            indptr = torch.cat([torch.zeros(1, dtype=LONG), torch.cumsum(counts, 0)])
            self._csr[relation] = (indptr, order, nbr.index_select(0, order))
        return self._csr[relation]

    def edge_tuples(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Pairs: the tuple (src, dst) of every edge, and the edge ids sorted by that tuple."""
        if "edge" not in self._csr:
            assert self.graph is not None and self.node_offset is not None
            src, dst = self.graph.edge_index
            inst = self.graph.node_batch().index_select(0, src)
            off = self.node_offset.index_select(0, inst)
            ids, _ = self.tuple_ids(inst, [src - off, dst - off])
            self._csr["edge"] = (ids, torch.argsort(ids, stable=True), ids)
        ids, order, _ = self._csr["edge"]
        return ids, order

    def unflatten(self, values: torch.Tensor, b: int, fill: float | bool = 0) -> torch.Tensor:
        """Instance ``b``'s per-tuple values as a dense table (``[n]`` or ``[n0, n1]``); tuples outside
        the domain (intervals with i > j) hold ``fill``."""
        n0, n1 = (int(x) for x in self.sizes[b])
        lo = int(self.offset[b])
        mine = values[lo:lo + self._count(b)]
        if self.kind == "sequence":
            return mine
        if self.kind != "intervals":
            return mine.reshape(n0, n1)
        out = torch.full((n0, n1), fill, dtype=values.dtype)
        iu = torch.triu_indices(n0, n1)
        out[iu[0], iu[1]] = mine
        return out

    def _count(self, b: int) -> int:
        end = int(self.offset[b + 1]) if b + 1 < self.num_instances else self.num_tuples
        return end - int(self.offset[b])


def as_batch(spec: SpecIR, data: Graph | SeqInstance | SeqBatch | list) -> Graph | SeqBatch:
    """The run's input as one batch: a (batched) graph for pairs, a ``SeqBatch`` otherwise."""
    if isinstance(data, list):
        if data and isinstance(data[0], Graph):
            return batch_graphs(data)
        return batch_instances(data)
    if isinstance(data, SeqInstance):
        return batch_instances([data])
    return data


def lower(spec: SpecIR, data: Graph | SeqInstance | SeqBatch | list) -> Layout:
    """Number the tuples of a batch (the domain of every state field)."""
    kind = spec.domain.kind
    batch = as_batch(spec, data)
    if kind == "pairs":
        if not isinstance(batch, Graph):
            raise TypeError("a pairs spec runs on graphs")
        g = batch.directed_view()
        n = g.graph_sizes()
        sizes = torch.stack([n, n], 1)
        node_offset = torch.cumsum(n, 0) - n
        return _numbered(kind, sizes, graph=g, node_offset=node_offset)
    if not isinstance(batch, SeqBatch):
        raise TypeError(f"a {kind} spec runs on sequence instances (dpdsl.domains.instance)")
    sizes = batch.lengths if kind == "grid" else torch.stack([batch.lengths[:, 0]] * 2, 1)
    if kind == "sequence":
        sizes = torch.stack([batch.lengths[:, 0], torch.ones_like(batch.lengths[:, 0])], 1)
    return _numbered(kind, sizes, seqs=batch)


def _numbered(kind: str, sizes: torch.Tensor, **extra) -> Layout:
    n0, n1 = sizes[:, 0], sizes[:, 1]
    counts = n0 * (n0 + 1) // 2 if kind == "intervals" else n0 * n1
    limits.check("tuples", int(counts.sum()), "the number of tuples")
    offset = torch.cumsum(counts, 0) - counts
    inst = torch.repeat_interleave(torch.arange(sizes.shape[0]), counts)
    if kind == "intervals":  # one triu per instance: a loop over instances, not tuples
        parts = [torch.triu_indices(int(n), int(n)) for n in n0.tolist()]
        c0 = torch.cat([p[0] for p in parts]) if parts else torch.zeros(0, dtype=LONG)
        c1 = torch.cat([p[1] for p in parts]) if parts else torch.zeros(0, dtype=LONG)
        coords: tuple[torch.Tensor, ...] = (c0, c1)
    else:
        local = torch.arange(int(counts.sum())) - offset.index_select(0, inst)
        width = n1.index_select(0, inst)
        coords = (local,) if kind == "sequence" else (local // width, local % width)
    return Layout(kind, inst, coords, sizes, offset, **extra)


def builtins(spec: SpecIR, layout: Layout) -> dict[str, torch.Tensor]:
    """Per-tuple builtins: the index variables and ``n`` (pairs: nodes; grid: both lengths summed)."""
    out = {v: c.to(torch.float64) for v, c in zip(spec.domain.vars, layout.coords, strict=True)}
    s = layout.sizes.to(torch.float64)
    n = s[:, 0] + s[:, 1] if layout.kind == "grid" else s[:, 0]
    out["n"] = n.index_select(0, layout.inst)
    return out


@dataclass
class Messages:
    """One chunk of a relation: targets ``t0 <= tgt < t1`` (global ids), the index variables' values."""

    t0: int
    t1: int
    tgt: torch.Tensor
    inst: torch.Tensor
    vars: dict[str, torch.Tensor]
    eid: torch.Tensor | None = None

    def select(self, keep: torch.Tensor) -> Messages:
        return Messages(self.t0, self.t1, self.tgt[keep], self.inst[keep],
                        {k: v[keep] for k, v in self.vars.items()},
                        None if self.eid is None else self.eid[keep])


@dataclass(frozen=True)
class RelationPlan:
    """How a relation enumerates messages on a layout: per-target counts, then the bound variable."""

    relation: str
    bound: str  # the bound variable ("" for ``at``)
    pivot: str  # the target variable the relation is anchored at (argmin's "self")

    def counts(self, spec: SpecIR, lay: Layout) -> torch.Tensor:
        rel, T = self.relation, lay.num_tuples
        n0 = lay.sizes[:, 0].index_select(0, lay.inst)
        if rel == "at":
            return torch.ones(T, dtype=LONG)
        if rel in ("all",) or (rel == "split" and lay.kind == "pairs"):
            return n0
        if rel == "split":  # intervals: i <= k < j
            return lay.coords[1] - lay.coords[0]
        if rel == "prev":
            return (lay.coords[0] > 0).long()
        if rel == "next":
            return (lay.coords[0] < n0 - 1).long()
        if rel == "edge":
            return torch.bincount(lay.edge_tuples()[0], minlength=T)
        indptr, _, _ = lay.csr(rel)
        node = self._pivot_node(spec, lay, slice(None))
        return indptr.index_select(0, node + 1) - indptr.index_select(0, node)

    def _pivot_node(self, spec: SpecIR, lay: Layout, sl: slice | torch.Tensor) -> torch.Tensor:
        assert lay.node_offset is not None
        pos = spec.domain.vars.index(self.pivot)
        inst = lay.inst[sl] if isinstance(sl, slice) else lay.inst.index_select(0, sl)
        c = lay.coords[pos][sl] if isinstance(sl, slice) else lay.coords[pos].index_select(0, sl)
        return lay.node_offset.index_select(0, inst) + c

    def expand(self, spec: SpecIR, lay: Layout, tgt: torch.Tensor, r: torch.Tensor, t0: int, t1: int
               ) -> Messages:
        """Messages of targets ``tgt`` (each repeated once per message), ``r`` the rank within a target."""
        inst = lay.inst.index_select(0, tgt)
        vs = {v: c.index_select(0, tgt) for v, c in zip(spec.domain.vars, lay.coords, strict=True)}
        eid = None
        rel = self.relation
        if rel == "at":
            pass
        elif rel in ("all", "split") and lay.kind != "intervals":
            vs[self.bound] = r
        elif rel == "split":
            vs[self.bound] = vs[spec.domain.vars[0]] + r
        elif rel == "prev":
            vs[self.bound] = vs[spec.domain.vars[0]] - 1
        elif rel == "next":
            vs[self.bound] = vs[spec.domain.vars[0]] + 1
        elif rel == "edge":
            tuple_of, order = lay.edge_tuples()
            starts = torch.cumsum(torch.bincount(tuple_of, minlength=lay.num_tuples), 0)
            first = starts.index_select(0, tgt) - torch.bincount(tuple_of, minlength=lay.num_tuples
                                                                  ).index_select(0, tgt)
            eid = order.index_select(0, first + r)
        else:
            indptr, order, nbr = lay.csr(rel)
            at = indptr.index_select(0, self._pivot_node(spec, lay, tgt)) + r
            eid = order.index_select(0, at)
            assert lay.node_offset is not None
            vs[self.bound] = nbr.index_select(0, at) - lay.node_offset.index_select(0, inst)
        return Messages(t0, t1, tgt, inst, vs, eid)


def chunks(counts: torch.Tensor, cap: int) -> list[tuple[int, int]]:
    """Ranges of whole targets holding at most ``cap`` messages each (a target over ``cap`` alone)."""
    total = int(counts.sum())
    T = int(counts.shape[0])
    if total <= cap:
        return [(0, T)] if T else []
    cum = torch.cumsum(counts, 0)
    out, t0, done = [], 0, 0
    while t0 < T:
        t1 = int(torch.searchsorted(cum, done + cap, right=True))
        t1 = max(t1, t0 + 1)
        out.append((t0, t1))
        done, t0 = int(cum[t1 - 1]), t1
    return out


def enumerate_chunk(plan: RelationPlan, spec: SpecIR, lay: Layout, counts: torch.Tensor,
                    starts: torch.Tensor, t0: int, t1: int) -> Messages:
    """The messages of targets ``t0..t1-1`` (``starts``: exclusive cumulative counts)."""
    c = counts[t0:t1]
    tgt = torch.repeat_interleave(torch.arange(t0, t1), c)
    r = torch.arange(int(tgt.shape[0])) - (starts.index_select(0, tgt) - starts[t0])
    return plan.expand(spec, lay, tgt, r, t0, t1)


def read_axes(spec: SpecIR, name: str) -> tuple[int, ...]:
    """The axis each index position of a state or input reads (for input positions and node ids)."""
    if name in spec.states:
        return axes(spec.domain.kind)
    if name in spec.domain.inputs:
        return (spec.domain.inputs[name].axis,)
    return (NODE_AXIS,)
