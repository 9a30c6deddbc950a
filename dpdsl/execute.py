"""The reference executor: runs a spec as an exact DP, vectorised in torch over nodes and edges.

Expressions are compiled once per run by the expression core's torch backend (``dpdsl.expr.torch_eval``);
the node and edge evaluators below say what names read on a graph. The same machinery runs students:
``run_skeleton`` takes one transition callable per state field (the reference expression compiled
here, or a decision tree) and does everything else — init, views
through the registry's aggregators, per-graph round caps, early exit at a fixpoint, outputs, and the
per-round trajectory teachers train on. There is no Python loop over nodes or edges; the only loops
are over rounds and over the (few) nodes of an expression tree.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dpdsl import frontier as frontier_mod
from dpdsl.domains.engine import DomainEvaluator
from dpdsl.domains.lower import builtins as domain_builtins
from dpdsl.domains.lower import lower
from dpdsl.errors import UserError
from dpdsl.expr import nodes as A
from dpdsl.expr.torch_eval import ContextEvaluator, Fn, LocalFn, TorchEvaluator, compile_local
from dpdsl.frontier import Frontier
from dpdsl.graphs.core import Graph
from dpdsl.hostops import any_true, flatnonzero, select
from dpdsl.ir import SpecIR
from dpdsl.limits import check_round_counts
from dpdsl.registry import AGGREGATORS, RELATIONS
from dpdsl.runtime import differs as _differs
from dpdsl.runtime import tree_depths
from dpdsl.tolerances import round_caps
from dpdsl.types import BOOL

Moved = torch.Tensor | bool | None
"""What changed in a round, as ``_Run.done`` reads it: a bool (one graph), a node mask or node ids
(per-graph round counts), or None (nothing tracked)."""

Transition = Callable[..., torch.Tensor]
"""``fn(**local_args) -> new value``: keyword arguments named as in the field's ``unknown(...)``."""


