"""Frontier execution: a round recomputes only what the previous round's changes can reach.

A transition is a deterministic function of its arguments (own state, node inputs, views), so a node
none of whose arguments changed cannot change. After a round that changed the nodes C (bit for bit),
the next round re-evaluates the aggregate bodies only on the edges out of C (and into C when a body
reads ``x[v]``), updates the views from those edges, and runs the transitions only at C and at the
nodes whose view changed. Views are updated in one of two ways:

* **push** (``min``/``max``, ``or``/``and``, ``count``): every view keeps its per-edge body values
  (``msg``) from the last full round; a changed edge value is folded into the view in place. That is
  exact when the value moved in the reduction's favourable direction (``min``: strictly smaller and
  not ±0, whose order the dense scatter decides; ``or``: false to true) or, for ``count``, always
  (integer deltas are exact). Any other change sends the edge's target to a pull.
* **pull** (every other aggregator, and targets a push cannot settle): the target is re-aggregated from
  *all* its in-edges in the original edge order, the same values in the same order as the dense
  scatter.

Edges of a node set are found by a vectorised scan over the edge list (no set-up cost) for the first
``CSR_AFTER`` sparse rounds, then by CSR slices (one sort, paid only by runs with many rounds: ski
rental). Like Ligra, a round whose changed nodes have more than ``DENSE_FRACTION`` of the edges runs
dense, where one full scatter is cheaper than the gathers. The result is bit-identical to dense
rounds (``tests/test_frontier.py``; docs/architecture.md §4).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dpdsl.expr import nodes as A
from dpdsl.hostops import all_ordered, bit_changes, field_changes, flatnonzero, select, zero_or_nan
from dpdsl.ir import SpecIR
from dpdsl.registry import AGGREGATORS, RELATIONS
from dpdsl.types import BOOL

DENSE_FRACTION = 0.25
"""A round whose changed nodes have more than this fraction of a relation's edges (the edges it would
re-evaluate) runs dense. Measured on ER 10k/100k (benchmarks/speed.py --switch): a sparse round costs
about four times a dense one per edge, so the break-even is near 1/4 (Ligra uses 1/20 for pulls)."""

CSR_AFTER = 4
"""Sparse rounds served by edge scans before the CSR layout is built. Ski rental: build once the scans
have cost about what the build does. Measured (one thread, ER with 10 edges per node): a build (bincount,
cumsum, stable sort of int16/int32 keys) costs 4-8 scans (0.74 against 0.18 ms at 100k edges, 17.3
against 2.1 ms at 1M), a CSR slice of a 5 % frontier a third of a scan or less."""

MIN_EDGES = 20_000
"""Graphs (batches) with fewer edges run dense rounds unless frontier rounds are asked for: below this a
dense round costs less than a sparse round's fixed ~0.1 ms (measured: ER 1k/10k, 2.6 ms frontier
against 1.2 ms dense)."""

MARK_FROM = 1 / 150
"""Node id lists longer than this fraction of the nodes are deduplicated by a pass over a node mask,
shorter ones by a sort (``unique_nodes``). Measured in numpy: a sort costs ~25 ns an id, the mask pass
~0.17 ns a node (2000 ids: 50 us sorted, 18 us by mask at 10k nodes, 224 us at 1M)."""

PUSH_MIN, PUSH_MAX, PUSH_OR, PUSH_AND, PUSH_COUNT, PULL = "amin", "amax", "or", "and", "count", "pull"
_FILL = {PUSH_MIN: torch.tensor(float("inf"), dtype=torch.float64),
         PUSH_MAX: torch.tensor(-float("inf"), dtype=torch.float64)}
_NONE = torch.zeros(0, dtype=torch.long)


@dataclass
class _Update:
    """One view's planned update in a sparse round (``Frontier._plan``; applied by ``_apply``)."""

    name: str
    agg: Any
    mode: str
    eids: torch.Tensor  # the edges out of the changed nodes
    me: torch.Tensor  # their aggregating ends
    new: torch.Tensor | None = None  # push views: the body's new and old values on those edges
    old: torch.Tensor | None = None
    keep: torch.Tensor | None = None  # the edges a push settles (None: all of them)
    pull: torch.Tensor = _NONE  # nodes re-aggregated from all their in-edges, and those edges
    pull_eids: torch.Tensor = _NONE
    static: bool = False  # monotone body and state moves (``Frontier._static``): no edge was compared


