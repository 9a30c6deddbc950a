"""Shared plumbing of the zoo teachers: value features, graph preparation, decoding and scoring.

Both zoo architectures see a graph the same way (node inputs, edge inputs and the known init state,
encoded as float32 features with explicit ±inf flags) so their embeddings are comparable in the
distiller's LRH report. Everything that is *known* about the DP (init, round cap, output expressions)
is computed with the reference executor's own machinery, never re-implemented here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from dpdsl.execute import Context, evaluate, make_context, state_outputs
from dpdsl.expr import nodes as A
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR
from dpdsl.limits import check_round_counts
from dpdsl.registry import RELATIONS
from dpdsl.tolerances import TEACHER_EVAL_RTOL, moved, round_caps
from dpdsl.types import BOOL, ENUM, NODE, Type

NUM_FEATS = 4  # value/scale, +inf flag, -inf flag, symlog(value)
NUM_CLASSES = 3  # finite, +inf, -inf


def field_kind(t: Type) -> str:
    """Teacher-side kind of a value: ``bool``, ``enum``, ``int`` (also node ids) or ``real``."""
    if t.kind == BOOL:
        return "bool"
    if t.kind == ENUM:
        return "enum"
    if t.kind == NODE:
        return "int"
    return t.kind


@dataclass(frozen=True)
class FieldSpec:
    """How one value (state field or input) is encoded as features and decoded from a head.

    ``scale`` divides finite values so features stay O(1) on the training distribution (it is stored
    in the checkpoint; values far outside it are the teacher's honest extrapolation problem).
    """

    name: str
    kind: str
    scale: float = 1.0
    labels: int = 0
    lo: float | None = None
    hi: float | None = None
    inf_value: float = 0.0  # value column of ±inf (scaled units); a sentinel beyond the data range

    @property
    def width(self) -> int:
        if self.kind == "bool":
            return 1
        if self.kind == "enum":
            return self.labels
        return NUM_FEATS

    @property
    def head_width(self) -> int:
        """Outputs of a decoding head: a logit, enum logits, or 3 class logits + 1 value."""
        if self.kind == "bool":
            return 1
        if self.kind == "enum":
            return self.labels
        return NUM_CLASSES + 1

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "scale": self.scale, "labels": self.labels,
                "lo": self.lo, "hi": self.hi, "inf_value": self.inf_value}

    @staticmethod
    def from_json(d: dict) -> FieldSpec:
        return FieldSpec(str(d["name"]), str(d["kind"]), float(d["scale"]), int(d["labels"]),
                         None if d["lo"] is None else float(d["lo"]),
                         None if d["hi"] is None else float(d["hi"]), float(d.get("inf_value", 0.0)))


def make_field(name: str, t: Type, values: list[torch.Tensor], inf_value: float = 0.0) -> FieldSpec:
    """A field spec whose scale is the largest finite magnitude seen in training data (at least 1).

    ``inf_value`` encodes ±inf in the value column as ±inf_value (scaled units, i.e. that many times
    the largest training value): then ``dist[u] + w`` of an unreached neighbour is naturally larger
    than every finite candidate and loses a min without the network having to learn a gate."""
    kind = field_kind(t)
    scale = 1.0
    if kind in ("int", "real") and values:
        v = torch.cat([x.reshape(-1).to(torch.float64) for x in values])
        v = v[torch.isfinite(v)]
        if v.numel():
            scale = max(1.0, float(v.abs().max()))
    return FieldSpec(name, kind, scale, len(t.labels), t.lo, t.hi, inf_value if kind in ("int", "real") else 0.0)


def symlog(x: torch.Tensor) -> torch.Tensor:
    return torch.sign(x) * torch.log1p(x.abs())


def encode_value(x: torch.Tensor, f: FieldSpec) -> torch.Tensor:
    """Features of one value per node/edge: float32 ``[n, f.width]``; infinities become flags."""
    if f.kind == "bool":
        return x.to(torch.float32).reshape(-1, 1)
    if f.kind == "enum":
        return torch.nn.functional.one_hot(x.long().clamp(0, f.labels - 1), f.labels).to(torch.float32)
    x = x.to(torch.float64)
    fin = torch.isfinite(x)
    safe = torch.where(fin, x, torch.zeros_like(x))
    pos, neg = (x == math.inf).double(), (x == -math.inf).double()
    cols = [safe / f.scale + f.inf_value * (pos - neg), pos, neg, symlog(safe)]
    return torch.stack(cols, 1).to(torch.float32)


def encode_values(values: dict[str, torch.Tensor], fields: list[FieldSpec], n: int) -> torch.Tensor:
    """Concatenated features of several fields (``[n, 0]`` when there are none)."""
    if not fields:
        return torch.zeros(n, 0)
    return torch.cat([encode_value(values[f.name], f) for f in fields], 1)


def decode_head(out: torch.Tensor, f: FieldSpec) -> torch.Tensor:
    """Head output -> a value in the executor's encoding (bool, or float64 with ±inf)."""
    if f.kind == "bool":
        return out[:, 0] > 0
    if f.kind == "enum":
        return out.argmax(1).to(torch.float64)
    cls = out[:, :NUM_CLASSES].argmax(1)
    val = out[:, NUM_CLASSES].to(torch.float64) * f.scale
    if f.kind == "int":
        val = val.round()
    if f.lo is not None or f.hi is not None:
        val = val.clamp(min=f.lo, max=f.hi)
    val = torch.where(cls == 1, torch.full_like(val, math.inf), val)
    return torch.where(cls == 2, torch.full_like(val, -math.inf), val)


def head_loss(out: torch.Tensor, target: torch.Tensor, f: FieldSpec, value_weight: float = 1.0) -> torch.Tensor:
    """Loss of one head against exact targets.

    Numeric values are fitted by their *relative* error ``(pred - y) / max(1, |y|)`` (in units of the
    evaluation tolerance) so a loss near zero means the tolerance holds at every scale.
    """
    if f.kind == "bool":
        return torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], target.to(torch.float32))
    if f.kind == "enum":
        return torch.nn.functional.cross_entropy(out, target.long())
    y = target.to(torch.float64)
    cls = torch.zeros_like(y, dtype=torch.long)
    cls[y == math.inf] = 1
    cls[y == -math.inf] = 2
    loss = torch.nn.functional.cross_entropy(out[:, :NUM_CLASSES], cls)
    fin = torch.isfinite(y)
    if fin.any():
        yf = y[fin]
        pred = out[fin, NUM_CLASSES].to(torch.float64) * f.scale
        rel = (pred - yf) / yf.abs().clamp(min=1.0) / TEACHER_EVAL_RTOL
        loss = loss + value_weight * (rel**2).mean().to(torch.float32) * 1e-2
    return loss


