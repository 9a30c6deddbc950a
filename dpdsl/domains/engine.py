"""Expressions on an index domain, compiled once per run (docs/architecture.md §12).

``DomainEvaluator`` compiles tuple-level expressions (init, rounds, outputs) over the run's context,
whose ``domain`` is the :class:`~dpdsl.domains.lower.Layout`; its aggregates become
:class:`DomainAgg`, which enumerates the relation's messages chunk by chunk, turns every read in the
body into a gather at the source tuple those messages name, evaluates the body once per chunk and
reduces onto the targets with the registry's aggregator (``default`` where a tuple got no message). The
executor (``dpdsl.execute.run_skeleton``) is otherwise unchanged: rounds, transitions, fixpoints and
round caps are the node engine's, with tuples in place of nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from dpdsl import limits
from dpdsl.domains.core import parse_index
from dpdsl.domains.lower import Layout, Messages, RelationPlan, chunks, enumerate_chunk
from dpdsl.expr import nodes as A
from dpdsl.expr.torch_eval import Fn, TorchEvaluator
from dpdsl.registry import AGGREGATORS

F64 = torch.float64


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


class DomainEvaluator(TorchEvaluator):
    """Tuple-level expressions: ``env`` is the run's context (``dpdsl.execute.Context``)."""

    def name(self, e: A.Name) -> Fn:
        key = e.name
        if e.kind == "state":
            return lambda c, rows: c.state[key]
        if e.kind == "view":
            return lambda c, rows: c.views[key]
        if e.kind == "builtin":
            return lambda c, rows: c.builtins[key]
        return super().name(e)

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


class DomainAgg:
    """One aggregate on an index domain, compiled once per run."""

    def __init__(self, params: Any, e: A.Agg) -> None:
        ev = BodyEvaluator(params)
        self.body = ev.compile(e.body)
        self.reads = ev.reads
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

    def __call__(self, c: Any, rows: int) -> torch.Tensor:
        lay: Layout = c.domain
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

    def _default(self, c: Any) -> torch.Tensor:
        if getattr(self, "_dctx", None) is not c:
            n = c.domain.num_tuples
            v = self.default(c, n)  # type: ignore[misc]
            self._dval = v.expand(n) if v.dim() == 0 or v.shape[0] != n else v
            self._dctx = c
        return self._dval