@dataclass
class Context:
    """Everything an expression may read on one (batched) graph. Built once per run."""

    spec: SpecIR
    graph: Graph  # directed view: undirected inputs already expanded to both directions
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    views: dict[str, torch.Tensor] = field(default_factory=dict)
    builtins: dict[str, torch.Tensor] = field(default_factory=dict)
    _rel_cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    domain: Any = None  # index domains (§12): the dpdsl.domains.lower.Layout; ``graph`` then has one node per tuple
    graph_in: Graph | None = None  # pairs: the (directed view of the) graph the tuples' inputs come from
    edge_cache: dict[tuple[str, A.Expr], tuple[torch.Tensor, str, torch.Tensor]] = field(default_factory=dict)
    """(relation, body) -> (body value per edge, aggregator, view) on the final state: a frontier run's
    min/max views, so outputs over the same edges and body (a parent pointer) reuse them."""

    def relation(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(neighbour, node) index per edge for a relation, computed once per run."""
        if name not in self._rel_cache:
            self._rel_cache[name] = RELATIONS[name].edges(self.graph.edge_index)
        return self._rel_cache[name]


class NodeEvaluator(ContextEvaluator):
    """Expressions over a whole graph (init, rounds, views, outputs): ``env`` is the run's ``Context``."""

    def name(self, e: A.Name) -> Fn:
        if e.kind == "input":
            key = e.name
            return lambda c, rows: c.graph.node[key]
        return super().name(e)

    def visit_Agg(self, e: A.Agg) -> Fn:
        return CompiledAgg(self.params, e)


class CompiledAgg:
    """One aggregate, compiled once: over every node (``agg(ctx, rows)``), or in two steps that frontier
    rounds (``dpdsl.frontier``) call on subsets: ``edge_values`` (the body on some or all edges) and
    ``reduce_all`` / ``reduce_on`` (onto every node / onto a sorted subset of nodes)."""

    def __init__(self, params: Mapping[str, float], e: A.Agg) -> None:
        self.expr = e
        self.body = EdgeEvaluator(params).compile(e.body)
        self.agg_name, self.relation = e.agg, e.relation

    def __call__(self, c: Context, rows: int) -> torch.Tensor:
        if RELATIONS[self.relation].over_all:
            return self.over_all(c)
        hit = c.edge_cache.get((self.relation, self.expr.body)) if c.edge_cache else None
        if hit is None:
            return self.reduce_all(c, self.edge_values(c)[0])
        values, view_agg, view = hit
        if view_agg == self.agg_name:
            return view
        return self.reduce_all(c, values, best=view if _extreme_of(view_agg, self.agg_name) else None)

    def edge_values(self, c: Context, eids: torch.Tensor | None = None, ends: tuple | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(body value, neighbour, node) per edge: all edges in edge order, or the edges ``eids`` (whose
        (neighbour, node) ends the caller may already have: ``ends``)."""
        nbr, me = c.relation(self.relation)
        if ends is not None:
            nbr, me = ends
        elif eids is not None:
            nbr, me = nbr.index_select(0, eids), me.index_select(0, eids)
        # nbr.shape[0], not int(...): keeps the edge count symbolic when traced for export
        return self.body((c, nbr, me, eids), nbr.shape[0]), nbr, me

    def reduce_all(self, c: Context, values: torch.Tensor, best: torch.Tensor | None = None) -> torch.Tensor:
        """The view at every node from the body values on every edge (edge order); ``best``: argmin's
        minimum per node, when known."""
        nbr, me = c.relation(self.relation)
        agg = AGGREGATORS[self.agg_name]  # looked up per call: plugins may re-register an aggregator
        out = agg.aggregate(values, me, nbr, c.graph.num_nodes, best=best)
        if agg.selects and c.graph.batch is not None:
            # argmin/argmax return batch-global neighbour ids; node ids are local to each graph (as `id`)
            out = out - (torch.arange(c.graph.num_nodes, dtype=out.dtype) - c.builtins["id"])
        return out

    def reduce_on(self, c: Context, nodes: torch.Tensor, values: torch.Tensor, nbr: torch.Tensor,
                  me: torch.Tensor) -> torch.Tensor:
        """The view at ``nodes`` (sorted, unique) from the values on all their in-edges, in edge order
        within each node: the same reduction over the same values in the same order as ``reduce_all``."""
        agg = AGGREGATORS[self.agg_name]
        out = agg.aggregate(values, torch.searchsorted(nodes, me), nbr, int(nodes.shape[0]), own=nodes)
        if agg.selects and c.graph.batch is not None:
            out = out - (nodes.to(out.dtype) - c.builtins["id"].index_select(0, nodes))
        return out

    def over_all(self, c: Context) -> torch.Tensor:
        """One reduction per graph of the batch over the body at every node u, read by every node v of
        that graph (the body reads only u: ``dpdsl.check.types``)."""
        n = c.graph.num_nodes
        nodes, batch = torch.arange(n), c.graph.node_batch()
        values = self.body((c, nodes, nodes, None), n)
        agg = AGGREGATORS[self.agg_name]
        out = agg.aggregate(values, batch, nodes, c.graph.num_graphs).index_select(0, batch)
        if agg.selects:  # a batch-global node id -> local to its graph, as `id`
            out = out - (nodes.to(out.dtype) - c.builtins["id"])
        return out


def _extreme_of(view_agg: str, select: str) -> bool:
    """Whether a ``view_agg`` view is exactly the extreme an argmin/argmax ``select`` computes first:
    the same reduction onto the same identity (``registry._arg_extreme`` fills with -inf/+inf)."""
    v, s = AGGREGATORS[view_agg], AGGREGATORS[select]
    want = math.inf if s.reduce == "amin" else -math.inf
    return (s.selects and v.custom is None and not v.selects and v.reduce == s.reduce
            and not v.returns_bool and v.identity == want)


class EdgeEvaluator(TorchEvaluator):
    """The body of an aggregate, one row per edge of its relation: ``env`` is ``(ctx, nbr, me, eids)``
    (``eids`` None for all edges, else the edge ids of the rows)."""

    def name(self, e: A.Name) -> Fn:
        if e.kind != "builtin":  # the checker allows only builtins bare inside an aggregate
            return super().name(e)
        key = e.name
        return lambda env, rows: env[0].builtins[key].index_select(0, env[2])

    def visit_Index(self, e: A.Index) -> Fn:
        key = e.name
        if e.site == "edge":
            return lambda env, rows: (env[0].graph.edge[key] if env[3] is None
                                      else env[0].graph.edge[key].index_select(0, env[3]))
        at = 1 if e.site == "nbr" else 2
        if e.kind == "state":  # index_select, not src[nbr]: same values, ~4x faster gather on CPU
            return lambda env, rows: env[0].state[key].index_select(0, env[at])
        if e.kind == "view":  # computed earlier this round (compute_views keeps dependency order)
            return lambda env, rows: env[0].views[key].index_select(0, env[at])
        return lambda env, rows: env[0].graph.node[key].index_select(0, env[at])


def compiler_for(spec: SpecIR) -> NodeEvaluator:
    """The evaluator of the spec's whole-run expressions: nodes, or the tuples of an index domain (§12)."""
    return (DomainEvaluator if spec.domain.indexed else NodeEvaluator)(spec.param_values)  # type: ignore[return-value]


def evaluate(e: A.Expr, ctx: Context) -> torch.Tensor:
    """Evaluate a typed expression over the nodes (tuples) of a context (compiles it; runs compile once)."""
    return compiler_for(ctx.spec).compile(e)(ctx, ctx.graph.num_nodes)


def compute_views(ctx: Context, fns: Mapping[str, Fn] | None = None) -> dict[str, torch.Tensor]:
    """Every view on the context's current state, into a fresh ``ctx.views``, in the IR's order: the
    checker orders views so that one reading another comes after it (``dpdsl.check.states``)."""
    if fns is None:
        compiler = compiler_for(ctx.spec)
        fns = {name: compiler.compile(v.agg) for name, v in ctx.spec.views.items()}
    ctx.views = views = {}
    for name, fn in fns.items():
        views[name] = fn(ctx, ctx.graph.num_nodes)
    return views


def make_context(spec: SpecIR, graph: Graph) -> Context:
    """Prepare a graph for execution: directed view, builtins ``id``, ``n`` and (trees) ``height``.

    On an index domain (§12) ``graph`` is a graph (pairs) or sequence instances, lowered to tuples: the
    context's graph then has one node per tuple and no edges; aggregates read ``ctx.domain``."""
    if spec.domain.indexed:
        lay = lower(spec, graph)
        tuples = Graph(lay.num_tuples, torch.zeros(2, 0, dtype=torch.long), batch=lay.inst,
                       num_graphs=lay.num_instances)
        return Context(spec, tuples, builtins=domain_builtins(spec, lay), domain=lay, graph_in=lay.graph)
    g = graph.directed_view()
    batch = g.node_batch()
    sizes = g.graph_sizes().to(torch.float64)
    builtins = {"id": torch.arange(g.num_nodes, dtype=torch.float64), "n": sizes[batch]}
    if spec.graph_kind == "tree":
        depth = tree_depths(g.edge_index, g.num_nodes)
        height = torch.zeros(g.num_graphs, dtype=torch.float64).scatter_reduce(0, batch, depth, "amax")
        builtins["height"] = height[batch]
    if g.batch is not None:  # node ids are local to each graph
        offsets = torch.cumsum(sizes, 0) - sizes
        builtins["id"] = builtins["id"] - offsets[batch]
    return Context(spec, g, builtins=builtins)


def local_args(spec: SpecIR, ctx: Context, field_name: str) -> dict[str, torch.Tensor]:
    """The arguments of a field's ``unknown(...)`` at the current round, by name."""
    out = {}
    for a in spec.states[field_name].args:
        if a in spec.states:
            out[a] = ctx.state[a]
        elif a in spec.node_inputs:
            out[a] = ctx.graph.node[a]
        else:
            out[a] = ctx.views[a]
    return out


def reference_transitions(spec: SpecIR) -> dict[str, Transition]:
    """The spec's ``reference`` expressions as transition callables over the local arguments."""
    out: dict[str, Transition] = {}
    for name, st in spec.states.items():
        if st.reference is None:
            raise UserError(f"{spec.filename}: state '{name}' has no reference transition; add "
                            f"'reference {name} = ...' to run the reference executor")
        out[name] = local_transition(compile_local(spec.param_values, st.reference))
    return out


def local_transition(fn: LocalFn) -> Transition:
    """A compiled node-local expression as a transition callable (keyword arguments by name)."""

    def run(**args: torch.Tensor) -> torch.Tensor:
        return fn(args, next(iter(args.values())).shape[0])

    return run


@dataclass
class RunResult:
    """Outputs per node, rounds per graph, and (if recorded) the state after init and each round."""

    outputs: dict[str, torch.Tensor]
    rounds: torch.Tensor  # [num_graphs] rounds until the fixpoint (or the cap)
    trajectory: list[dict[str, torch.Tensor]]
    final_state: dict[str, torch.Tensor]
    graph: Graph
    view_trajectory: list[dict[str, torch.Tensor]] = field(default_factory=list)
    capped: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))
    """[num_graphs] bool: the graph stopped on its round cap while its states were still changing (one
    more round would change some state): the cap may be too small (``round_cap_warning``)."""
    layout: Any = None  # index domains: the tuples (``Layout.unflatten`` gives an instance's tables)


