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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import torch

from dpdsl.errors import UserError
from dpdsl.expr import nodes as A
from dpdsl.expr.torch_eval import Fn, LocalFn, TorchEvaluator, compile_local
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR
from dpdsl.registry import AGGREGATORS, RELATIONS
from dpdsl.runtime import differs as _differs
from dpdsl.runtime import tree_depths
from dpdsl.tolerances import round_caps
from dpdsl.types import BOOL

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

    def relation(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(neighbour, node) index per edge for a relation, computed once per run."""
        if name not in self._rel_cache:
            self._rel_cache[name] = RELATIONS[name].edges(self.graph.edge_index)
        return self._rel_cache[name]


class NodeEvaluator(TorchEvaluator):
    """Expressions over a whole graph (init, rounds, views, outputs): ``env`` is the run's ``Context``."""

    def name(self, e: A.Name) -> Fn:
        key = e.name
        if e.kind == "state":
            return lambda c, rows: c.state[key]
        if e.kind == "input":
            return lambda c, rows: c.graph.node[key]
        if e.kind == "view":
            return lambda c, rows: c.views[key]
        if e.kind == "builtin":
            return lambda c, rows: c.builtins[key]
        return super().name(e)

    def visit_Agg(self, e: A.Agg) -> Fn:
        body = EdgeEvaluator(self.params).compile(e.body)
        agg_name, rel = e.agg, e.relation

        def run(c: Context, rows: int) -> torch.Tensor:
            nbr, me = c.relation(rel)
            values = body((c, nbr, me), int(nbr.shape[0]))
            agg = AGGREGATORS[agg_name]  # looked up per call: plugins may re-register an aggregator
            out = agg.aggregate(values, me, nbr, c.graph.num_nodes)
            if agg.selects and c.graph.batch is not None:
                # argmin/argmax return batch-global neighbour ids; node ids are local to each graph (as `id`)
                out = out - (torch.arange(c.graph.num_nodes, dtype=out.dtype) - c.builtins["id"])
            return out

        return run


class EdgeEvaluator(TorchEvaluator):
    """The body of an aggregate, one row per edge of its relation: ``env`` is ``(ctx, nbr, me)``."""

    def name(self, e: A.Name) -> Fn:
        if e.kind != "builtin":  # the checker allows only builtins bare inside an aggregate
            return super().name(e)
        key = e.name
        return lambda env, rows: env[0].builtins[key].index_select(0, env[2])

    def visit_Index(self, e: A.Index) -> Fn:
        key = e.name
        if e.site == "edge":
            return lambda env, rows: env[0].graph.edge[key]
        at = 1 if e.site == "nbr" else 2
        if e.kind == "state":  # index_select, not src[nbr]: same values, ~4x faster gather on CPU
            return lambda env, rows: env[0].state[key].index_select(0, env[at])
        return lambda env, rows: env[0].graph.node[key].index_select(0, env[at])


def evaluate(e: A.Expr, ctx: Context) -> torch.Tensor:
    """Evaluate a typed expression over the nodes of a context (compiles it; runs compile once)."""
    return NodeEvaluator(ctx.spec.param_values).compile(e)(ctx, ctx.graph.num_nodes)


def make_context(spec: SpecIR, graph: Graph) -> Context:
    """Prepare a graph for execution: directed view, builtins ``id``, ``n`` and (trees) ``height``."""
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
        return fn(args, int(next(iter(args.values())).shape[0]))

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
) -> RunResult:
    """Run init, then rounds of views + transitions, then outputs; exact DP semantics.

    Each graph of a batch runs for its own declared number of rounds (nodes of finished graphs keep
    their state); with ``until fixpoint`` the whole run stops once no state changes anywhere.
    """
    ctx = make_context(spec, graph)
    g = ctx.graph
    n = g.num_nodes
    compiler = NodeEvaluator(spec.param_values)
    for name, st in spec.states.items():
        ctx.state[name] = _cast(compiler.compile(st.init)(ctx, n), st.type.kind, n)
    cap_nodes = round_caps(compiler.compile(spec.rounds.expr)(ctx, n), max_rounds)
    view_fns = {name: compiler.compile(v.agg) for name, v in spec.views.items()}
    total = int(cap_nodes.max().item()) if n else 0
    all_active_until = int(cap_nodes.min().item()) if n else 0  # below this round no node is capped
    batch = g.node_batch()
    rounds = torch.zeros(g.num_graphs, dtype=torch.long)
    traj = [dict(ctx.state)] if record else []
    vtraj: list[dict[str, torch.Tensor]] = []
    views_current = False  # whether ctx.views were computed from the final state
    track = spec.rounds.fixpoint  # otherwise rounds are the caps and changes need no tracking
    single = g.num_graphs == 1  # a single graph needs only "did anything change", not which nodes did
    for t in range(1, total + 1):
        ctx.views = {name: fn(ctx, n) for name, fn in view_fns.items()}
        if record:
            vtraj.append(dict(ctx.views))
        active = cap_nodes >= t if t > all_active_until else None
        new = {}
        changed = torch.zeros(n, dtype=torch.bool) if track and not single else None
        any_changed = False
        for name, st in spec.states.items():
            val = _cast(transitions[name](**local_args(spec, ctx, name)), st.type.kind, n)
            if active is not None:
                val = torch.where(active, val, ctx.state[name])
            if changed is not None:
                changed |= _differs(val, ctx.state[name])
            elif track and not any_changed:
                any_changed = _any_differs(val, ctx.state[name])
            new[name] = val
        ctx.state = new
        if record:
            traj.append(dict(new))
        if not track:
            continue
        if not (any_changed if changed is None else changed.any()):
            views_current = True  # the state did not change, so this round's views are final
            break
        if single:  # no per-graph bookkeeping (nonzero + index_put)
            rounds.fill_(t)
        else:
            assert changed is not None
            graphs_changed = torch.zeros(g.num_graphs, dtype=torch.bool).index_put_(
                (batch[changed],), torch.tensor(True)
            )
            rounds = torch.where(graphs_changed, torch.full_like(rounds, t), rounds)
    if not spec.rounds.fixpoint:
        caps = torch.zeros(g.num_graphs, dtype=torch.float64).scatter_reduce(0, batch, cap_nodes, "amax")
        rounds = caps.long()
    if not views_current:
        ctx.views = {name: fn(ctx, n) for name, fn in view_fns.items()}
    outputs = {name: _cast(compiler.compile(o.expr)(ctx, n), o.type.kind, n) for name, o in spec.outputs.items()}
    return RunResult(outputs, rounds, traj, dict(ctx.state), graph, vtraj)


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
