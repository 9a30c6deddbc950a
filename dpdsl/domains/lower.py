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
    _tables: dict[tuple, tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]] = field(default_factory=dict)
    _flags: dict[str, str] = field(default_factory=dict)

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

    def dense_table(self, values: torch.Tensor, margin: int = 0) -> torch.Tensor:
        """Per-tuple values as padded tables ``[B, m + 2 margin(, m + 2 margin)]`` (``m`` the largest
        size of the batch, ``margin`` cells of padding on each side so offset reads are slices);
        cells that are not tuples hold 0/false. One instance of pairs without margin is a free view."""
        arity = len(self.coords)
        if self.num_instances == 1 and margin == 0 and self.kind != "intervals":
            return values.view(1, *(int(x) for x in self.sizes[0, :arity]))
        key = ("tuples", margin)
        if key not in self._tables:
            shape = tuple(int(self.sizes[:, a].max()) + 2 * margin for a in range(arity))
            cell = self.inst.clone()
            for a, c in enumerate(self.coords):
                cell = cell * shape[a] + margin + c
            self._tables[key] = (cell, torch.arange(self.num_tuples), shape)
        return _fill(values, *self._tables[key], self.num_instances)

    def dense_rows(self, name: str, values: torch.Tensor, offsets: torch.Tensor, lengths: torch.Tensor,
                   margin: int) -> torch.Tensor:
        """A per-position (or per-node) input, instance by instance, as ``[B, L + 2 margin]``."""
        key = ("rows", name, margin)
        if key not in self._tables:
            B = int(lengths.shape[0])
            width = (int(lengths.max()) if B else 0) + 2 * margin
            inst = torch.repeat_interleave(torch.arange(B), lengths)
            local = torch.arange(int(inst.shape[0])) - (torch.cumsum(lengths, 0) - lengths).index_select(0, inst)
            self._tables[key] = (inst * width + margin + local, offsets.index_select(0, inst) + local, (width,))
        return _fill(values, *self._tables[key], self.num_instances)

    def edge_table(self, values: torch.Tensor) -> torch.Tensor:
        """Pairs, per-edge values as tables ``[B, m, m]`` at (source, target) of each instance (only
        meaningful without parallel edges, :func:`graph_order`); cells without an edge hold 0/false."""
        assert self.graph is not None and self.node_offset is not None
        if ("edges",) not in self._tables:
            m = int(self.sizes[:, 0].max())
            src, dst = self.graph.edge_index
            inst = self.graph.node_batch().index_select(0, src)
            off = self.node_offset.index_select(0, inst)
            cell = (inst * m + src - off) * m + dst - off
            self._tables[("edges",)] = (cell, torch.arange(int(src.shape[0])), (m, m))
        return _fill(values, *self._tables[("edges",)], self.num_instances)

    def _count(self, b: int) -> int:
        end = int(self.offset[b + 1]) if b + 1 < self.num_instances else self.num_tuples
        return end - int(self.offset[b])


def _fill(values: torch.Tensor, cell: torch.Tensor, src: torch.Tensor, shape: tuple[int, ...], B: int
          ) -> torch.Tensor:
    size = B
    for w in shape:
        size *= w
    out = torch.zeros(size, dtype=values.dtype)
    return out.index_copy_(0, cell, values.index_select(0, src)).view(B, *shape)


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


# --------------------------------------------------------------------------- dense blocks (§12)

DENSE_RELATIONS = {"pairs": "split", "intervals": "split", "sequence": "all"}
"""The relations whose messages are every value of the bound variable (in a range): they run as dense
blocks instead of gather lists (``RelationPlan.dense``)."""


def is_dense(plan: RelationPlan, kind: str) -> bool:
    """Whether the lowering runs ``plan`` on ``kind`` as dense blocks (:func:`dense_blocks`)."""
    return DENSE_RELATIONS.get(kind) == plan.relation


@dataclass
class Block:
    """A dense chunk of a split relation (or a sequence's ``all``): instances ``b0..b1-1``, target rows
    of the first variable, every value of the bound variable k and of the second variable j, laid out
    as a broadcast block ``[instances, rows, k, j]`` (j of size 1 on a sequence). It is the gather list
    of those targets with holes: ``valid`` says which messages exist, ``target`` which cells are tuples
    (both broadcastable, None when all are); the targets are the tuples ``t0..t1-1`` in order."""

    b0: int
    b1: int
    t0: int
    t1: int
    span: dict[str, tuple[int, int, int]]  # variable -> (first value, end, block dim)
    n: torch.Tensor  # [nb, 1, 1, 1] long: each instance's size along its axis
    valid: torch.Tensor | None
    target: torch.Tensor | None

    def coord(self, var: str) -> torch.Tensor:
        """The variable's values, shaped to broadcast along its block dimension."""
        lo, hi, dim = self.span[var]
        shape = [1, 1, 1, 1]
        shape[dim] = hi - lo
        return torch.arange(lo, hi).view(shape)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        out = [self.b1 - self.b0, 1, 1, 1]
        for lo, hi, dim in self.span.values():
            out[dim] = hi - lo
        return out[0], out[1], out[2], out[3]