def round_cap_warning(res: RunResult, what: str = "the run") -> str | None:
    """One line saying which graphs stopped on their round cap while states were still changing, or None."""
    hit = res.capped.nonzero().flatten().tolist()
    if not hit:
        return None
    where = (f"graph {hit[0]}" if res.capped.numel() == 1 or len(hit) == 1 else
             f"{len(hit)} of {res.capped.numel()} graphs (first: graph {hit[0]})")
    return (f"{what} stopped on its round cap ({int(res.rounds[hit[0]])} rounds) while states were still "
            f"changing in {where}; one more round would change them: the spec's 'rounds' may be too small")


def _cast(value: torch.Tensor, kind: str, n: int) -> torch.Tensor:
    if value.dim() == 0 or value.shape[0] != n:
        value = value.expand(n).clone()
    dtype = torch.bool if kind == BOOL else torch.float64
    return value if value.dtype == dtype else value.to(dtype)  # .to is a no-op here, but not a free one


def run_skeleton(
    spec: SpecIR,
    graph: Graph,
    transitions: Mapping[str, Transition],
    *,
    record: bool = False,
    max_rounds: int | None = None,
    frontier: bool | None = None,
) -> RunResult:
    """Run init, then rounds of views + transitions, then outputs; exact DP semantics.

    Each graph of a batch runs for its own declared number of rounds (nodes of finished graphs keep
    their state); with ``until fixpoint`` the whole run stops once no state changes anywhere. Rounds
    after the first are frontier rounds (:mod:`dpdsl.frontier`: only the edges and nodes the last
    round's changes reach), bit-identical to dense rounds; ``frontier=False`` forces dense rounds,
    ``True`` frontier rounds wherever they apply (node specs without ``record``), ``None`` (the
    default) also needs ``frontier.MIN_EDGES`` edges, below which dense rounds are cheaper.
    """
    run = _Run(spec, graph, transitions, max_rounds)
    use = (frontier is not False and not record and not spec.domain.indexed and Frontier.applies(spec)
           and (frontier or run.ctx.graph.edge_index.shape[1] >= frontier_mod.MIN_EDGES))
    fr = Frontier(run.ctx, run.view_fns) if use else None
    traj = [dict(run.ctx.state)] if record else []
    vtraj: list[dict[str, torch.Tensor]] = []
    front: torch.Tensor | None = None  # nodes whose state bits changed last round (None: any may have)
    views_current = False  # whether ctx.views were computed from the final state
    for t in range(1, run.total + 1):
        nodes = fr.sparse_views(front) if fr is not None and front is not None else None
        front, moved = run.sparse_round(t, nodes, fr) if nodes is not None else run.dense_round(t, fr)
        if record:
            vtraj.append(dict(run.ctx.views))
            traj.append(dict(run.ctx.state))
        if run.done(t, moved):
            views_current = True  # the state did not change, so this round's views are final
            break
    # no bit changed in the last round: the push views' edge values are those of the final state
    cache = fr.edge_cache() if fr is not None and front is not None and not front.numel() else None
    return run.finish(views_current, traj, vtraj, cache)


