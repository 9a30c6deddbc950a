"""Stage "export": a student as one ONNX model that runs the whole DP, rounds and fixpoint included.

``RunModule`` is the executor's run (``dpdsl.execute``) written for tracing: the same compiled
expressions (``NodeEvaluator``: init, rounds, views through the registry's aggregators, outputs), the
student's compiled trees as transitions, and the rounds as a ``torch.while_loop`` that stops at the
round cap or the fixpoint (exact ``differs``, as ``run_skeleton``). Every round is dense, and a
node past its cap keeps its state with the same ``where`` the executor uses, so the values are the
executor's bits. torch's dynamo exporter (``torch.onnx.export(..., dynamo=True)``) turns it into ONNX
with dynamic node and edge counts; the legacy TorchScript exporter is not used (it silently returns
zeros for scatter-min). onnxruntime then runs a student without dpdsl installed.

Model interface (one graph; ``Exported.inputs`` / ``outputs`` name them):

* inputs ``id`` (float64 ``[N]``, the node ids ``0..N-1``: it fixes N even for specs without node
  inputs), ``edge_index`` (int64 ``[2, E]``; an undirected graph lists each edge once, as in the graph
  files), then each node input ``node_NAME`` (``[N]``) and edge input ``edge_NAME`` (``[E]``) in spec
  order, bool as bool and everything else float64;
* outputs: each spec output (``[N]``, the executor's encoding) and ``rounds`` (int64 scalar).
"""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from dpdsl.errors import UserError
from dpdsl.execute import Context, NodeEvaluator, Transition, _cast, compute_views, local_args
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR
from dpdsl.registry import AGGREGATORS
from dpdsl.runtime import differs
from dpdsl.tolerances import round_caps

OPSET = 18


@dataclass(frozen=True)
class Exported:
    path: Path
    inputs: list[str]
    outputs: list[str]


def input_names(spec: SpecIR) -> list[str]:
    return ["id", "edge_index", *(f"node_{k}" for k in spec.node_inputs), *(f"edge_{k}" for k in spec.edge_inputs)]


def model_inputs(spec: SpecIR, graph: Graph) -> list[torch.Tensor]:
    """A single graph as the model's inputs (``input_names`` order)."""
    ids = torch.arange(graph.num_nodes, dtype=torch.float64)
    return [ids, graph.edge_index.to(torch.int64), *(graph.node[k] for k in spec.node_inputs),
            *(graph.edge[k] for k in spec.edge_inputs)]


def why_not_exportable(spec: SpecIR) -> str | None:
    """Why a spec cannot be exported, or None. Plugin aggregators with a custom reduction are Python."""
    if spec.domain.indexed:
        return f"its state lives on the '{spec.domain.kind}' index domain; ONNX export covers node states only"
    for name, v in spec.views.items():
        if AGGREGATORS[v.agg.agg].custom is not None:
            return f"view '{name}' uses aggregator '{v.agg.agg}', whose custom reduction has no ONNX form"
    return None