def dense_blocks(plan: RelationPlan, spec: SpecIR, lay: Layout, cap: int) -> list[Block]:
    """The blocks of a dense relation, each of at most ``cap`` cells: runs of whole instances padded to
    their largest size, or an instance cut into rows (a row into pieces of j when one row is over the
    cap). A loop over instances and chunks, once per run."""
    sizes = lay.sizes[:, 0].tolist()
    cube = 2 if lay.kind == "sequence" else 3
    out: list[Block] = []
    b = 0
    while b < len(sizes):
        e, m = b, 0
        while e < len(sizes) and (e + 1 - b) * max(m, sizes[e]) ** cube <= cap:
            m, e = max(m, sizes[e]), e + 1
        if e > b:
            out.append(_whole(plan, spec, lay, b, e, m))
            b = e
        else:
            out.extend(_rows(plan, spec, lay, b, cap))
            b += 1
    return out


def _end(lay: Layout, b: int) -> int:
    return int(lay.offset[b]) if b < lay.num_instances else lay.num_tuples


def _span(plan: RelationPlan, spec: SpecIR, rows: tuple[int, int], ks: tuple[int, int],
          js: tuple[int, int]) -> dict[str, tuple[int, int, int]]:
    vs = spec.domain.vars
    span = {vs[0]: (*rows, 1), plan.bound: (*ks, 2)}
    if len(vs) == 2:
        span[vs[1]] = (*js, 3)
    return span


def _whole(plan: RelationPlan, spec: SpecIR, lay: Layout, b0: int, b1: int, m: int) -> Block:
    n = lay.sizes[b0:b1, 0].view(-1, 1, 1, 1)
    blk = Block(b0, b1, int(lay.offset[b0]), _end(lay, b1), _span(plan, spec, (0, m), (0, m), (0, m)),
                n, None, None)
    vs = spec.domain.vars
    i, k = blk.coord(vs[0]), blk.coord(plan.bound)
    j = blk.coord(vs[1]) if len(vs) == 2 else None
    ragged = bool((n != m).any())
    if lay.kind == "intervals":
        assert j is not None
        blk.valid = (i <= k) & (k < j)
        blk.target = ((i <= j) & (j < n)).squeeze(2)
    elif ragged:
        blk.valid = k < n
        blk.target = ((i < n) if j is None else (i < n) & (j < n)).squeeze(2)
    return blk