def view_mode(agg_name: str) -> str:
    """How a view of this aggregator follows changed edges (see the module docstring)."""
    agg = AGGREGATORS[agg_name]
    if agg.custom is not None or agg.selects:
        return PULL
    if agg.reduce in ("amin", "amax"):
        if agg.returns_bool:
            return PUSH_OR if agg.reduce == "amax" else PUSH_AND
        return agg.reduce
    if agg.reduce == "sum" and agg.accepts == (BOOL,):  # sums of 0/1: integer deltas are exact
        return PUSH_COUNT
    return PULL


def monotone_signs(e: A.Expr) -> dict[str, int] | None:
    """Per state field an aggregate body reads at the neighbour: +1 if the body cannot decrease when
    the field grows, -1 if it cannot increase; None when that is not evident from the expression (sums,
    differences, negation and min/max of neighbour states and constants; IEEE rounding is monotone)."""
    if not any(isinstance(x, A.Index) and x.kind == "state" for x in A.walk(e)):
        return {}
    if isinstance(e, A.Index):
        real = e.type is not None and e.type.kind != BOOL
        return {e.name: 1} if e.kind == "state" and e.site == "nbr" and real else None
    if isinstance(e, A.Unary) and e.op == "-":
        inner = monotone_signs(e.x)
        return None if inner is None else {k: -v for k, v in inner.items()}
    if isinstance(e, A.Binary) and e.op in ("+", "-"):
        parts = [monotone_signs(e.a), monotone_signs(e.b)]
        if e.op == "-" and parts[1] is not None:
            parts[1] = {k: -v for k, v in parts[1].items()}
    elif isinstance(e, A.Call) and e.fn in ("min", "max"):
        parts = [monotone_signs(x) for x in e.args]
    else:
        return None
    out: dict[str, int] = {}
    for part in parts:
        if part is None:
            return None
        for k, v in part.items():
            if out.setdefault(k, v) != v:
                return None
    return out


def stable_order(key: np.ndarray, num_nodes: int) -> np.ndarray:
    """The stable sorting permutation of node-id keys, by the fastest sort for their width: numpy's
    radix sort when the ids fit 16 bits (measured at 100k edges: 0.37-0.52 ms, torch's int16 sort
    0.59-0.62 ms, numpy's int32 merge sort 6.9 ms), else torch's sort of int32 keys."""
    if num_nodes <= 2**16:
        return np.argsort(key.astype(np.uint16), kind="stable")
    narrow = torch.from_numpy(key.astype(np.int32) if num_nodes <= 2**31 else key)
    return torch.sort(narrow, stable=True).indices.numpy()