def spec_relations(spec: SpecIR) -> list[str]:
    """Edge relations the spec's views (and output aggregates) use, in order of appearance. A relation
    over all nodes has no edges to pass messages along: teachers see it only through the outputs the
    spec computes from their decoded states."""
    rels: list[str] = []
    exprs = [v.agg for v in spec.views.values()] + [o.expr for o in spec.outputs.values()]
    for e in exprs:
        for sub in A.walk(e):
            if isinstance(sub, A.Agg) and sub.relation not in rels and not RELATIONS[sub.relation].over_all:
                rels.append(sub.relation)
    return rels


def pointer_outputs(spec: SpecIR) -> dict[str, str]:
    """Node-typed outputs that select a neighbour (argmin/argmax over a relation) -> that relation."""
    out = {}
    for name, o in spec.outputs.items():
        if o.type.kind != NODE:
            continue
        for sub in A.walk(o.expr):
            if isinstance(sub, A.Agg) and sub.agg in ("argmin", "argmax") and not RELATIONS[sub.relation].over_all:
                out[name] = sub.relation
                break
    return out


@dataclass
class Prepared:
    """A (batched) graph ready for a teacher: directed view, features, relations, init and caps."""

    ctx: Context
    num_nodes: int
    num_graphs: int
    batch: torch.Tensor  # [N] graph of each node
    offsets: torch.Tensor  # [G] global id of each graph's node 0
    node_x: torch.Tensor  # [N, dn] float32 node-input features
    edge_x: torch.Tensor  # [E, de] float32 edge-input features (directed view order)
    init: dict[str, torch.Tensor]
    caps: torch.Tensor  # [G] round cap per graph
    rel: dict[str, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)


