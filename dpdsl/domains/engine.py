"""Expressions on an index domain, compiled once per run (docs/architecture.md §12).

``DomainEvaluator`` compiles tuple-level expressions (init, rounds, outputs) over the run's context,
whose ``domain`` is the :class:`~dpdsl.domains.lower.Layout`; its aggregates become
:class:`DomainAgg`, which enumerates the relation's messages chunk by chunk, turns every read in the
body into a gather at the source tuple those messages name, evaluates the body once per chunk and
reduces onto the targets with the registry's aggregator (``default`` where a tuple got no message).
Relations whose messages are every value of the bound variable (a split on pairs or intervals, a
sequence's ``all``; ``lower.is_dense``) skip the gather lists: the body is evaluated on dense blocks
``[instances, rows, k, j]`` of broadcast reads (``lower.dense_blocks``, same chunk cap) and reduced
over k by ``Aggregator.aggregate_dense``, bit for bit the gather path's result. The
executor (``dpdsl.execute.run_skeleton``) is otherwise unchanged: rounds, transitions, fixpoints and
round caps are the node engine's, with tuples in place of nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from dpdsl import limits
from dpdsl.domains.core import parse_index
from dpdsl.domains.lower import (
    Block,
    EdgeBlock,
    Layout,
    Messages,
    RelationPlan,
    chunks,
    dense_blocks,
    edge_blocks,
    edge_ends,
    enumerate_chunk,
    graph_order,
    is_dense,
    is_edge_rows,
)
from dpdsl.expr import nodes as A
from dpdsl.expr.torch_eval import ContextEvaluator, Fn, TorchEvaluator, constant_value
from dpdsl.expr.unparse import unparse
from dpdsl.registry import AGGREGATORS, broadcast_shape

F64 = torch.float64
DENSE = True
"""Run dense relations as blocks (False: as gather lists, which tests hold the blocks against)."""


@dataclass(frozen=True)
class Read:
    """One indexed read in an expression: what it reads and at which variables (+ offsets)."""

    name: str
    kind: str  # state | input
    site: str  # tuple (a state) | pos | node | edge (inputs)
    index: tuple[tuple[str, int], ...]

    def needs_check(self, domain: str) -> bool:
        """Whether some message could read outside the domain (then it is dropped, §12)."""
        if self.site in ("node", "edge"):
            return False
        return any(off for _, off in self.index) or (self.site == "tuple" and domain == "intervals")


def source_ids(c: Any, read: Read, msgs: Messages) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Where ``read`` gathers from for every message, and (if it can leave the domain) validity."""
    lay: Layout = c.domain
    spec = c.spec
    coords = [msgs.vars[v] + off if off else msgs.vars[v] for v, off in read.index]
    check = read.needs_check(lay.kind)
    if read.site == "tuple":
        ids, valid = lay.tuple_ids(msgs.inst, coords)
    elif read.site == "edge":
        assert msgs.eid is not None
        return msgs.eid, None
    elif read.site == "node":
        assert lay.node_offset is not None
        return lay.node_offset.index_select(0, msgs.inst) + coords[0], None
    else:
        assert lay.seqs is not None
        axis = spec.domain.inputs[read.name].axis
        n = lay.seqs.lengths[:, axis].index_select(0, msgs.inst)
        valid = (coords[0] >= 0) & (coords[0] < n)
        ids = lay.seqs.offsets[:, axis].index_select(0, msgs.inst) + coords[0]
    if not check:
        return ids, None
    return ids.clamp(min=0, max=max(_source_len(c, read) - 1, 0)), valid


def _source_len(c: Any, read: Read) -> int:
    if read.site == "tuple":
        return c.domain.num_tuples
    return int(c.domain.seqs.inputs[read.name].shape[0])


def _source(c: Any, read: Read) -> torch.Tensor:
    if read.site == "tuple":
        return c.state[read.name]
    if read.site == "pos":
        return c.domain.seqs.inputs[read.name]
    if read.site == "node":
        return c.graph_in.node[read.name]
    return c.graph_in.edge[read.name]