class _Run:
    """One execution: the context, compiled expressions, round caps and per-graph round counts."""

    def __init__(self, spec: SpecIR, graph: Graph, transitions: Mapping[str, Transition],
                 max_rounds: int | None) -> None:
        self.spec, self.graph, self.transitions = spec, graph, transitions
        self.ctx = ctx = make_context(spec, graph)
        self.n = n = ctx.graph.num_nodes
        self.compiler = compiler_for(spec)
        for name, st in spec.states.items():
            ctx.state[name] = _cast(self.compiler.compile(st.init)(ctx, n), st.type.kind, n)
        raw = self.compiler.compile(spec.rounds.expr)(ctx, n)
        # negative / non-finite counts are errors; huge ones without a fixpoint need max_rounds
        check_round_counts(raw, ctx.builtins["n"], fixpoint=spec.rounds.fixpoint, max_rounds=max_rounds)
        self.caps = round_caps(raw, max_rounds)
        self.view_fns = {name: self.compiler.compile(v.agg) for name, v in spec.views.items()}
        self.total = int(self.caps.max().item()) if n else 0
        self.all_active_until = int(self.caps.min().item()) if n else 0  # below this round no node is capped
        self.batch = ctx.graph.node_batch()
        self.rounds = torch.zeros(ctx.graph.num_graphs, dtype=torch.long)
        self.single = ctx.graph.num_graphs == 1  # one graph: "did anything change" suffices

    def dense_round(self, t: int, fr: Frontier | None) -> tuple[torch.Tensor | None, Moved]:
        """Every view and every node's transition. Returns (front, moved): the ids whose state bits
        changed (with a frontier, else None) and what ``done`` reads (``_Run.moved``)."""
        ctx, n, spec = self.ctx, self.n, self.spec
        if fr is None:
            compute_views(ctx, self.view_fns)
        else:
            fr.dense_views()
        active = self.caps >= t if t > self.all_active_until else None
        fixpoint = spec.rounds.fixpoint
        mask = torch.zeros(n, dtype=torch.bool) if fixpoint and not self.single else None
        bits = np.zeros(n, dtype=bool) if fr is not None else None
        any_changed, new = False, {}
        for name, st in spec.states.items():
            old = ctx.state[name]
            val = _cast(self.transitions[name](**local_args(spec, ctx, name)), st.type.kind, n)
            if active is not None:
                val = torch.where(active, val, old)
            want_value = fixpoint and mask is None and not any_changed
            if fr is not None:
                d, changed = fr.observe(name, val, old, want_value)
                bits |= d
                any_changed |= changed
            elif want_value:
                any_changed = _any_differs(val, old)
            if mask is not None:
                mask |= _differs(val, old)
            new[name] = val
        ctx.state = new
        front = None if bits is None else flatnonzero(bits)
        return front, self.moved(front, mask if mask is not None else any_changed)

    def sparse_round(self, t: int, nodes: torch.Tensor, fr: Frontier) -> tuple[torch.Tensor, Moved]:
        """Transitions at ``nodes`` only (sorted ids; the frontier has updated the views), written in
        place. Returns (front, moved) as ``dense_round``."""
        ctx, spec = self.ctx, self.spec
        if t > self.all_active_until:
            nodes = select(nodes, self.caps.index_select(0, nodes) >= t)
        k = int(nodes.shape[0])
        fixpoint, single = spec.rounds.fixpoint, self.single
        bits = np.zeros(k, dtype=bool)
        num = torch.zeros(k, dtype=torch.bool) if fixpoint and not single else None
        anything, new = False, {}
        for name, st in spec.states.items():
            args = {a: v.index_select(0, nodes) for a, v in local_args(spec, ctx, name).items()}
            old = args[name] if name in args else ctx.state[name].index_select(0, nodes)
            val = _cast(self.transitions[name](**args), st.type.kind, k) if k else old
            # on the k compacted nodes: no gathers of the bit changes
            d, changed = fr.observe(name, val, old, fixpoint and num is None and not anything)
            bits |= d
            anything |= changed
            if num is not None:
                num |= _differs(val, old)
            new[name] = val
        for name, val in new.items():  # in place: the frontier owns these tensors (Frontier.own_state)
            ctx.state[name].index_copy_(0, nodes, val)
        front = select(nodes, bits)
        return front, self.moved(front, anything if num is None else select(nodes, num))

    def moved(self, front: torch.Tensor | None, numeric: Moved) -> Moved:
        """What ``done`` reads: with a fixpoint the numeric changes (a bool for one graph, else a mask or
        the ids); without one the bit changes (no bit changed: every later round is the same), or None."""
        return numeric if self.spec.rounds.fixpoint else front

    def done(self, t: int, changed: torch.Tensor | bool | None) -> bool:
        """Record round ``t`` in the per-graph counts; whether the run has reached its fixpoint."""
        if changed is None:
            return False
        if isinstance(changed, bool):
            anything = changed
        else:
            anything = any_true(changed) if changed.dtype == torch.bool else changed.numel() > 0
        if not anything:
            return True
        if self.single:
            self.rounds.fill_(t)
            return False
        ids = changed.nonzero().squeeze(1) if changed.dtype == torch.bool else changed
        hit = torch.zeros(self.ctx.graph.num_graphs, dtype=torch.bool).index_put_(
            (self.batch.index_select(0, ids),), torch.tensor(True))
        self.rounds = torch.where(hit, torch.full_like(self.rounds, t), self.rounds)
        return False

    def finish(self, views_current: bool, traj: list, vtraj: list,
               cache: Mapping[tuple[str, A.Expr], tuple[torch.Tensor, str, torch.Tensor]] | None = None
               ) -> RunResult:
        """Round counts, the cap check and the outputs (reusing ``cache``: ``Context.edge_cache``)."""
        ctx, spec = self.ctx, self.spec
        rounds = self.rounds
        if not spec.rounds.fixpoint:
            caps = torch.zeros(ctx.graph.num_graphs, dtype=torch.float64).scatter_reduce(
                0, self.batch, self.caps, "amax")
            rounds = caps.long()
        capped = torch.zeros(ctx.graph.num_graphs, dtype=torch.bool)
        if not views_current:  # stopped on the cap, not at a fixpoint: would one more round change anything?
            compute_views(ctx, self.view_fns)
            capped = self.still_changing()
        elif not spec.rounds.fixpoint:  # a frontier run stopped early: nothing active changed, but graphs
            capped = self.still_changing()  # already on their cap may still be changing (as dense finds)
        ctx.edge_cache = dict(cache) if views_current and cache else {}
        outputs = evaluate_outputs(ctx, compiler=self.compiler)
        ctx.edge_cache = {}
        return RunResult(outputs, rounds, traj, dict(ctx.state), self.graph, vtraj, capped, ctx.domain)

    def still_changing(self) -> torch.Tensor:
        """Per graph: one more round of transitions (on the views just computed) would change a state."""
        ctx, n, spec = self.ctx, self.n, self.spec
        moved = torch.zeros(n, dtype=torch.bool)
        for name, st in spec.states.items():
            val = _cast(self.transitions[name](**local_args(spec, ctx, name)), st.type.kind, n)
            moved |= _differs(val, ctx.state[name])
        return torch.zeros(ctx.graph.num_graphs, dtype=torch.bool).index_put_(
            (self.batch[moved],), torch.tensor(True))


