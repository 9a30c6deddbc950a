"""The single source of truth for the semantics the language names.

Aggregators (name, identity, accepted body types, result type, torch reduction, torch-geometric
``aggr``), functions, neighbour relations and graph kinds live here and nowhere else. The checker reads
the type rules, the reference executor and the student call ``Aggregator.aggregate``, and the code
generator reads ``pyg_aggr`` and ``identity``. Plugins extend the tables with the ``register_*``
functions (see ``examples/``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from dpdsl.hostops import flatnonzero
from dpdsl.runtime import fmax, fmin
from dpdsl.types import BOOL, INT, NODE, REAL, T_BOOL, T_INT, T_NODE, T_REAL, Type

SELF = "self"  # identity of argmin/argmax: an empty neighbourhood points to the node itself


def join_numeric(a: Type, b: Type) -> Type:
    """Type of an arithmetic result: real if either side is real, else int."""
    return T_REAL if REAL in (a.kind, b.kind) else T_INT


Reduce = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], torch.Tensor]


@dataclass(frozen=True)
class Aggregator:
    """One ``⊕``. ``identity`` is what an empty neighbourhood yields (``SELF`` for argmin/argmax).

    ``accepts`` lists the body kinds it takes; ``result`` maps the body type to the view type;
    ``reduce`` is the torch ``scatter_reduce`` name, ``pyg_aggr`` the torch-geometric ``aggr`` string
    the emitted skeleton uses (None where PyG has no equivalent and the skeleton calls ``aggregate``).
    ``custom`` replaces the scatter for aggregators that are not a plain reduction (plugins).
    """

    name: str
    accepts: tuple[str, ...]
    result: Callable[[Type], Type]
    identity: float | bool | str
    reduce: str
    pyg_aggr: str | None
    doc: str
    custom: Reduce | None = None

    @property
    def selects(self) -> bool:
        return self.identity == SELF

    def aggregate(
        self, values: torch.Tensor, me: torch.Tensor, nbr: torch.Tensor, num_nodes: int,
        own: torch.Tensor | None = None, best: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Reduce per-edge ``values`` onto ``me`` (the aggregating node of each edge), vectorised.

        Empty neighbourhoods get the identity, never 0 by accident. For argmin/argmax the result is
        the neighbour id (``nbr``) of the extreme value, ties broken towards the smallest id, and the
        node's own id (``own[i]``, default ``i``) where there is none — frontier rounds aggregate onto a
        compact numbering of a node subset and pass the subset's ids. ``best`` (argmin/argmax) is the
        extreme value per node when the caller already has it (a min/max view over the same values).
        """
        if self.custom is not None:
            return self.custom(values, me, nbr, num_nodes)
        if self.selects:
            return _arg_extreme(values, me, nbr, num_nodes, self.reduce, own, best)
        values = values.to(torch.float64)
        if self.reduce == "mean":
            tot = torch.zeros(num_nodes, dtype=torch.float64).index_add_(0, me, values)
            cnt = torch.zeros(num_nodes, dtype=torch.float64).index_add_(
                0, me, torch.ones_like(values)
            )
            out = torch.where(cnt > 0, tot / cnt.clamp(min=1), torch.as_tensor(float(self.identity)))
            return out
        out = torch.full((num_nodes,), float(self.identity), dtype=torch.float64)
        out.scatter_reduce_(0, me, values, reduce=self.reduce, include_self=True)  # in place: one copy less
        return out > 0.5 if self.returns_bool else out

    def aggregate_dense_pair(
        self, values: torch.Tensor, valid: torch.Tensor | None, dim: int, nbr: torch.Tensor,
        own: torch.Tensor, order: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A min (max) and its argmin (argmax) over the same block from one masked pass and one
        ``min(dim)``: each bit for bit what ``aggregate_dense`` gives for this aggregator and for
        ``argmin``/``argmax``, for bodies a spec reduces twice (Floyd-Warshall's ``parent``)."""
        assert self.reduce in ("amin", "amax") and not self.selects and self.custom is None
        if valid is not None and valid.shape != values.shape:
            values = values.expand(broadcast_shape(values.shape, valid.shape))
        values = values.to(torch.float64)
        if values.shape[dim] == 0:
            shape = values.shape[:dim] + values.shape[dim + 1:]
            return (torch.full(shape, float(self.identity), dtype=torch.float64),
                    own.to(torch.float64).expand(shape))
        lo = self.reduce == "amin"
        x = _masked(values, valid, math.inf if lo else -math.inf)
        best, idx = x.min(dim) if lo else x.max(dim)
        value = _dense_extreme(values, valid, dim, self.reduce, float(self.identity), order, pre=(x, best))
        arg = _dense_arg_extreme(values, valid, dim, nbr, own, self.reduce, pre=(x, best, idx))
        return value, arg

    @property
    def returns_bool(self) -> bool:
        return self.accepts == (BOOL,) and self.result(T_BOOL).kind == BOOL

    @property
    def order_free(self) -> bool:
        """Whether the result depends on the messages' order only through which of equal extremes
        comes first (min/max, argmin/argmax, or/and), not through a fold (sum, prod, mean)."""
        return self.custom is None and (self.selects or self.reduce in ("amin", "amax"))

    @property
    def dense(self) -> bool:
        """Whether :meth:`aggregate_dense` can reduce it (every built-in; not a ``custom`` plugin)."""
        return self.custom is None and (self.selects or self.reduce in ("amin", "amax", "sum", "prod", "mean"))

    def aggregate_dense(
        self, values: torch.Tensor, valid: torch.Tensor | None, dim: int, nbr: torch.Tensor,
        own: torch.Tensor, order: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``aggregate`` over a dense block: the messages of a target lie along ``dim`` (those where
        ``valid`` is false do not exist), in the order ``aggregate`` would see them; bit for bit the
        scatter's result (docs/architecture.md §12 says how: sums fold in that order, min/max keep the
        scatter's first zero and last NaN). ``nbr`` is the bound variable along ``dim``, ``own`` the
        result-shaped ids for argmin/argmax. ``order`` (broadcastable), if given, is each message's rank in
        the scatter's order when that is not its position along ``dim``; only min/max/argmin/argmax/
        or/and, whose result does not depend on the order beyond those ranks, accept it."""
        if order is not None and not self.order_free:
            raise ValueError(f"'{self.name}' folds in message order; its block must be in that order")
        if valid is not None and valid.shape != values.shape:
            values = values.expand(broadcast_shape(values.shape, valid.shape))
        if self.selects:
            return _dense_arg_extreme(values.to(torch.float64), valid, dim, nbr, own, self.reduce)
        if values.dtype == torch.bool and self.returns_bool and self.reduce in ("amin", "amax"):
            ident = bool(self.identity)
            x = values if valid is None else torch.where(valid, values, ident)
            hit = x.all(dim) if self.reduce == "amin" else x.any(dim)
            return hit & ident if self.reduce == "amin" else hit | ident
        values = values.to(torch.float64)
        if self.reduce in ("amin", "amax"):
            out = _dense_extreme(values, valid, dim, self.reduce, float(self.identity), order)
        else:
            out = _dense_fold(values, valid, dim, self.reduce, float(self.identity))
        return out > 0.5 if self.returns_bool else out


def _arg_extreme(
    values: torch.Tensor, me: torch.Tensor, nbr: torch.Tensor, num_nodes: int, reduce: str,
    own: torch.Tensor | None = None, best: torch.Tensor | None = None,
) -> torch.Tensor:
    values = values.to(torch.float64)
    if best is None:
        fill = math.inf if reduce == "amin" else -math.inf
        best = torch.full((num_nodes,), fill, dtype=torch.float64)
        best = best.scatter_reduce(0, me, values, reduce=reduce, include_self=True)
    hit = values == best.index_select(0, me)
    none = torch.as_tensor(math.inf, dtype=torch.float64)  # above every node id
    arg = torch.full((num_nodes,), math.inf, dtype=torch.float64)
    if torch.compiler.is_compiling():  # traced for export: no data-dependent shapes
        arg = arg.scatter_reduce(0, me, torch.where(hit, nbr.to(torch.float64), none), "amin", include_self=True)
    else:  # only the edges attaining the extreme (about one per node): the same minimum, a tenth of the work
        idx = flatnonzero(hit)
        arg.scatter_reduce_(0, me.index_select(0, idx), nbr.index_select(0, idx).to(torch.float64), "amin")
    own = torch.arange(num_nodes, dtype=torch.float64) if own is None else own.to(torch.float64)
    return torch.where(arg < none, arg, own)


def broadcast_shape(a: tuple[int, ...] | torch.Size, b: tuple[int, ...] | torch.Size) -> tuple[int, ...]:
    """``torch.broadcast_shapes`` for two shapes of equal rank, in plain Python (torch's goes through
    symbolic-shape guards: 0.2 ms a call, once per dense block)."""
    return tuple(y if x == 1 else x for x, y in zip(a, b, strict=True))


def _masked(values: torch.Tensor, valid: torch.Tensor | None, fill: float) -> torch.Tensor:
    """``where(valid, values, fill)`` for float64, as bit operations (``(bits & keep) | fill_bits``
    with ``keep``/``fill_bits`` at ``valid``'s broadcast shape): exact bits, and ~3x faster than
    torch's CPU ``where`` on float64, which is the dense blocks' hot path for masked relations."""
    if valid is None:
        return values
    keep = valid.to(torch.int64).neg_()  # all ones where the message exists
    bits = torch.tensor(fill, dtype=torch.float64).view(torch.int64)
    fill_bits = (~keep) & bits
    out = values.view(torch.int64) & keep
    return out.bitwise_or_(fill_bits).view(torch.float64)


def _dense_arg_extreme(values: torch.Tensor, valid: torch.Tensor | None, dim: int, nbr: torch.Tensor,
                       own: torch.Tensor, reduce: str, pre: tuple | None = None) -> torch.Tensor:
    """``_arg_extreme`` on a block: the smallest ``nbr`` (``nbr`` ascends along ``dim``) among the
    messages equal to the extreme, ``own`` where none is (no message, or a NaN extreme). ``min(dim)``
    returns the first index of the extreme; where the extreme is the fill (+-inf) an absent message
    could be that first one, so those cells look up the first existing message instead."""
    shape = values.shape[:dim] + values.shape[dim + 1:]
    own = own.to(torch.float64).expand(shape)
    if values.shape[dim] == 0:
        return own
    fill = math.inf if reduce == "amin" else -math.inf
    if pre is None:
        x = _masked(values, valid, fill)
        best, idx = x.min(dim) if reduce == "amin" else x.max(dim)
    else:  # shared with the min/max of the same block (aggregate_dense_pair)
        x, best, idx = pre
    ids = nbr.reshape(-1).to(torch.float64)
    out = torch.where(best.isnan(), own, ids.index_select(0, idx.reshape(-1)).view(idx.shape))
    if valid is None:
        return out
    edge = best == fill
    if bool(edge.any()):
        cells = edge.nonzero(as_tuple=True)
        exists = valid.expand(values.shape).movedim(dim, -1)[cells]
        k = exists.shape[-1]
        first = torch.where(exists, torch.arange(k), k).amin(-1)
        pick = torch.where(first < k, ids.index_select(0, first.clamp(max=k - 1)), own[cells])
        out = out.index_put(cells, pick)
    return out


def _dense_extreme(values: torch.Tensor, valid: torch.Tensor | None, dim: int, reduce: str,
                   identity: float, order: torch.Tensor | None = None, pre: tuple | None = None) -> torch.Tensor:
    """min/max as the scatter folds them from the identity: a message replaces the running value only
    when strictly better, a NaN always does. So the result is the last NaN if there is one, else the
    identity if no message beats it, else the first message equal to the extreme — which differs in
    bits from any other equal message only when the extreme is a zero (its sign), so only those cells
    and the NaN cells are looked at message by message (vectorised over those cells)."""
    lo = reduce == "amin"
    fill = math.inf if lo else -math.inf
    if pre is None:
        x = _masked(values, valid, fill)
        if x.shape[dim] == 0:
            return torch.full(x.shape[:dim] + x.shape[dim + 1:], identity, dtype=torch.float64)
        best = x.amin(dim) if lo else x.amax(dim)
    else:
        x, best = pre
    beats = (best < identity) if lo else (best > identity)
    out = torch.where(beats | best.isnan(), best, identity)
    exact = (beats & (best == 0)) | best.isnan()
    if bool(exact.any()):
        cells = exact.nonzero(as_tuple=True)
        msgs = x.movedim(dim, -1)[cells]  # [cells, messages]
        if order is None:
            rank = torch.arange(msgs.shape[-1]).expand(msgs.shape)
        else:
            rank = order.expand(x.shape).movedim(dim, -1)[cells]
        big = torch.iinfo(torch.long).max
        last_nan = torch.where(msgs.isnan(), rank, -1).amax(-1, keepdim=True)
        first_zero = torch.where(msgs == 0, rank, big).amin(-1, keepdim=True)
        at = torch.where(last_nan >= 0, rank == last_nan, rank == first_zero).to(torch.int8).argmax(-1)
        out = out.index_put(cells, msgs.gather(-1, at[:, None])[:, 0])
    return out


def _dense_fold(values: torch.Tensor, valid: torch.Tensor | None, dim: int, reduce: str,
                identity: float) -> torch.Tensor:
    """sum/prod/mean as the scatter (``index_add_`` for mean) folds them: in message order from the
    identity. ``cumsum``/``cumprod`` fold sequentially from 0/1 on CPU, so their last entry is the
    scatter's sum bit for bit; absent messages add +0.0 (a running sum from +0.0 is never -0.0, so that
    is exact) or multiply by 1.0."""
    unit = 1.0 if reduce == "prod" else 0.0
    x = _masked(values, valid, unit)
    if reduce != "mean" and identity != unit:  # a plugin's identity: it is the fold's first term
        x = torch.cat([torch.full_like(x.narrow(dim, 0, 1), identity), x], dim)
    if x.shape[dim] == 0:
        tot = torch.full(x.shape[:dim] + x.shape[dim + 1:], unit, dtype=torch.float64)
    else:
        tot = (x.cumprod(dim) if reduce == "prod" else x.cumsum(dim)).select(dim, -1)
    if reduce != "mean":
        return tot
    n = values.shape[dim] if valid is None else valid.expand(values.shape).sum(dim)
    cnt = torch.as_tensor(n, dtype=torch.float64).expand(tot.shape)
    return torch.where(cnt > 0, tot / cnt.clamp(min=1), torch.as_tensor(identity, dtype=torch.float64))


def _same(t: Type) -> Type:
    return t.base() if t.kind != NODE else T_INT


AGGREGATORS: dict[str, Aggregator] = {}


def register_aggregator(agg: Aggregator) -> Aggregator:
    """Add (or replace) an aggregator; the checker, executor, codegen and student see it at once."""
    AGGREGATORS[agg.name] = agg
    return agg


for _a in (
    Aggregator("min", (INT, REAL, NODE), _same, math.inf, "amin", "min", "smallest value; +inf if empty"),
    Aggregator("max", (INT, REAL, NODE), _same, -math.inf, "amax", "max", "largest value; -inf if empty"),
    Aggregator("sum", (INT, REAL), _same, 0.0, "sum", "sum", "sum; 0 if empty"),
    Aggregator("prod", (INT, REAL), _same, 1.0, "prod", "mul", "product; 1 if empty"),
    Aggregator("or", (BOOL,), lambda t: T_BOOL, False, "amax", "max", "any; false if empty"),
    Aggregator("and", (BOOL,), lambda t: T_BOOL, True, "amin", "min", "all; true if empty"),
    Aggregator("count", (BOOL,), lambda t: T_INT, 0.0, "sum", "sum", "number of true; 0 if empty"),
    Aggregator("mean", (INT, REAL), lambda t: T_REAL, 0.0, "mean", "mean", "mean; 0 if empty"),
    Aggregator("argmin", (INT, REAL), lambda t: T_NODE, SELF, "amin", None,
               "neighbour with the smallest value (smallest id on ties); the node itself if empty"),
    Aggregator("argmax", (INT, REAL), lambda t: T_NODE, SELF, "amax", None,
               "neighbour with the largest value (smallest id on ties); the node itself if empty"),
):
    register_aggregator(_a)


@dataclass(frozen=True)
class Function:
    """A built-in function usable in expressions: type rule, torch implementation, emitted source."""

    name: str
    min_args: int
    max_args: int
    accepts: tuple[str, ...]
    result: Callable[[list[Type]], Type]
    torch_fn: Callable[..., torch.Tensor]
    source: str  # a Python expression template over {0}, {1}, ... or {args} for the emitted module;
    # it may call dpdsl.runtime helpers by their names there (_fmin, _fmax, _full: dpdsl.codegen.RUNTIME_NAMES)


def _join_all(ts: list[Type]) -> Type:
    out = ts[0]
    for t in ts[1:]:
        out = join_numeric(out, t)
    return out if out.kind != NODE else T_INT


FUNCTIONS: dict[str, Function] = {}


def register_function(fn: Function) -> Function:
    FUNCTIONS[fn.name] = fn
    return fn


register_function(Function("min", 2, 8, (INT, REAL, NODE), _join_all, fmin,
                           "_fmin({args})"))
register_function(Function("max", 2, 8, (INT, REAL, NODE), _join_all, fmax,
                           "_fmax({args})"))
register_function(Function("abs", 1, 1, (INT, REAL), _join_all, torch.abs, "torch.abs({0})"))


@dataclass(frozen=True)
class Relation:
    """A neighbour relation. ``kinds`` are the graph kinds that have it.

    ``nbr_first`` says whether the written pair is ``nbr ARROW me`` (in-edges) or ``me ARROW nbr``
    (out-edges); ``edges`` maps the graph's directed edge index to two tensors ``(nbr, me)``, one entry
    per stored edge in edge order (so position i is edge i and edge inputs need no separate id);
    ``edge_order`` is how an edge input must be indexed: ``nbr_me`` (``w[u, v]`` for u -> v),
    ``me_nbr``, or ``any`` for symmetric relations.
    """

    name: str
    kinds: tuple[str, ...]
    arrow: str  # "->", "--", or "" (written ``children u [of v]``)
    nbr_first: bool
    edge_order: str
    reverse: bool  # False: nbr = source, me = target of the stored edge; True: the other way
    doc: str
    over_all: bool = False  # every node u of v's graph (no edges): one reduction per graph, read by every v

    def edges(self, edge_index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.over_all:
            raise ValueError(f"relation '{self.name}' ranges over all nodes of a graph; it has no edges")
        src, dst = edge_index[0], edge_index[1]
        return (dst, src) if self.reverse else (src, dst)


RELATIONS: dict[str, Relation] = {}


def register_relation(rel: Relation) -> Relation:
    RELATIONS[rel.name] = rel
    return rel


for _r in (
    Relation("in-edges", ("directed", "dag", "tree"), "->", True, "nbr_me", False,
             "edges u -> v into v"),
    Relation("out-edges", ("directed", "dag", "tree"), "->", False, "me_nbr", True,
             "edges v -> u out of v"),
    Relation("neighbors", ("undirected",), "--", True, "any", False, "undirected neighbours"),
    Relation("children", ("tree",), "", True, "me_nbr", True, "children u of v in a rooted tree"),
    Relation("parent", ("tree",), "", True, "nbr_me", False, "the parent u of v in a rooted tree"),
    Relation("all", ("directed", "undirected", "dag", "tree"), "", True, "none", False,
             "every node u of v's graph, v included (a global aggregate; the body reads only u)", over_all=True),
):
    register_relation(_r)

# Built-in names: what they mean and where they may appear.
BUILTINS: dict[str, tuple[Type, str]] = {
    "id": (T_NODE, "the node's own index"),
    "n": (T_INT, "number of nodes of the node's graph"),
    "height": (T_INT, "height of the node's tree (edges on the longest root-leaf path); trees only"),
}

# Index domains (docs/architecture.md §12): what a state may live on besides a graph's nodes, and the
# relations each offers. The lowering (``dpdsl.domains.lower``) turns a relation into gather lists.
DOMAIN_KINDS: dict[str, str] = {
    "nodes": "the nodes of the graph (the default; states are written without indices)",
    "pairs": "ordered pairs (i, j) of the graph's nodes",
    "sequence": "the positions i of one sequence",
    "grid": "the cells (i, j) of two sequences: i indexes the first axis, j the second",
    "intervals": "the intervals i <= j of one sequence",
}
DOMAIN_ARITY: dict[str, int] = {"nodes": 0, "pairs": 2, "sequence": 1, "grid": 2, "intervals": 2}


@dataclass(frozen=True)
class DomainRelation:
    """A relation of an index domain: ``binds`` whether it is written with a bound variable
    (``split k``), ``graph`` whether it follows the graph's edges (then the graph relation of that name
    says how it is written)."""

    name: str
    domains: tuple[str, ...]
    binds: bool
    doc: str
    graph: bool = False


DOMAIN_RELATIONS: dict[str, DomainRelation] = {}


def register_domain_relation(rel: DomainRelation) -> DomainRelation:
    DOMAIN_RELATIONS[rel.name] = rel
    return rel


for _d in (
    DomainRelation("at", ("pairs", "sequence", "grid", "intervals"), False,
                   "the tuple itself; its body may read at fixed offsets (i - 1, j + 1), and a message "
                   "whose reads leave the domain does not exist"),
    DomainRelation("split", ("pairs", "intervals"), True,
                   "pairs: k over every node, reading (i, k) and (k, j); intervals: i <= k < j, reading "
                   "(i, k) and (k + 1, j)"),
    DomainRelation("prev", ("sequence",), True, "k = i - 1 (none at the first position)"),
    DomainRelation("next", ("sequence",), True, "k = i + 1 (none at the last position)"),
    DomainRelation("all", ("sequence",), True, "k over every position of the sequence"),
    DomainRelation("edge", ("pairs",), False, "the graph's edges i -> j themselves (none if i, j are not "
                   "adjacent; one message per parallel edge); the body reads edge inputs as w[i, j]"),
    DomainRelation("in-edges", ("pairs",), True, "u over the edges u -> x into x (x is i or j)", graph=True),
    DomainRelation("out-edges", ("pairs",), True, "u over the edges x -> u out of x (x is i or j)", graph=True),
    DomainRelation("neighbors", ("pairs",), True, "u over the undirected neighbours u -- x of x", graph=True),
):
    register_domain_relation(_d)