def _read_of(e: A.Index) -> Read:
    return Read(e.name, e.kind, e.site, tuple(parse_index(a) for a in e.args))


class DomainEvaluator(ContextEvaluator):
    """Tuple-level expressions: ``env`` is the run's context (``dpdsl.execute.Context``)."""

    def visit_Index(self, e: A.Index) -> Fn:
        read = _read_of(e)

        def at_tuples(c: Any, rows: int) -> torch.Tensor:
            if read.site == "tuple" and tuple(v for v, _ in read.index) == c.spec.domain.vars:
                return c.state[read.name]
            ids, _ = source_ids(c, read, identity_messages(c))  # the checker keeps these in the domain
            return _source(c, read).index_select(0, ids)

        return at_tuples

    def visit_Agg(self, e: A.Agg) -> Fn:
        return DomainAgg(self.params, e)


def identity_messages(c: Any) -> Messages:
    """Every tuple as its own message: how tuple-level reads reuse the message gathers."""
    lay: Layout = c.domain
    if getattr(lay, "_identity", None) is None:
        T = lay.num_tuples
        lay._identity = Messages(0, T, torch.arange(T), lay.inst,  # type: ignore[attr-defined]
                                 dict(zip(c.spec.domain.vars, lay.coords, strict=True)))
    return lay._identity  # type: ignore[attr-defined]


@dataclass
class MsgEnv:
    ctx: Any
    msgs: Messages
    ids: list[torch.Tensor]


class BodyEvaluator(TorchEvaluator):
    """An aggregate's body, one row per message: ``env`` is a :class:`MsgEnv`."""

    def __init__(self, params: Any) -> None:
        super().__init__(params)
        self.reads: list[Read] = []

    def name(self, e: A.Name) -> Fn:
        key = e.name
        if e.kind != "builtin":
            return super().name(e)
        if key == "n":
            return lambda env, rows: env.ctx.builtins["n"].index_select(0, env.msgs.tgt)
        return lambda env, rows: env.msgs.vars[key].to(F64)

    def visit_Index(self, e: A.Index) -> Fn:
        slot = len(self.reads)
        read = _read_of(e)
        self.reads.append(read)
        return lambda env, rows: _source(env.ctx, read).index_select(0, env.ids[slot])


def _scalar(x: float | bool) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.bool if isinstance(x, bool) else F64)


@dataclass
class BlockEnv:
    ctx: Any
    block: Block
    reads: list[torch.Tensor]


class DenseBodyEvaluator(BodyEvaluator):
    """An aggregate's body on a dense block: ``env`` is a :class:`BlockEnv`; constants are 0-d, index
    variables and reads are shaped to broadcast over ``[instances, rows, k, j]``."""

    def visit_Num(self, e: A.Num) -> Fn:
        value = _scalar(e.value)
        return lambda env, rows: value

    def visit_Bool(self, e: A.Bool) -> Fn:
        value = _scalar(e.value)
        return lambda env, rows: value

    def visit_Name(self, e: A.Name) -> Fn:
        v = constant_value(e, self.params)
        if v is None:
            return self.name(e)
        value = _scalar(v)
        return lambda env, rows: value

    def name(self, e: A.Name) -> Fn:
        key = e.name
        if e.kind != "builtin":
            return super().name(e)
        if key == "n":
            return lambda env, rows: env.block.n.to(F64)
        return lambda env, rows: env.block.coord(key).to(F64)

    def visit_Index(self, e: A.Index) -> Fn:
        slot = len(self.reads)
        self.reads.append(_read_of(e))
        return lambda env, rows: env.reads[slot]