class Csr:
    """The edges of one relation grouped by a key node, each group in original edge order. Held as numpy
    arrays: a slice is a dozen small index operations, each ~1 us in numpy against ~5 us in torch."""

    def __init__(self, key: torch.Tensor, num_nodes: int) -> None:
        k = key.numpy()
        self.ptr = np.zeros(num_nodes + 1, dtype=np.int64)
        self.deg = np.bincount(k, minlength=num_nodes)
        np.cumsum(self.deg, out=self.ptr[1:])
        if k.size < 2 or bool((k[1:] >= k[:-1]).all()):  # edge lists are often sorted already
            self.perm = np.arange(k.size)
        else:
            self.perm = stable_order(k, num_nodes)
        self._other: np.ndarray | None = None

    def edges_of(self, nodes: torch.Tensor) -> torch.Tensor:
        """Edge ids of ``nodes``' groups, concatenated in ``nodes`` order: one vectorised slice."""
        return torch.from_numpy(self.perm[self._offsets(nodes.numpy())[0]])

    def _offsets(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``perm`` of ``nodes``' groups, and each group's size."""
        starts, counts = self.ptr[nodes], self.deg[nodes]
        ends = np.cumsum(counts)
        total = int(ends[-1]) if ends.size else 0
        return np.repeat(starts - (ends - counts), counts) + np.arange(total), counts

    def edges_and_ends(self, nodes: torch.Tensor, other: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor,
                                                                                  torch.Tensor]:
        """(edge ids, key end, other end) of ``nodes``' groups: the ends from copies of the edge arrays in
        CSR order, read in contiguous runs instead of gathered edge by edge."""
        if self._other is None:
            self._other = np.take(other.numpy(), self.perm)
        ids = nodes.numpy()
        offs, counts = self._offsets(ids)
        return (torch.from_numpy(self.perm[offs]), torch.from_numpy(np.repeat(ids, counts)),
                torch.from_numpy(self._other[offs]))


class EdgeSide:
    """Finds the edges whose ``key`` end lies in a node set: scans first, a CSR after ``CSR_AFTER``."""

    def __init__(self, key: torch.Tensor, num_nodes: int) -> None:
        self.key, self.n = key, num_nodes
        self.scan_key: torch.Tensor | None = None  # int32 copy of key (half the bytes per scan), on first use
        self.mark = torch.zeros(num_nodes, dtype=torch.bool)
        self.csr: Csr | None = None
        self.scans = 0

    def edges_of(self, nodes: torch.Tensor) -> torch.Tensor:
        """Edge ids with ``key`` in ``nodes`` (sorted, unique); each node's edges in edge order."""
        if self.csr is not None:
            return self.csr.edges_of(nodes)
        self.scans += 1
        if self.scans > CSR_AFTER:
            self.csr, self.scan_key = Csr(self.key, self.n), None
            return self.csr.edges_of(nodes)
        if self.scan_key is None:
            self.scan_key = self.key.to(torch.int32) if self.n < 2**31 else self.key
        self.mark.index_fill_(0, nodes, True)
        hit = self.mark.index_select(0, self.scan_key)
        self.mark.index_fill_(0, nodes, False)
        return flatnonzero(hit)


def unique_nodes(parts: list[torch.Tensor], mark: torch.Tensor) -> torch.Tensor:
    """The sorted distinct ids of ``parts``: a sort when they are few, else a pass over a node mask
    (``mark``, all false, left all false); ``MARK_FROM`` says where. In numpy: ``np.unique`` and
    ``torch.unique`` measured 5-20 times slower than either at 2000 ids."""
    ids = parts[0].numpy() if len(parts) == 1 else np.concatenate([p.numpy() for p in parts])
    if ids.size <= MARK_FROM * mark.numel():
        ids = np.sort(ids)
        keep = np.empty(ids.size, dtype=bool)
        keep[:1] = True
        np.not_equal(ids[1:], ids[:-1], out=keep[1:])
        return torch.from_numpy(ids[keep])
    m = mark.numpy()
    m[ids] = True
    out = np.flatnonzero(m)
    m[out] = False
    return torch.from_numpy(out)


class Frontier:
    """Per-run sparse machinery: edge finders per relation, per-edge values of push views, the rounds."""

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
        n = self.n = ctx.graph.num_nodes
        self.out_of: dict[str, EdgeSide] = {}
        self.into: dict[str, EdgeSide] = {}
        for agg in self.views.values():
            if agg.relation not in self.out_of:
                nbr, me = ctx.relation(agg.relation)
                self.out_of[agg.relation], self.into[agg.relation] = EdgeSide(nbr, n), EdgeSide(me, n)
        self.mode = {name: view_mode(agg.agg_name) for name, agg in self.views.items()}
        self.reads_self = {name: any(isinstance(x, A.Index) and x.kind == "state" and x.site == "self"
                                     for x in A.walk(agg.expr)) for name, agg in self.views.items()}
        self.msg: dict[str, torch.Tensor] = {}  # push views: body value per edge, as of the last round
        self.stale: set[str] = set()  # push views whose msg static rounds did not keep up to date
        # min/max views whose body is monotone in the neighbours' states: if every state moved the
        # favourable way last round, every edge value did too and no edge needs checking (``_static``)
        self.signs: dict[str, dict[str, int]] = {}
        self.need: dict[str, set[int]] = {}  # state field -> directions (-1 down, +1 up) worth testing
        for name, agg in self.views.items():
            sig = monotone_signs(agg.expr.body) if self.mode[name] in (PUSH_MIN, PUSH_MAX) else None
            if sig is not None and not self.reads_self[name]:
                self.signs[name] = sig
                for f, v in sig.items():
                    self.need.setdefault(f, set()).add(-v if self.mode[name] == PUSH_MIN else v)
        self.dirs: dict[str, set[int]] = {}  # state field -> directions that held in the last round
        self.edges = {rel: int(side.key.shape[0]) for rel, side in self.out_of.items()}
        self.mark = torch.zeros(n, dtype=torch.bool)  # scratch for unique_nodes
        self.owned = False  # whether the state tensors are this run's own (safe to update in place)
        self._inputs = {t.data_ptr() for t in (*ctx.graph.edge.values(), *ctx.graph.node.values())}

    def dense_views(self) -> None:
        """Every view from every edge into a fresh ``ctx.views``, keeping push views' edge values."""
        ctx, before = self.ctx, self.ctx.views
        ctx.views = {}
        for name, agg in self.views.items():
            values, _, me = agg.edge_values(ctx)
            if self.mode[name] != PULL:
                new = values.to(torch.float64)
                view = self._monotone(name, new, me, before.get(name))
                self.msg[name] = self._own(new)
                self.stale.discard(name)
                if view is not None:
                    ctx.views[name] = view
                    continue
            ctx.views[name] = agg.reduce_all(ctx, values)
        self.owned = False  # a dense round's transitions may return aliases of views or inputs

    def _monotone(self, name: str, new: torch.Tensor, me: torch.Tensor, view: torch.Tensor | None
                  ) -> torch.Tensor | None:
        """A min (max) view whose edge values all moved down (up) since the last round: the old view
        folded with the new values, as the hand-written loop folds ``dist`` into its scatter (most
        edges then change nothing, which is cheaper than a scatter onto the identity). Exact unless
        the result has a zero (a tie of signed zeros is the dense scatter's order to decide) or a NaN:
        None. The edge values are compared only when ``_static`` cannot vouch for them."""
        mode, old = self.mode[name], self.msg.get(name)
        if view is None or old is None or mode not in (PUSH_MIN, PUSH_MAX):
            return None
        static = self._static(name)
        if not static and name in self.stale:
            return None
        if not static and not all_ordered(new, old, mode == PUSH_MIN):
            return None  # NaN compares false: also refused
        out = view.scatter_reduce(0, me, new, mode, include_self=True)
        return None if zero_or_nan(out) else out

    def observe(self, field: str, new: torch.Tensor, old: torch.Tensor, value: bool) -> tuple[np.ndarray, bool]:
        """A state field's round: its bit changes and (if ``value``) whether it changed by the fixpoint
        rule; records which way it moved (every node down, every node up) where a view's monotone body
        makes that worth knowing (NaN moves neither way)."""
        want = self.need.get(field, ())
        bits, held, changed = field_changes(new, old, want, value)
        if want:
            self.dirs[field] = held
        return bits, changed

    def _static(self, name: str) -> bool:
        """Every edge value of this min (max) view moved down (up) or not at all last round."""
        sig = self.signs.get(name)
        if sig is None:
            return False
        want = -1 if self.mode[name] == PUSH_MIN else 1
        return all(want * v in self.dirs.get(f, ()) for f, v in sig.items())

    def edge_cache(self) -> dict[tuple[str, A.Expr], tuple[torch.Tensor, str, torch.Tensor]]:
        """The min/max views with their edge values on the final state (``execute.Context.edge_cache``)."""
        for name in self.stale:
            self.msg[name] = self.views[name].edge_values(self.ctx)[0].to(torch.float64)
        self.stale.clear()
        return {(agg.relation, agg.expr.body): (self.msg[name], agg.agg_name, self.ctx.views[name])
                for name, agg in self.views.items() if self.mode[name] in (PUSH_MIN, PUSH_MAX)}

    def _own(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` or a copy of it that is safe to update in place (not an input, not a broadcast view)."""
        return x.clone() if x._is_view() or x.data_ptr() in self._inputs else x

    def own_state(self) -> None:
        """Before the first in-place update after a dense round: copy the state tensors that alias a
        view, an input, another state or a broadcast (a transition may return any of them as is)."""
        if self.owned:
            return
        taken = self._inputs | {v.data_ptr() for v in self.ctx.views.values()}
        for name, v in self.ctx.state.items():
            if v._is_view() or v.data_ptr() in taken:
                self.ctx.state[name] = v = v.clone()
            taken.add(v.data_ptr())
        self.owned = True

    def sparse_views(self, changed: torch.Tensor) -> torch.Tensor | None:
        """After the nodes ``changed`` (sorted ids) changed, bring every view up to date in place and
        return the sorted nodes whose transition arguments may have changed; or None, with nothing
        touched, when the round is cheaper dense."""
        out_eids: dict[str, torch.Tensor] = {}
        self._ends: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for rel, side in self.out_of.items():
            if changed.numel() > DENSE_FRACTION * self.n:  # quick reject by the average degree
                return None
            if side.csr is not None:  # the ends from CSR-ordered copies: no per-edge gathers
                eids, nbr, me = side.csr.edges_and_ends(changed, self.ctx.relation(rel)[1])
                self._ends[rel] = (nbr, me)
            else:
                eids = side.edges_of(changed)
            out_eids[rel] = eids
            if eids.numel() > DENSE_FRACTION * self.edges[rel]:
                return None
        ups = [self._plan(name, agg, changed, out_eids[agg.relation]) for name, agg in self.views.items()]
        if sum(int(u.pull_eids.numel()) for u in ups) > DENSE_FRACTION * sum(self.edges.values()):
            return None
        self.own_state()
        parts = [changed]
        for u in ups:
            parts.extend(self._apply(u))
        return unique_nodes(parts, self.mark)

    def _plan(self, name: str, agg: Any, changed: torch.Tensor, eids: torch.Tensor) -> _Update:
        """Everything a view's update needs, computed without touching it: the new body values on the
        edges out of ``changed``, which of them a push settles, and the nodes to pull (with their
        in-edges)."""
        mode, ctx = self.mode[name], self.ctx
        pull_sets = [changed] if self.reads_self[name] else []
        static = self._static(name)
        if mode == PULL or (name in self.stale and not static):  # no edge values to compare with
            u = _Update(name, agg, PULL, eids, ctx.relation(agg.relation)[1].index_select(0, eids))
            pull_sets.append(u.me)
        else:
            values, _, me = agg.edge_values(ctx, eids, self._ends.get(agg.relation))
            new = values if values.dtype == torch.float64 else values.to(torch.float64)
            old = None if static else self.msg[name].index_select(0, eids)
            u = _Update(name, agg, mode, eids, me, new, old)
            if static:  # every value moved the right way: _apply checks the results instead
                u.static = True
            elif mode == PUSH_COUNT:
                u.keep = new != old
            else:
                keep = new < old if mode in (PUSH_MIN, PUSH_AND) else new > old
                if mode in (PUSH_MIN, PUSH_MAX):  # ties of signed zeros are the dense scatter's to order
                    keep &= new != 0
                settled = keep.numpy()
                if not settled.all():  # some edge moved the wrong way (or not at all)
                    u.keep = keep
                    bad = ~settled & bit_changes(new, old)
                    if bad.any():
                        pull_sets.append(select(me, bad))
        if pull_sets:
            u.pull = unique_nodes(pull_sets, self.mark)
            u.pull_eids = self.into[agg.relation].edges_of(u.pull)
        return u

    def _apply(self, u: _Update) -> list[torch.Tensor]:
        """Update one view in place (pushes, then pulls); the nodes whose view may have changed."""
        view = self.ctx.views[u.name]
        out: list[torch.Tensor] = []
        if u.new is not None:
            if u.mode in (PUSH_MIN, PUSH_MAX):
                src = u.new if u.keep is None else torch.where(u.keep, u.new, _FILL[u.mode])
                view.scatter_reduce_(0, u.me, src, u.mode, include_self=True)
                now = view.index_select(0, u.me)
                won = now.detach().numpy() == src.detach().numpy()  # the edges whose value is now the view's
                out.append(select(u.me, won if u.keep is None else won & u.keep.numpy()))
                if u.static and zero_or_nan(now):  # the dense scatter's order decides a zero or NaN: pull
                    odd = (now == 0).logical_or_(torch.isnan(now))
                    u.pull = unique_nodes([select(u.me, odd)], self.mark)
                    u.pull_eids = self.into[u.agg.relation].edges_of(u.pull)
            elif u.mode == PUSH_COUNT:
                view.index_add_(0, u.me, u.new - u.old)
                out.append(select(u.me, u.keep))
            else:
                hit = u.me if u.keep is None else select(u.me, u.keep)
                view.index_fill_(0, hit, u.mode == PUSH_OR)
                out.append(hit)
            if u.static:  # not needed while rounds stay static; the next non-static round pulls instead
                self.stale.add(u.name)
            else:
                self.msg[u.name].index_copy_(0, u.eids, u.new)
        if u.pull.numel():
            values, nbr, me = u.agg.edge_values(self.ctx, u.pull_eids)
            if u.name in self.msg:
                self.msg[u.name].index_copy_(0, u.pull_eids, values.to(torch.float64))
            fresh = u.agg.reduce_on(self.ctx, u.pull, values, nbr, me)
            before = view.index_select(0, u.pull)
            view.index_copy_(0, u.pull, fresh)
            out.append(select(u.pull, bit_changes(fresh, before)))
        return out