def prepare(spec: SpecIR, graph: Graph, node_fields: list[FieldSpec], edge_fields: list[FieldSpec],
            relations: list[str]) -> Prepared:
    """Build everything a teacher needs from a graph, using the executor's context (init, caps)."""
    ctx = make_context(spec, graph)
    g = ctx.graph
    n = g.num_nodes
    batch = g.node_batch()
    sizes = g.graph_sizes()
    offsets = torch.cumsum(sizes, 0) - sizes
    init = {}
    for name, st in spec.states.items():
        v = evaluate(st.init, ctx)
        if v.dim() == 0 or v.shape[0] != n:
            v = v.expand(n).clone()
        init[name] = v.to(torch.bool) if st.type.kind == BOOL else v.to(torch.float64)
    ctx.state = dict(init)
    raw = evaluate(spec.rounds.expr, ctx)
    check_round_counts(raw, ctx.builtins["n"], fixpoint=spec.rounds.fixpoint, max_rounds=None)
    cap = round_caps(raw)
    cap = cap.expand(n) if cap.dim() == 0 else cap
    caps = torch.zeros(g.num_graphs, dtype=torch.float64).scatter_reduce(0, batch, cap, "amax").long()
    rel = {r: RELATIONS[r].edges(g.edge_index) for r in relations}
    return Prepared(ctx, n, g.num_graphs, batch, offsets,
                    encode_values(g.node, node_fields, n),
                    encode_values(g.edge, edge_fields, g.num_edges),
                    init, caps, rel)


class NetTeacher:
    """A trained net bound to its spec: the half of the ``Teacher`` protocol every architecture shares
    (identity, config, prepared inputs, size). Subclasses name their net class and implement ``run``."""

    arch: str
    net_class: type

    def __init__(self, spec: SpecIR, config: dict, net: torch.nn.Module | None = None) -> None:
        self.spec = spec
        self.spec_name = spec.name
        self.spec_hash = spec.hash
        self.config = config
        self.net = net if net is not None else self.net_class(config)
        self.net.eval()
        self.width = int(config["hidden"])
        self.seed: int | None = config.get("seed")

    def prepare(self, graph: Graph) -> Prepared:
        return prepare(self.spec, graph, self.net.node_fields, self.net.edge_fields, self.net.relations)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.net.parameters())


def aligned_fields(config: dict) -> tuple[str, list[FieldSpec], list[FieldSpec], list[FieldSpec]]:
    """An aligned net's decoder kind ("wide" or "embedding", validated) and its state, node and edge
    field specs, as its JSON config records them (the graph and the index-domain nets share these)."""
    decoder = str(config.get("decoder", "wide"))
    if decoder not in ("wide", "embedding"):
        raise ValueError(f"unknown aligned decoder '{decoder}'")
    return (decoder, *([FieldSpec.from_json(d) for d in config[k]]
                       for k in ("state_fields", "node_fields", "edge_fields")))  # type: ignore[return-value]