def dense_read(c: Any, read: Read, blk: Block, margin: int, tables: dict[str, torch.Tensor]
               ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``read`` on a block: a slice of its padded table (offsets shift the slice), arranged along the
    block dimensions of its variables; and, if a message could read outside the domain, validity."""
    if read.name not in tables:
        tables[read.name] = _table(c, read, margin)
    x = block_slice(tables[read.name], read.index, blk, margin)
    if not read.needs_check(c.domain.kind):
        return x, None
    return x, _read_valid(c, read, blk)


def block_slice(tab: torch.Tensor, index: tuple[tuple[str, int], ...], blk: Block, margin: int) -> torch.Tensor:
    """``tab[b, v0 + o0, v1 + o1]`` over the block as a view: each variable runs over a range, so each
    index is a slice; the result is laid along the variables' block dimensions."""
    idx: list[slice] = [slice(blk.b0, blk.b1)]
    dims = []
    for var, off in index:
        lo, hi, dim = blk.span[var]
        idx.append(slice(margin + lo + off, margin + hi + off))
        dims.append(dim)
    x = tab[tuple(idx)]
    if len(dims) == 2 and dims[0] == dims[1]:
        x, dims = x.diagonal(dim1=1, dim2=2), dims[:1]
    elif len(dims) == 2 and dims[0] > dims[1]:
        x, dims = x.transpose(1, 2), dims[::-1]
    return x[(slice(None), *(slice(None) if d in dims else None for d in (1, 2, 3)))]


def _table(c: Any, read: Read, margin: int) -> torch.Tensor:
    lay: Layout = c.domain
    if read.site == "tuple":
        return lay.dense_table(c.state[read.name], margin)
    if read.site == "edge":
        return lay.edge_table(_source(c, read))
    if read.site == "node":
        assert lay.node_offset is not None
        return lay.dense_rows(read.name, _source(c, read), lay.node_offset, lay.sizes[:, 0], margin)
    assert lay.seqs is not None
    axis = c.spec.domain.inputs[read.name].axis
    return lay.dense_rows(read.name, _source(c, read), lay.seqs.offsets[:, axis], lay.seqs.lengths[:, axis],
                          margin)


def _read_valid(c: Any, read: Read, blk: Block) -> torch.Tensor:
    """The gather path's ``tuple_ids``/position check, on the block's coordinates."""
    lay: Layout = c.domain
    coords = [blk.coord(v) + off for v, off in read.index]
    if read.site == "tuple":
        sizes = [lay.sizes[blk.b0:blk.b1, a].view(-1, 1, 1, 1) for a in range(len(coords))]
    else:
        assert lay.seqs is not None
        axis = c.spec.domain.inputs[read.name].axis
        sizes = [lay.seqs.lengths[blk.b0:blk.b1, axis].view(-1, 1, 1, 1)]
    ok = (coords[0] >= 0) & (coords[0] < sizes[0])
    if len(coords) == 2:
        ok = ok & (coords[1] >= 0) & (coords[1] < sizes[1])
        if lay.kind == "intervals":
            ok = ok & (coords[0] <= coords[1])
    return ok


def edge_read(c: Any, read: Read, blk: EdgeBlock, tables: dict[str, torch.Tensor]) -> torch.Tensor:
    """``read`` on an edge grid: a gather at broadcast coordinates (edge inputs along the edge axis)."""
    if read.site == "edge":
        x = _source(c, read).index_select(0, blk.eid)
        return x[None] if blk.edge_dim == 1 else x[:, None]
    if read.name not in tables:
        tables[read.name] = _table(c, read, 0)
    tab = tables[read.name][blk.b]
    coords = [blk.coord(v) for v, _ in read.index]  # pairs: no offsets (the checker)
    if len(coords) == 2 and coords[0].shape[1 - blk.edge_dim] > 1 and coords[1].shape[1 - blk.edge_dim] == 1:
        rows = coords[0].reshape(-1)  # (free, per edge): rows of the free variable, then their columns
        if bool((rows[1:] - rows[:-1] == 1).all()):
            x = tab[int(rows[0]):int(rows[-1]) + 1].index_select(1, coords[1].reshape(-1))
            return x if blk.edge_dim == 1 else x.t()
    return tab[tuple(coords)]


class DomainAgg:
    """One aggregate on an index domain, compiled once per run."""

    def __init__(self, params: Any, e: A.Agg) -> None:
        ev = BodyEvaluator(params)
        self.body = ev.compile(e.body)
        self.reads = ev.reads
        dense = DenseBodyEvaluator(params)
        self.dense_body = dense.compile(e.body)
        self.dense_reads = dense.reads
        self.margin = max((abs(off) for r in self.reads for _, off in r.index), default=0)
        self._blocks: tuple[Any, list[Block]] | None = None
        # a min and an argmin of the same body (FW's parent) share one pass: ``_twin``
        self.expr = e
        self.twin_key = None if e.default is not None else (e.relation, e.nbr, e.me, unparse(e.body))
        self._has_twin: tuple[Any, bool] | None = None
        self.agg_name = e.agg
        self.plan = RelationPlan(e.relation, e.nbr, e.me)
        self.default = None if e.default is None else DomainEvaluator(params).compile(e.default)
        self._ctx: Any = None
        self._cached: list[tuple[Messages, list[torch.Tensor]]] | None = None

    def _prepare(self, c: Any, msgs: Messages) -> tuple[Messages, list[torch.Tensor]]:
        """Source ids of every read; messages with a read outside the domain are dropped."""
        got = [source_ids(c, r, msgs) for r in self.reads]
        masks = [v for _, v in got if v is not None]
        if not masks:
            return msgs, [ids for ids, _ in got]
        keep = masks[0]
        for m in masks[1:]:
            keep = keep & m
        if bool(keep.all()):
            return msgs, [ids for ids, _ in got]
        return msgs.select(keep), [ids[keep] for ids, _ in got]

    def _chunks(self, c: Any):
        """The prepared chunks: cached for the run when they fit one chunk, else enumerated anew."""
        if self._ctx is c and self._cached is not None:
            yield from self._cached
            return
        lay: Layout = c.domain
        counts = self.plan.counts(c.spec, lay)
        starts = torch.cumsum(counts, 0) - counts
        spans = chunks(counts, limits.cap("chunk_messages"))
        out = []
        for t0, t1 in spans:
            prepared = self._prepare(c, enumerate_chunk(self.plan, c.spec, lay, counts, starts, t0, t1))
            if len(spans) == 1:
                out.append(prepared)
            yield prepared
        if len(spans) == 1:
            self._ctx, self._cached = c, out

    def mode(self, lay: Layout) -> str:
        """How this aggregate runs on ``lay``: ``dense`` blocks (a split, a sequence's ``all``, or a graph
        relation on pairs without parallel edges whose order the aggregator can follow,
        ``lower.graph_order``), ``edges`` (the other graph relations on pairs: edge grids) or
        ``gather`` (per-message gather lists)."""
        agg = AGGREGATORS[self.agg_name]
        if not DENSE:
            return "gather"
        if is_dense(self.plan, lay.kind):
            return "dense" if agg.dense and all(r.site != "edge" for r in self.reads) else "gather"
        if not is_edge_rows(self.plan, lay.kind):
            return "gather"
        order = graph_order(self.plan, lay)
        if agg.dense and (order == "sorted" or (order == "simple" and agg.order_free)):
            return "dense"
        return "edges"

    def __call__(self, c: Any, rows: int) -> torch.Tensor:
        lay: Layout = c.domain
        mode = self.mode(lay)
        if mode == "dense":
            return self._dense_call(c)
        if mode == "edges":
            return self._edge_call(c)
        agg = AGGREGATORS[self.agg_name]
        pivot = lay.coords[c.spec.domain.vars.index(self.plan.pivot)]
        parts = []
        for msgs, ids in self._chunks(c):
            m = int(msgs.tgt.shape[0])
            values = self.body(MsgEnv(c, msgs, ids), m)
            me = msgs.tgt - msgs.t0
            nbr = msgs.vars[self.plan.bound] if self.plan.bound else pivot.index_select(0, msgs.tgt)
            k = msgs.t1 - msgs.t0
            out = agg.aggregate(values, me, nbr.to(F64), k, own=pivot[msgs.t0:msgs.t1])
            if self.default is not None:
                empty = torch.bincount(me, minlength=k) == 0
                if bool(empty.any()):
                    dflt = self._default(c)[msgs.t0:msgs.t1]
                    out = torch.where(empty, dflt.to(out.dtype), out)
            parts.append(out)
        if not parts:
            return torch.zeros(0, dtype=torch.bool if agg.returns_bool else F64)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _twin(self, c: Any) -> tuple[Any, str] | None:
        """The memo key shared with a twin (an argmin/argmax of the same body, relation and pivot, no
        defaults, in the same output) if the spec has one; the min/max computes both in one pass."""
        agg = AGGREGATORS[self.agg_name]
        if self.twin_key is None or agg.custom is not None or agg.reduce not in ("amin", "amax"):
            return None
        if self._has_twin is None or self._has_twin[0] is not c.spec:
            found = False
            for o in c.spec.outputs.values():  # both in one output: evaluated together, once
                inner = [a for a in A.walk(o.expr) if isinstance(a, A.Agg) and a.default is None]
                keys = {(a.relation, a.nbr, a.me, unparse(a.body), AGGREGATORS[a.agg].selects,
                         AGGREGATORS[a.agg].reduce) for a in inner}
                found |= any(a is self.expr for a in inner) and (*self.twin_key, not agg.selects, agg.reduce) in keys
            self._has_twin = (c.spec, found)
        return (self.twin_key, agg.reduce) if self._has_twin[1] else None

    def _memo_state(self, c: Any) -> tuple[torch.Tensor, ...]:
        return tuple(c.state[r.name] for r in self.dense_reads if r.site == "tuple")

    def _memo_hit(self, c: Any, entry: tuple | None) -> torch.Tensor | None:
        """The twin's argmin/argmax if it was computed in this run on the very state tensors read now."""
        if entry is None:
            return None
        ctx, states, arg = entry
        now = self._memo_state(c)
        same = ctx is c and len(states) == len(now) and all(a is b for a, b in zip(states, now, strict=True))
        return arg if same else None

    def _dense_call(self, c: Any) -> torch.Tensor:
        """The aggregate block by block: the body on broadcast reads, reduced over k (block dim 2)."""
        lay: Layout = c.domain
        agg = AGGREGATORS[self.agg_name]
        twin = self._twin(c)
        memo: dict = lay.__dict__.setdefault("_twins", {})
        if twin is not None and agg.selects and (hit := self._memo_hit(c, memo.pop(twin, None))) is not None:
            return hit
        pair = twin is not None and not agg.selects
        args = []
        if self._blocks is None or self._blocks[0] is not c:
            self._blocks = (c, dense_blocks(self.plan, c.spec, lay, limits.cap("chunk_messages")))
        tables: dict[str, torch.Tensor] = {}
        adjacency = ranks = None
        if is_edge_rows(self.plan, lay.kind):  # a graph relation: the adjacency says which messages exist
            assert lay.graph is not None
            ends = edge_ends(self.plan)
            adjacency = lay.edge_table(torch.ones(lay.graph.num_edges, dtype=torch.bool))
            if graph_order(self.plan, lay) != "sorted":  # the edge ids give the gather order
                ranks = lay.edge_table(torch.arange(lay.graph.num_edges))
            self.dense_reads = [Read(r.name, r.kind, r.site, ends) if r.site == "edge" else r
                                for r in self.dense_reads]
        parts = []
        for blk in self._blocks[1]:
            reads, valid = [], blk.valid
            if adjacency is not None:
                adj = block_slice(adjacency, ends, blk, self.margin)
                valid = adj if valid is None else valid & adj
            for r in self.dense_reads:
                x, ok = dense_read(c, r, blk, self.margin, tables)
                reads.append(x)
                if ok is not None:
                    valid = ok if valid is None else valid & ok
            nb, R, K, J = blk.shape
            values = self.dense_body(BlockEnv(c, blk, reads), 0)
            values = values.expand(nb, R, K, J)  # a view; every target's messages, as the gather path has
            own = blk.coord(self.plan.pivot).squeeze(2)
            order = None if ranks is None else block_slice(ranks, ends, blk, self.margin)
            if pair:
                out, arg = agg.aggregate_dense_pair(values, valid, 2, blk.coord(self.plan.bound), own, order)
                arg = arg.expand(nb, R, J)
                args.append(arg.reshape(-1) if blk.target is None else arg[blk.target.expand(nb, R, J)])
            else:
                out = agg.aggregate_dense(values, valid, 2, blk.coord(self.plan.bound), own, order)
            out = out.expand(nb, R, J)
            del values, reads  # free the block before the next one is allocated: malloc then reuses it
            tgt = None if blk.target is None else blk.target.expand(nb, R, J)
            out = out.reshape(-1) if tgt is None else out[tgt]
            if self.default is not None and (valid is not None or K == 0):
                empty = (torch.ones(nb, R, J, dtype=torch.bool) if valid is None
                         else ~valid.expand(broadcast_shape(valid.shape, (nb, R, K, J))).any(2))
                empty = empty.reshape(-1) if tgt is None else empty[tgt]
                out = torch.where(empty, self._default(c)[blk.t0:blk.t1].to(out.dtype), out)
            assert out.shape[0] == blk.t1 - blk.t0
            parts.append(out)
        if not parts:
            return torch.zeros(0, dtype=torch.bool if agg.returns_bool else F64)
        if pair:
            memo[twin] = (c, self._memo_state(c), args[0] if len(args) == 1 else torch.cat(args))
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _edge_call(self, c: Any) -> torch.Tensor:
        """A graph relation on pairs chunk by chunk of edge grids (``lower.edge_blocks``): the body on
        broadcast gathers, reduced by the registry's scatter exactly as the gather path does."""
        lay: Layout = c.domain
        agg = AGGREGATORS[self.agg_name]
        if self._blocks is None or self._blocks[0] is not c:
            self._blocks = (c, edge_blocks(self.plan, c.spec, lay, limits.cap("chunk_messages")))
        pivot = lay.coords[c.spec.domain.vars.index(self.plan.pivot)]
        tables: dict[str, torch.Tensor] = {}
        parts = []
        for blk in self._blocks[1]:
            grid = torch.broadcast_shapes(*(v.shape for v in blk.vars.values()))
            reads = [edge_read(c, r, blk, tables) for r in self.dense_reads]
            values = self.dense_body(BlockEnv(c, blk, reads), 0).expand(grid).reshape(-1)
            nbr = blk.coord(self.plan.bound).expand(grid).reshape(-1).to(F64) if agg.selects else values
            k = blk.t1 - blk.t0
            me = blk.me()
            out = agg.aggregate(values, me, nbr, k, own=pivot[blk.t0:blk.t1])
            del values, nbr, reads  # free the chunk before the next one is allocated
            if self.default is not None:
                empty = torch.bincount(me, minlength=k) == 0
                if bool(empty.any()):
                    out = torch.where(empty, self._default(c)[blk.t0:blk.t1].to(out.dtype), out)
            parts.append(out)
        if not parts:
            return torch.zeros(0, dtype=torch.bool if agg.returns_bool else F64)
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _default(self, c: Any) -> torch.Tensor:
        if getattr(self, "_dctx", None) is not c:
            n = c.domain.num_tuples
            v = self.default(c, n)  # type: ignore[misc]
            self._dval = v.expand(n) if v.dim() == 0 or v.shape[0] != n else v
            self._dctx = c
        return self._dval


# --------------------------------------------------------------------------- whole gather lists (dpdsl emit)


def spec_aggregates(spec: Any) -> list[tuple[str, A.Agg]]:
    """Every aggregate of a spec with its key: ``view_<name>`` per view, then ``out_<name>_<i>`` for the
    aggregates inside each output, in spec order (the emitted skeleton's module attributes)."""
    out = [(f"view_{name}", v.agg) for name, v in spec.views.items()]
    for name, o in spec.outputs.items():
        inner = [x for x in A.walk(o.expr) if isinstance(x, A.Agg)]
        out += [(f"out_{name}_{i}", a) for i, a in enumerate(inner)]
    return out


def read_key(e: A.Index) -> str:
    """How a tuple-level read is named in :func:`gather_lists` (``d[j, i]``, ``p[i]``)."""
    return f"{e.name}[{', '.join(e.args)}]"


def gather_lists(spec: Any, data: Any) -> dict[str, Any]:
    """The lowered run as plain tensors, whole (one chunk; memory grows with the messages): tuples,
    builtins, inputs, the source ids of every tuple-level read, and per aggregate its gather lists —
    each message's target tuple, the source id of each read of its body (in the body's reading order),
    the index variables' values and the bound variable (argmin's answer). What the skeleton written
    by ``dpdsl emit`` for an index-domain spec takes, and what a teacher can pass messages over."""
    from types import SimpleNamespace

    from dpdsl.domains.lower import builtins as domain_builtins
    from dpdsl.domains.lower import lower

    lay = lower(spec, data)
    c = SimpleNamespace(domain=lay, spec=spec, builtins=domain_builtins(spec, lay))
    inputs: dict[str, torch.Tensor] = {}
    if lay.seqs is not None:
        inputs.update(lay.seqs.inputs)
    if lay.graph is not None:
        inputs.update({k: v for k, v in lay.graph.node.items() if k in spec.node_inputs})
        inputs.update({k: v for k, v in lay.graph.edge.items() if k in spec.edge_inputs})
    exprs = [st.init for st in spec.states.values()] + [spec.rounds.expr] + [o.expr for o in spec.outputs.values()]
    exprs += [a.default for _, a in spec_aggregates(spec) if a.default is not None]
    at: dict[str, torch.Tensor] = {}
    for e in exprs:
        for x in _tuple_reads(e):
            at[read_key(x)] = source_ids(c, _read_of(x), identity_messages(c))[0]
    aggs = {}
    for key, e in spec_aggregates(spec):
        agg = DomainAgg(spec.param_values, e)
        counts = agg.plan.counts(spec, lay)
        msgs, ids = agg._prepare(c, enumerate_chunk(agg.plan, spec, lay, counts, torch.cumsum(counts, 0) - counts,
                                                    0, lay.num_tuples))
        pivot = lay.coords[spec.domain.vars.index(agg.plan.pivot)]
        bound = msgs.vars[agg.plan.bound] if agg.plan.bound else pivot.index_select(0, msgs.tgt)
        aggs[key] = {"target": msgs.tgt, "reads": ids, "vars": {v: x.to(F64) for v, x in msgs.vars.items()},
                     "n": c.builtins["n"].index_select(0, msgs.tgt), "bound": bound.to(F64),
                     "own": pivot.to(F64)}
    return {"num_tuples": lay.num_tuples, "builtins": c.builtins, "inputs": inputs, "at": at, "aggs": aggs,
            "layout": lay}


def _tuple_reads(e: A.Expr) -> list[A.Index]:
    """The indexed reads of an expression outside its aggregates (a state at the tuple's own variables
    is the state itself and needs no ids)."""
    out: list[A.Index] = []

    def walk(x: A.Expr) -> None:
        if isinstance(x, A.Agg):
            return
        if isinstance(x, A.Index):
            out.append(x)
        for ch in x.children():
            walk(ch)

    walk(e)
    return out