def _rows(plan: RelationPlan, spec: SpecIR, lay: Layout, b: int, cap: int) -> list[Block]:
    n, off = int(lay.sizes[b, 0]), int(lay.offset[b])
    tri = lay.kind == "intervals"
    nt = lay.sizes[b:b + 1, 0].view(1, 1, 1, 1)
    out, r = [], 0
    while r < n:
        lo = r if tri else 0  # intervals: k and j start at the row (i <= k < j)
        width = 1 if lay.kind == "sequence" else n - lo
        per_row = (n - lo) * width
        R = max(1, cap // per_row)
        step = n - lo if per_row <= cap or width == 1 else max(1, cap // (n - lo))
        pieces = [(j0, min(n, j0 + step)) for j0 in range(lo, n, step)]
        hi = min(n, r + R)
        for j0, j1 in pieces:
            start = off + _row_start(lay.kind, n, r) + (j0 - lo)
            t1 = off + _row_start(lay.kind, n, hi) if len(pieces) == 1 else start + (j1 - j0)
            blk = Block(b, b + 1, start, t1, _span(plan, spec, (r, hi), (lo, n), (j0, j1)), nt, None, None)
            if tri:
                i, k, j = blk.coord(spec.domain.vars[0]), blk.coord(plan.bound), blk.coord(spec.domain.vars[1])
                blk.valid = (i <= k) & (k < j)
                blk.target = (i <= j).squeeze(2)
            out.append(blk)
        r = hi
    return out


def _row_start(kind: str, n: int, r: int) -> int:
    """The local id of row ``r``'s first tuple (pairs r * n; intervals row-major over i <= j)."""
    if kind == "sequence":
        return r
    if kind == "intervals":
        return r * n - (r * (r - 1)) // 2
    return r * n


# --------------------------------------------------------------------------- graph relations as edge rows


def is_edge_rows(plan: RelationPlan, kind: str) -> bool:
    """Pairs and a relation over the graph's edges at one end (``in-edges u -> j``): its messages are
    every value of the other index variable times the edges at the pivot, run as :func:`edge_blocks`."""
    from dpdsl.registry import DOMAIN_RELATIONS

    rel = DOMAIN_RELATIONS.get(plan.relation)
    return kind == "pairs" and rel is not None and rel.graph


def graph_order(plan: RelationPlan, lay: Layout) -> str:
    """How a graph relation's messages on pairs sit in a dense block (bound variable over every node,
    masked by the adjacency, like a split): ``sorted`` when every target's edges, in edge id order (the
    gather path's), have strictly increasing neighbours, so the block's k order is the gather order;
    ``simple`` when only no two edges share (source, target), so the block holds every message once
    and the edge ids give their order; ``multi`` otherwise (then :func:`edge_blocks`)."""
    if plan.relation not in lay._flags:
        assert lay.graph is not None
        _, order, nbr = lay.csr(plan.relation)
        me = RELATIONS[plan.relation].edges(lay.graph.edge_index)[1].index_select(0, order)
        same = me[1:] == me[:-1]
        if bool(((nbr[1:] > nbr[:-1]) | ~same).all()):
            lay._flags[plan.relation] = "sorted"
        else:
            key = me * lay.graph.num_nodes + nbr
            simple = int(torch.unique(key).shape[0]) == int(key.shape[0])
            lay._flags[plan.relation] = "simple" if simple else "multi"
    return lay._flags[plan.relation]


def edge_ends(plan: RelationPlan) -> tuple[tuple[str, int], tuple[str, int]]:
    """The (source, target) variables of a graph relation's edge, as a read's index."""
    if RELATIONS[plan.relation].reverse:
        return (plan.pivot, 0), (plan.bound, 0)
    return (plan.bound, 0), (plan.pivot, 0)


@dataclass
class EdgeBlock:
    """A chunk of a graph relation on pairs as a grid: the free variable (the target variable that is
    not the pivot) over a range, times the relation's edges whose ``me`` end is the pivot. ``me`` is
    every grid cell's target, local to ``t0``; flattened row-major, each target sees its edges in edge
    id order, the order of the gather path's stable CSR, so the registry's scatter gives its bits."""

    b: int
    t0: int
    t1: int
    eid: torch.Tensor  # [E] the edges of the chunk
    vars: dict[str, torch.Tensor]  # variable -> values, broadcastable over the grid
    n: torch.Tensor  # 0-d long: the instance's size
    me_parts: tuple[torch.Tensor, torch.Tensor]  # broadcast terms of every cell's local target
    edge_dim: int  # the grid dimension the edges run along

    def coord(self, var: str) -> torch.Tensor:
        return self.vars[var]

    def me(self) -> torch.Tensor:
        """[cells] long: each cell's target, local to ``t0`` (made per call, not kept: it is a message's
        worth of memory)."""
        a, b = self.me_parts
        return (a + b).reshape(-1)


def edge_blocks(plan: RelationPlan, spec: SpecIR, lay: Layout, cap: int) -> list[EdgeBlock]:
    """Chunks of whole target rows: pivot j (edges into j): rows of i times the instance's edges in id
    order; pivot i: rows of i times their edges (CSR) times every j. At most ``cap`` cells each (a row
    over the cap alone). A loop over instances and chunks, once per run."""
    assert lay.graph is not None and lay.node_offset is not None
    nbr, me = RELATIONS[plan.relation].edges(lay.graph.edge_index)
    inst = lay.graph.node_batch().index_select(0, me)
    vs = spec.domain.vars
    free = vs[0] if plan.pivot == vs[1] else vs[1]
    out: list[EdgeBlock] = []
    if plan.pivot == vs[1]:
        order = torch.argsort(inst, stable=True)
        ends = torch.cumsum(torch.bincount(inst, minlength=lay.num_instances), 0).tolist()
        for b in range(lay.num_instances):
            e = order[(ends[b - 1] if b else 0):ends[b]]
            n, off = int(lay.sizes[b, 0]), int(lay.node_offset[b])
            m, u = me.index_select(0, e) - off, nbr.index_select(0, e) - off
            step = max(1, cap // max(int(e.shape[0]), 1))
            for r0 in range(0, n, step):
                i = torch.arange(r0, min(n, r0 + step))[:, None]
                out.append(EdgeBlock(b, int(lay.offset[b]) + r0 * n, int(lay.offset[b]) + int(i[-1]) * n + n, e,
                                     {free: i, plan.pivot: m[None], plan.bound: u[None]},
                                     torch.tensor(n), ((i - r0) * n, m[None]), 1))
        return out
    indptr, order, nbr_sorted = lay.csr(plan.relation)
    for b in range(lay.num_instances):
        n, off = int(lay.sizes[b, 0]), int(lay.node_offset[b])
        ptr = indptr[off:off + n + 1]
        r0 = 0
        while r0 < n:
            r1 = int(torch.searchsorted(ptr, int(ptr[r0]) + max(1, cap // max(n, 1)), right=True)) - 1
            r1 = min(n, max(r1, r0 + 1))
            lo, hi = int(ptr[r0]), int(ptr[r1])
            e, u = order[lo:hi], nbr_sorted[lo:hi] - off
            m = me.index_select(0, e) - off
            j = torch.arange(n)[None, :]
            out.append(EdgeBlock(b, int(lay.offset[b]) + r0 * n, int(lay.offset[b]) + r1 * n, e,
                                 {free: j, plan.pivot: m[:, None], plan.bound: u[:, None]},
                                 torch.tensor(n), ((m[:, None] - r0) * n, j), 0))
            r0 = r1
    return out
