"""The reference executor: runs a spec as an exact DP, vectorised in torch over nodes and edges.

The same machinery runs students: ``run_skeleton`` takes one transition callable per state field
(the reference expression compiled here, or a decision tree) and does everything else — init, views
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
from dpdsl.frontend import ast as A
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR
from dpdsl.limits import round_caps
from dpdsl.registry import AGGREGATORS, FUNCTIONS, RELATIONS
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


def _const(x: float | bool, like_n: int) -> torch.Tensor:
    if isinstance(x, bool):
        return torch.full((like_n,), x, dtype=torch.bool)
    return torch.full((like_n,), float(x), dtype=torch.float64)


def evaluate(e: A.Expr, ctx: Context, edges: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Evaluate a typed expression to a tensor over nodes (or over edges inside an aggregate)."""
    size = ctx.graph.num_nodes if edges is None else int(edges[0].shape[0])
    if isinstance(e, A.Num):
        return _const(e.value, size)
    if isinstance(e, A.Bool):
        return _const(e.value, size)
    if isinstance(e, A.Name):
        if e.kind == "state":
            return ctx.state[e.name]
        if e.kind == "input":
            return ctx.graph.node[e.name]
        if e.kind == "view":
            return ctx.views[e.name]
        if e.kind == "param":
            return _const(ctx.spec.params[e.name].value, size)
        if e.kind == "builtin":
            return ctx.builtins[e.name] if edges is None else ctx.builtins[e.name].index_select(0, edges[1])
        if e.kind == "label":
            return _const(float(e.type.labels.index(e.name)), size)
        raise AssertionError(f"unresolved name {e.name}")
    if isinstance(e, A.Index):
        assert edges is not None
        nbr, me = edges
        if e.site == "edge":
            return ctx.graph.edge[e.name]
        src = ctx.state[e.name] if e.kind == "state" else ctx.graph.node[e.name]
        # index_select, not src[nbr]: same values, ~4x faster gather on CPU (benchmarks/reference.py)
        return src.index_select(0, nbr if e.site == "nbr" else me)
    if isinstance(e, A.Unary):
        x = evaluate(e.x, ctx, edges)
        return ~x if e.op == "not" else -x
    if isinstance(e, A.Binary):
        a, b = evaluate(e.a, ctx, edges), evaluate(e.b, ctx, edges)
        return BINARY_OPS[e.op](a, b)
    if isinstance(e, A.Cond):
        c = evaluate(e.cond, ctx, edges)
        return torch.where(c, evaluate(e.then, ctx, edges), evaluate(e.other, ctx, edges))
    if isinstance(e, A.Call):
        return FUNCTIONS[e.fn].torch_fn(*[evaluate(a, ctx, edges) for a in e.args])
    if isinstance(e, A.Agg):
        return aggregate(e, ctx)
    raise AssertionError(f"cannot evaluate {type(e).__name__}")


def aggregate(e: A.Agg, ctx: Context) -> torch.Tensor:
    """One view: gather along the relation, evaluate the body per edge, reduce with the registry."""
    nbr, me = ctx.relation(e.relation)
    values = evaluate(e.body, ctx, (nbr, me))
    agg = AGGREGATORS[e.agg]
    out = agg.aggregate(values, me, nbr, ctx.graph.num_nodes)
    if agg.selects and ctx.graph.batch is not None:
        # argmin/argmax return batch-global neighbour indices; node ids are local to each graph (as `id`)
        out = out - (torch.arange(ctx.graph.num_nodes, dtype=out.dtype) - ctx.builtins["id"])
    return out


def _div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return a / b


BINARY_OPS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "+": torch.add,
    "-": torch.sub,
    "*": torch.mul,
    "/": _div,
    "<": torch.lt,
    "<=": torch.le,
    ">": torch.gt,
    ">=": torch.ge,
    "==": torch.eq,
    "!=": torch.ne,
    "and": torch.logical_and,
    "or": torch.logical_or,
}


def tree_depths(graph: Graph) -> torch.Tensor:
    """Depth of every node of a rooted forest (edges parent -> child), by vectorised relaxation."""
    n = graph.num_nodes
    depth = torch.zeros(n, dtype=torch.float64)
    src, dst = graph.edge_index
    for _ in range(n):
        new = torch.zeros(n, dtype=torch.float64).scatter_reduce(0, dst, depth[src] + 1, "amax")
        if torch.equal(new, depth):
            break
        depth = new
    return depth