def evaluate_outputs(ctx: Context, names: Iterable[str] | None = None,
                     compiler: NodeEvaluator | None = None) -> dict[str, torch.Tensor]:
    """The spec's output expressions (all, or ``names``) on the context's current state and views: how
    every run ends, and how teachers' decoded states become outputs (``state_outputs``)."""
    compiler = compiler or compiler_for(ctx.spec)
    n = ctx.graph.num_nodes
    want = set(ctx.spec.outputs) if names is None else set(names)
    return {name: _cast(compiler.compile(o.expr)(ctx, n), o.type.kind, n)
            for name, o in ctx.spec.outputs.items() if name in want}


def state_outputs(ctx: Context, state: Mapping[str, torch.Tensor],
                  names: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
    """Outputs computed from a given final state (e.g. a teacher's decoded one): the views on that state,
    then the output expressions, exactly as the executor finishes a run."""
    n = ctx.graph.num_nodes
    ctx.state = {name: _cast(state[name], st.type.kind, n) for name, st in ctx.spec.states.items()}
    compute_views(ctx)
    return evaluate_outputs(ctx, names)


SERIAL_TEST_FROM = 32768
"""Sizes from which ``_any_differs`` runs its passes serially in numpy: torch's parallel grain size, above
which each torch pass forks and joins its thread pool. These passes are memory-bound, so that gains
little, and on shared cores a join waiting for a descheduled thread costs far more than the pass
(measured on 2 shared cores, 40k nodes: 0.7 ms in torch, 0.05 ms in numpy)."""


def _any_differs(a: torch.Tensor, b: torch.Tensor) -> bool:
    """``bool(_differs(a, b).any())`` in one or two passes instead of six: equality settles it unless
    NaNs are around, and a NaN-free ``a`` differs wherever it is unequal to ``b``."""
    if a is b:
        return False
    if a.numel() >= SERIAL_TEST_FROM and a.device.type == "cpu":
        x, y = a.detach().numpy(), b.detach().numpy()
        if np.array_equal(x, y):
            return False
        if a.dtype == torch.bool or not np.isnan(x).any():
            return True
    else:
        if torch.equal(a, b):
            return False
        if a.dtype == torch.bool or not math.isnan(a.sum().item()):  # NaN iff a has NaN (or both infs)
            return True
    return bool(_differs(a, b).any())


def run_reference(spec: SpecIR, graph: Graph, *, record: bool = False,
                  max_rounds: int | None = None) -> RunResult:
    """Run the spec's reference transitions: the exact DP."""
    return run_skeleton(spec, graph, reference_transitions(spec), record=record, max_rounds=max_rounds)


def to_jsonable(values: torch.Tensor, kind: str) -> list:
    """Per-node values for JSON: bools, ints for int/node, floats; non-finite as "inf"/"-inf"."""
    if kind == BOOL:
        return [bool(x) for x in values.tolist()]
    out: list = []
    for x in values.tolist():
        if math.isinf(x):
            out.append("inf" if x > 0 else "-inf")
        elif math.isnan(x):
            out.append("nan")
        elif kind in ("int", "node", "enum") and float(x).is_integer():
            out.append(int(x))
        else:
            out.append(x)
    return out