def free_run(spec: SpecIR, p: Any, fields: list[FieldSpec], h: torch.Tensor, step: Callable[..., tuple],
             limit: int | None) -> tuple[dict[str, torch.Tensor], torch.Tensor, list[torch.Tensor], list[dict]]:
    """A state-decoding teacher's free run, as the executor runs rounds: each graph (instance) of ``p``
    (``p.init``, ``p.caps``, ``p.batch``, ``p.num_graphs``) steps up to its round cap (and ``limit``),
    stopping once its decoded state is a fixpoint when the spec says ``until fixpoint``; finished graphs
    keep state and embedding. ``step(state_x, first)`` returns (new embedding, heads per field), ``first``
    being the initial embedding on the first step, else None. Returns (final state, final embedding,
    embeddings per step, states per step)."""
    n = p.num_nodes
    state = dict(p.init)
    embeddings, states = [h], [dict(state)]
    active = p.caps > 0
    total = int(p.caps.max()) if n else 0
    if limit is not None:
        total = min(total, limit)
    for k in range(1, total + 1):
        if not bool(active.any()):
            break
        h_new, heads = step(encode_values(state, fields, n), embeddings[0] if k == 1 else None)
        act = active[p.batch]
        new = {f.name: torch.where(act, decode_head(heads[f.name], f), state[f.name]) for f in fields}
        h = torch.where(act.unsqueeze(1), h_new, h)
        changed = per_graph_any(states_changed(new, state, fields), p.batch, p.num_graphs)
        state = new
        embeddings.append(h)
        states.append(dict(state))
        active = active & (p.caps > k)
        if spec.rounds.fixpoint:
            active = active & changed
    return state, h, embeddings, states


def outputs_from_state(spec: SpecIR, prep: Prepared, state: dict[str, torch.Tensor],
                       skip: set[str]) -> dict[str, torch.Tensor]:
    """The spec's (known) output expressions on a decoded final state, by the executor (``state_outputs``)."""
    return state_outputs(prep.ctx, state, [name for name in spec.outputs if name not in skip])


def states_changed(new: dict[str, torch.Tensor], old: dict[str, torch.Tensor],
                   fields: list[FieldSpec]) -> torch.Tensor:
    """Per-node "the decoded state moved" (``dpdsl.tolerances.moved``)."""
    n = next(iter(new.values())).shape[0] if new else 0
    ch = torch.zeros(n, dtype=torch.bool)
    for f in fields:
        ch |= moved(new[f.name], old[f.name], f.kind)
    return ch


def per_graph_any(mask: torch.Tensor, batch: torch.Tensor, num_graphs: int) -> torch.Tensor:
    return torch.zeros(num_graphs, dtype=torch.bool).index_put_((batch[mask],), torch.tensor(True),
                                                                accumulate=False)


# --- training batches (shared by every architecture's loss) --------------------------------------


@dataclass
class TrainItem:
    """One training graph: prepared tensors, trajectory states and their features, final outputs."""

    prep: Prepared
    traj: list[dict[str, torch.Tensor]]
    traj_x: list[torch.Tensor]
    outputs: dict[str, torch.Tensor]


@dataclass
class TrainBatch:
    node_x: torch.Tensor
    edge_x: torch.Tensor
    rel: dict[str, tuple[torch.Tensor, torch.Tensor]]
    batch: torch.Tensor
    num_graphs: int
    offsets: torch.Tensor


def collate(items: Sequence[TrainItem], relations: list[str]) -> TrainBatch:
    """Disjoint union of prepared graphs (relations re-indexed by node offsets)."""
    sizes = torch.tensor([it.prep.num_nodes for it in items])
    offsets = torch.cumsum(sizes, 0) - sizes
    rel = {}
    for r in relations:
        rel[r] = (torch.cat([it.prep.rel[r][0] + o for it, o in zip(items, offsets.tolist(), strict=True)]),
                  torch.cat([it.prep.rel[r][1] + o for it, o in zip(items, offsets.tolist(), strict=True)]))
    return TrainBatch(torch.cat([it.prep.node_x for it in items]), torch.cat([it.prep.edge_x for it in items]),
                      rel, torch.repeat_interleave(torch.arange(len(items)), sizes), len(items), offsets)


def cat_states(states: Sequence[dict[str, torch.Tensor]], names: list[str]) -> dict[str, torch.Tensor]:
    return {k: torch.cat([s[k] for s in states]) for k in names}