def make_context(spec: SpecIR, graph: Graph) -> Context:
    """Prepare a graph for execution: directed view, builtins ``id``, ``n`` and (trees) ``height``."""
    g = graph.directed_view()
    batch = g.node_batch()
    sizes = g.graph_sizes().to(torch.float64)
    builtins = {"id": torch.arange(g.num_nodes, dtype=torch.float64), "n": sizes[batch]}
    if spec.graph_kind == "tree":
        depth = tree_depths(g)
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
        out[name] = _expr_transition(spec, st.reference)
    return out


def local_context(spec: SpecIR, args: Mapping[str, torch.Tensor]) -> Context:
    """A context holding only a transition's local arguments: what references, predicates and terms
    of a state field may read (the checker guarantees they read nothing else)."""
    n = int(next(iter(args.values())).shape[0])
    ctx = Context(spec, Graph(n, torch.zeros(2, 0, dtype=torch.long)))
    for k, v in args.items():
        if k in spec.states:
            ctx.state[k] = v
        elif k in spec.views:
            ctx.views[k] = v
        else:
            ctx.graph.node[k] = v
    return ctx


LocalFn = Callable[[Mapping[str, torch.Tensor], int], torch.Tensor]
"""``fn(local_args, num_nodes) -> tensor``: a node-local expression compiled by :func:`compile_local`."""


def compile_local(spec: SpecIR, e: A.Expr) -> LocalFn:
    """``evaluate(e, local_context(spec, args))`` as a closure: the same torch ops on the same tensors,
    without walking the expression and building a context every round (students run their predicates
    and terms through this). Anything that is not node-local arithmetic falls back to ``evaluate``."""
    if isinstance(e, (A.Num, A.Bool)):
        value = e.value
        return lambda args, n: _const(value, n)
    if isinstance(e, A.Name) and e.kind in ("state", "input", "view"):
        name = e.name
        return lambda args, n: args[name]
    if isinstance(e, A.Name) and e.kind == "param":
        value = spec.params[e.name].value
        return lambda args, n: _const(value, n)
    if isinstance(e, A.Name) and e.kind == "label":
        value = float(e.type.labels.index(e.name))
        return lambda args, n: _const(value, n)
    if isinstance(e, A.Unary):
        fx = compile_local(spec, e.x)
        if e.op == "not":
            return lambda args, n: ~fx(args, n)
        return lambda args, n: -fx(args, n)
    if isinstance(e, A.Binary):
        op, fa, fb = BINARY_OPS[e.op], compile_local(spec, e.a), compile_local(spec, e.b)
        return lambda args, n: op(fa(args, n), fb(args, n))
    if isinstance(e, A.Cond):
        fc, ft, fo = compile_local(spec, e.cond), compile_local(spec, e.then), compile_local(spec, e.other)
        return lambda args, n: torch.where(fc(args, n), ft(args, n), fo(args, n))
    if isinstance(e, A.Call):
        fn_name, fargs = e.fn, [compile_local(spec, a) for a in e.args]
        # looked up per call, as ``evaluate`` does, so a plugin re-registering a function is seen
        return lambda args, n: FUNCTIONS[fn_name].torch_fn(*[f(args, n) for f in fargs])
    return lambda args, n: evaluate(e, local_context(spec, args))


def _expr_transition(spec: SpecIR, expr: A.Expr) -> Transition:
    def run(**args: torch.Tensor) -> torch.Tensor:
        return evaluate(expr, local_context(spec, args))

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
    for name, st in spec.states.items():
        ctx.state[name] = _cast(evaluate(st.init, ctx), st.type.kind, n)
    cap_nodes = evaluate(spec.rounds.expr, ctx)
    # negative / non-finite counts are errors; huge ones without a fixpoint need max_rounds (limits.py)
    cap_nodes = round_caps(cap_nodes, ctx.builtins["n"], fixpoint=spec.rounds.fixpoint, max_rounds=max_rounds)
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
        ctx.views = {name: aggregate(v.agg, ctx) for name, v in spec.views.items()}
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
        ctx.views = {name: aggregate(v.agg, ctx) for name, v in spec.views.items()}
    outputs = {name: _cast(evaluate(o.expr, ctx), o.type.kind, n) for name, o in spec.outputs.items()}
    return RunResult(outputs, rounds, traj, dict(ctx.state), graph, vtraj)


def _differs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if a.dtype == torch.bool:
        return a != b
    return ~((a == b) | (torch.isnan(a) & torch.isnan(b)))


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