class RunModule(torch.nn.Module):
    """``run_skeleton`` for one graph as a traceable module (module docstring)."""

    def __init__(self, spec: SpecIR, transitions: dict[str, Transition]) -> None:
        super().__init__()
        self.spec, self.transitions = spec, transitions
        ev = NodeEvaluator(spec.param_values)
        self.init = {k: ev.compile(st.init) for k, st in spec.states.items()}
        self.rounds_fn = ev.compile(spec.rounds.expr)
        self.views = {k: ev.compile(v.agg) for k, v in spec.views.items()}
        self.outs = {k: ev.compile(o.expr) for k, o in spec.outputs.items()}

    def _context(self, ids: torch.Tensor, edge_index: torch.Tensor, inputs: tuple[torch.Tensor, ...]) -> Context:
        spec, n = self.spec, ids.shape[0]
        nn, ne = len(spec.node_inputs), len(spec.edge_inputs)
        g = Graph(n, edge_index, spec.graph_kind != "undirected", dict(zip(spec.node_inputs, inputs[:nn], strict=True)),
                  dict(zip(spec.edge_inputs, inputs[nn:nn + ne], strict=True))).directed_view()
        builtins = {"id": ids, "n": torch.ones_like(ids) * n}
        if spec.graph_kind == "tree":
            builtins["height"] = torch.ones_like(ids) * _depths(g.edge_index, ids).max()
        return Context(spec, g, builtins=builtins)

    def forward(self, ids: torch.Tensor, edge_index: torch.Tensor, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        spec, n = self.spec, ids.shape[0]
        ctx = self._context(ids, edge_index, inputs)
        names = list(spec.states)
        # cloned: an init may be an input itself (``init incl = weight``), and loop carries may not alias
        state0 = [_cast(self.init[k](ctx, n), spec.states[k].type.kind, n).clone() for k in names]
        caps = round_caps(self.rounds_fn(ctx, n))
        total = caps.max()
        fixpoint = spec.rounds.fixpoint

        def cond(t: torch.Tensor, go: torch.Tensor, last: torch.Tensor, *state: torch.Tensor) -> torch.Tensor:
            return go & (t.to(torch.float64) < total)

        def body(t: torch.Tensor, go: torch.Tensor, last: torch.Tensor, *state: torch.Tensor):
            t = t + 1
            c = Context(spec, ctx.graph, dict(zip(names, state, strict=True)), builtins=ctx.builtins)  # fresh:
            compute_views(c, self.views)  # on the fresh c: a loop body may not mutate outer objects
            active = caps >= t.to(torch.float64)
            moved = torch.zeros((), dtype=torch.bool)
            new = []
            for k, old in zip(names, state, strict=True):
                val = _cast(self.transitions[k](**local_args(spec, c, k)), spec.states[k].type.kind, n)
                val = torch.where(active, val, old)
                moved = moved | differs(val, old).any()
                new.append(val)
            go = moved if fixpoint else torch.ones((), dtype=torch.bool)
            return (t, go, torch.where(moved, t, last), *new)

        zero = torch.zeros((), dtype=torch.int64)
        start = (zero, torch.ones((), dtype=torch.bool), zero.clone())  # t, go, last round that changed
        t, _, last, *state = torch.while_loop(cond, body, (*start, *state0))
        ctx.state = dict(zip(names, state, strict=True))
        compute_views(ctx, self.views)  # in dependency order: a view may read a view
        outs = [_cast(fn(ctx, n), spec.outputs[k].type.kind, n) for k, fn in self.outs.items()]
        rounds = last if fixpoint else total.to(torch.int64)
        return (*outs, rounds)


def _depths(edge_index: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``runtime.tree_depths`` as a ``while_loop`` (the same relaxation, to the same fixpoint)."""
    src, dst = edge_index[0].clone(), edge_index[1].clone()  # captured tensors may not alias each other

    def cond(go: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        return go.clone()  # a loop's functions may not return an input itself

    def body(go: torch.Tensor, depth: torch.Tensor):
        new = torch.zeros_like(ids).scatter_reduce(0, dst, depth.index_select(0, src) + 1, "amax")
        return (new != depth).any(), new

    return torch.while_loop(cond, body, (torch.ones((), dtype=torch.bool), torch.zeros_like(ids)))[1]


def _translations() -> dict:
    """Where onnxruntime's kernels differ from torch, exact replacements: it has no ``Where`` kernel for
    bool tensors (a bool ``where`` goes through uint8), and its ``ScatterElements`` min/max reduction
    drops NaN where ``scatter_reduce`` propagates it (a second scatter of ``isnan`` restores it)."""
    from onnxscript import BOOL, DOUBLE, UINT8, ir
    from onnxscript import opset18 as op
    from onnxscript.function_libs.torch_lib.ops.core import aten_scatter_reduce

    def where(condition, a, b):  # noqa: ANN001, ANN202 - onnxscript values
        if a.dtype == ir.DataType.BOOL:
            return op.Cast(op.Where(condition, op.Cast(a, to=UINT8.dtype), op.Cast(b, to=UINT8.dtype)), to=BOOL.dtype)
        return op.Where(condition, a, b)

    def scatter_reduce(self, dim, index, src, reduce, include_self=True):  # noqa: ANN001, ANN202
        out = aten_scatter_reduce(self, dim, index, src, reduce, include_self)
        if reduce not in ("amin", "amax") or self.dtype != ir.DataType.DOUBLE or not include_self:
            return out  # the registry always scatters with include_self=True
        seen = op.Cast(op.IsNaN(self), to=DOUBLE.dtype)
        flag = op.ScatterElements(seen, index, op.Cast(op.IsNaN(src), to=DOUBLE.dtype), axis=dim, reduction="max")
        return op.Where(op.Greater(flag, op.CastLike(op.Constant(value_float=0.0), flag)),
                        op.CastLike(op.Constant(value_float=float("nan")), out), out)

    return {torch.ops.aten.where.self: where, torch.ops.aten.scatter_reduce.two: scatter_reduce}


def example_graph(spec: SpecIR) -> Graph:
    """A graph to trace on: only shapes and dtypes matter (nothing branches on values), and sizes of 0 or
    1 would be specialised by the exporter, so a 4-node ring with zero inputs."""
    n = 4
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    if spec.graph_kind in ("tree", "dag"):
        ei = torch.tensor([[0, 0, 1], [1, 2, 3]])

    def zeros(t, size: int) -> torch.Tensor:
        return torch.zeros(size, dtype=t.type.dtype())

    return Graph(n, ei, spec.graph_kind != "undirected", {k: zeros(v, n) for k, v in spec.node_inputs.items()},
                 {k: zeros(v, ei.shape[1]) for k, v in spec.edge_inputs.items()})


def export_onnx(spec: SpecIR, transitions: dict[str, Transition], path: str | Path) -> Exported:
    """Trace the run (sizes stay dynamic) and write the ONNX model to ``path`` (as given: callers that
    need an atomic write pass a temporary name)."""
    why = why_not_exportable(spec)
    if why is not None:
        raise UserError(f"cannot export {spec.name} to ONNX: {why}")
    try:
        import onnxscript  # noqa: F401 - what torch's dynamo exporter needs
    except ImportError:
        raise UserError("ONNX export needs the onnx extra: pip install 'dpdsl[onnx]' (onnx, onnxscript, "
                        "onnxruntime)") from None
    names = input_names(spec)
    args = tuple(model_inputs(spec, example_graph(spec)))
    n, e = torch.export.Dim("N"), torch.export.Dim("E")
    rest = (*({0: n} for _ in spec.node_inputs), *({0: e} for _ in spec.edge_inputs))
    dims = ({0: n}, {1: e}, rest) if rest else ({0: n}, {1: e})  # forward(ids, edge_index, *inputs)
    outputs = [*spec.outputs, "rounds"]
    module = RunModule(spec, transitions).eval()
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's progress lines and deprecation notes
        prog = torch.onnx.export(module, args, dynamo=True, input_names=names, output_names=outputs,
                                 dynamic_shapes=dims, opset_version=OPSET, verbose=False,
                                 optimize=True, custom_translation_table=_translations())
    prog.save(str(path))
    return Exported(Path(path), names, outputs)


# the exporter logs "torchvision is not installed" on every export
logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
