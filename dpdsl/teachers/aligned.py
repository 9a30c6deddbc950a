"""The aligned zoo teacher: a recurrent encode-process-decode GNN unrolled once per DP round.

Per step k: ``z = encoder(node inputs, decoded state of round k-1)``, ``h_k = processor(z)``, and the
state heads decode round k from ``h_k``; the decoded state is fed back (the CLRS "hint" loop), so the
one shared processor is unrolled once per DP round and every step is the same function. That makes
teacher-forced training embarrassingly parallel over rounds (each (round t-1 -> round t) pair is one
sample) while evaluation is free-running on the teacher's own decoded states.

Processor: for every relation the spec's views use, a message MLP over (h_u, h_v, edge inputs), then
sum / max / min / mean aggregation (empty neighbourhoods explicitly 0, plus degree features so the
network can tell "empty" from "0"), then an update MLP with LayerNorm and a residual connection.

Decoders (``config["decoder"]``): "wide" heads are MLPs over [h, value aggregates, raw features], so a
decision such as ``best < dist`` can be taken inside a head and never appear in h (the first shipped
teachers; their Bellman-Ford embedding did not represent it). "embedding" bounds h with tanh and makes
every head a *linear* read-out of h alone: whatever the teacher decides is, by construction, linearly
present in the embedding the distiller probes. The real-valued zoo teachers use it.

Outputs: node-typed outputs that select a neighbour (``argmin over in-edges ...``) have a learned
pointer head that scores every candidate along the relation plus the node itself and takes the argmax.
All other outputs are *computed* by evaluating the spec's (known) output expression with the executor
on the teacher's final decoded state — legitimate for an aligned teacher, whose job is the unknown
transition, and it keeps outputs consistent with ``states``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR
from dpdsl.registry import AGGREGATORS
from dpdsl.teachers.common import (
    FieldSpec,
    NetTeacher,
    TrainBatch,
    TrainItem,
    aligned_fields,
    cat_states,
    collate,
    encode_values,
    free_run,
    head_loss,
    outputs_from_state,
)
from dpdsl.teachers.contract import TeacherOutput

ARCH = "aligned"


def _key(name: str) -> str:
    """ModuleDict keys may not contain dots nor shadow Module attributes (a relation is ``children``)."""
    return "rel_" + name.replace(".", "_")


class EdgeMLP(nn.Module):
    """MLP over (h_nbr, h_me, edge features); the first layer is split per operand so it runs on
    nodes, not edges (identical maths, far cheaper on dense graphs)."""

    def __init__(self, hidden: int, edge_dim: int, out: int) -> None:
        super().__init__()
        self.nbr = nn.Linear(hidden, hidden)
        self.me = nn.Linear(hidden, hidden, bias=False)
        self.edge = nn.Linear(edge_dim, hidden, bias=False) if edge_dim else None
        self.out = nn.Linear(hidden, out)

    def forward(self, h: torch.Tensor, nbr: torch.Tensor, me: torch.Tensor,
                edge_x: torch.Tensor) -> torch.Tensor:
        pre = self.nbr(h)[nbr] + self.me(h)[me]
        if self.edge is not None:
            pre = pre + self.edge(edge_x)
        return self.out(torch.relu(pre))


def multi_aggregate(m: torch.Tensor, me: torch.Tensor, n: int) -> torch.Tensor:
    """[sum, mean, max, min, log(1+deg), deg==0] per node; empty neighbourhoods are 0 on purpose."""
    width = m.shape[1]
    idx = me.unsqueeze(1).expand(-1, width)
    zeros = torch.zeros(n, width, dtype=m.dtype)
    s = zeros.index_add(0, me, m)
    deg = torch.zeros(n, dtype=m.dtype).index_add(0, me, torch.ones_like(me, dtype=m.dtype))
    mean = s / deg.clamp(min=1).unsqueeze(1)
    mx = zeros.scatter_reduce(0, idx, m, "amax", include_self=False)
    mn = zeros.scatter_reduce(0, idx, m, "amin", include_self=False)
    return torch.cat([s, mean, mx, mn, torch.log1p(deg).unsqueeze(1), (deg == 0).to(m.dtype).unsqueeze(1)], 1)


class ResidualMLP(nn.Module):
    """``V x + W2 relu(W1 x)``: a linear skip plus one ReLU layer.

    The skip gives numeric values an exact linear path (``best``, ``weight + kids``), the ReLU layer
    the kinks DP transitions need (``min(a, b) = a - relu(a - b)``); with features scaled to O(1) both
    are easy for SGD to find, which is what makes 1e-2 relative precision reachable.
    """

    def __init__(self, d_in: int, hidden: int, d_out: int) -> None:
        super().__init__()
        self.skip = nn.Linear(d_in, d_out)
        self.inner = nn.Linear(d_in, hidden)
        self.out = nn.Linear(hidden, d_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x) + self.out(torch.relu(self.inner(x)))


class NumericHead(nn.Module):
    """Decodes an int/real field as (finite/+inf/-inf logits, value).

    The value *selects* among candidates by a softmax — the node's own raw values, the aggregated
    value channels and a few learned linear mixes of them — rather than regressing the number through
    a deep MLP: DP transitions mostly choose (``min(dist, best)``) or add (``weight + kids``), and a
    selection is exact for an unchanged value and robust near ties, so free-running errors do not
    accumulate round after round.
    """

    def __init__(self, d_in: int, hidden: int, d_cand: int, mixes: int = 4, linear: bool = False) -> None:
        super().__init__()
        if linear:  # the "embedding" decoder: every decision is a linear read-out of the embedding
            self.cls: nn.Module = nn.Linear(d_in, 3)
            self.select: nn.Module = nn.Linear(d_in, d_cand + mixes)
        else:
            self.cls = ResidualMLP(d_in, hidden, 3)
            self.select = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_cand + mixes))
        self.mix = nn.Linear(d_cand, mixes)

    def forward(self, x: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        cands = torch.cat([cand, self.mix(cand)], 1)
        value = (self.select(x).softmax(1) * cands).sum(1, keepdim=True)
        return torch.cat([self.cls(x), value], 1)


def linear_columns(fields: list[FieldSpec]) -> list[int]:
    """Feature columns an exact affine message may use: values and flags, not the symlog column."""
    cols, off = [], 0
    for f in fields:
        cols += [off + i for i in range(f.width) if not (f.kind in ("int", "real") and i == 3)]
        off += f.width
    return cols


class EdgeValueMLP(nn.Module):
    """A ``ResidualMLP`` over (raw features of u, raw features of v, edge inputs) with its per-operand
    first layers evaluated on nodes (same maths as on the concatenation).

    ``linear`` extra channels are exact affine messages of the neighbour's values/flags and the edge's
    (e.g. ``dist[u] + w[u, v]`` when all numbers share one scale): no symlog, no own-node term, no
    ReLU, so nothing has to be unlearned to make them exact.
    """

    def __init__(self, d_raw: int, edge_dim: int, hidden: int, d_out: int, linear: int = 0,
                 raw_cols: list[int] | None = None, edge_cols: list[int] | None = None) -> None:
        super().__init__()
        self.skip_nbr = nn.Linear(d_raw, d_out)
        self.skip_me = nn.Linear(d_raw, d_out, bias=False)
        self.in_nbr = nn.Linear(d_raw, hidden)
        self.in_me = nn.Linear(d_raw, hidden, bias=False)
        self.skip_edge = nn.Linear(edge_dim, d_out, bias=False) if edge_dim else None
        self.in_edge = nn.Linear(edge_dim, hidden, bias=False) if edge_dim else None
        self.out = nn.Linear(hidden, d_out, bias=False)
        self.linear = linear
        rc = raw_cols if raw_cols is not None else list(range(d_raw))
        ec = edge_cols if edge_cols is not None else list(range(edge_dim))
        self.register_buffer("raw_cols", torch.tensor(rc, dtype=torch.long), persistent=False)
        self.register_buffer("edge_cols", torch.tensor(ec, dtype=torch.long), persistent=False)
        self.lin_nbr = nn.Linear(len(rc), linear) if linear else None
        self.lin_edge = nn.Linear(len(ec), linear, bias=False) if linear and ec else None

    def forward(self, r: torch.Tensor, nbr: torch.Tensor, me: torch.Tensor, edge_x: torch.Tensor) -> torch.Tensor:
        skip = self.skip_nbr(r)[nbr] + self.skip_me(r)[me]
        pre = self.in_nbr(r)[nbr] + self.in_me(r)[me]
        if self.skip_edge is not None and self.in_edge is not None:
            skip = skip + self.skip_edge(edge_x)
            pre = pre + self.in_edge(edge_x)
        out = skip + self.out(torch.relu(pre))
        if self.lin_nbr is None:
            return out
        lin = self.lin_nbr(r[:, self.raw_cols])[nbr]
        if self.lin_edge is not None:
            lin = lin + self.lin_edge(edge_x[:, self.edge_cols])
        return torch.cat([out, lin], 1)


class AlignedNet(nn.Module):
    """The network; ``config`` (JSON-able) fully determines its shapes.

    Per relation two message paths are aggregated with sum/mean/max/min: the wide hidden message MLP
    over (h_u, h_v, e_uv), and ``value_channels`` narrow "value" messages over the raw (scaled)
    features of u, v and the edge, which carry numbers like ``dist[u] + w[u, v]`` exactly through the
    aggregation. The update MLP (with LayerNorm) sees both; the state heads see the new embedding plus
    the value channels and the node's own raw features ("wide") or the embedding alone ("embedding");
    numeric heads always *select* among the value candidates, so values stay exact-ish either way.
    """

    def __init__(self, config: dict) -> None:
        super().__init__()
        hd = int(config["hidden"])
        vc = int(config.get("value_channels", 8))
        lc = int(config.get("linear_channels", 0))
        # "wide": heads read [h, value aggregates, raw features] through MLPs (the first shipped
        # teachers); "embedding": h is bounded (tanh) and every head is a linear read-out of h alone, so
        # each decision the teacher makes -- e.g. whether ``best < dist`` -- must live in the embedding
        self.decoder, self.state_fields, self.node_fields, self.edge_fields = aligned_fields(config)
        lin = self.decoder == "embedding"
        self.relations: list[str] = list(config["relations"])
        self.pointers: dict[str, str] = dict(config["pointers"])
        dn = sum(f.width for f in self.node_fields)
        ds = sum(f.width for f in self.state_fields)
        de = sum(f.width for f in self.edge_fields)
        d_raw = dn + ds
        nr = len(self.relations)
        self.encoder = nn.Sequential(nn.Linear(d_raw, hd), nn.ReLU(), nn.Linear(hd, hd))
        self.message = nn.ModuleDict({_key(r): EdgeMLP(hd, de, hd) for r in self.relations})
        raw_cols = linear_columns(self.node_fields + self.state_fields)
        edge_cols = linear_columns(self.edge_fields)
        self.value_message = nn.ModuleDict({_key(r): EdgeValueMLP(d_raw, de, hd // 2, vc, lc, raw_cols, edge_cols)
                                            for r in self.relations})
        d_val = nr * (4 * (vc + lc) + 2)
        upd_in = hd + nr * (4 * hd + 2) + d_val + d_raw
        self.update = nn.Sequential(nn.Linear(upd_in, hd), nn.LayerNorm(hd), nn.ReLU(), nn.Linear(hd, hd))
        d_head = hd if lin else hd + d_val + d_raw
        cols, off = [], 0
        for f in self.node_fields + self.state_fields:
            if f.kind in ("int", "real"):
                cols.append(off)  # the value/scale column of a numeric feature block
            off += f.width
        self.register_buffer("value_cols", torch.tensor(cols, dtype=torch.long), persistent=False)
        d_cand = len(cols) + d_val
        self.heads = nn.ModuleDict({
            f.name: NumericHead(d_head, hd, d_cand, linear=lin) if f.kind in ("int", "real")
            else nn.Linear(d_head, f.head_width) if lin else ResidualMLP(d_head, hd, f.head_width)
            for f in self.state_fields
        })
        # pointer heads also see node ids (scaled by the largest training size): the CLRS convention
        # breaks ties towards the smallest neighbour id, which an anonymous GNN cannot know
        self.id_scale = float(config.get("id_scale", 16.0))
        self.ptr_edge = nn.ModuleDict({name: EdgeMLP(hd, de + 2, 1) for name in self.pointers})
        self.ptr_self = nn.ModuleDict({
            name: nn.Sequential(nn.Linear(hd + 1, hd), nn.ReLU(), nn.Linear(hd, 1)) for name in self.pointers
        })

    def encode(self, node_x: torch.Tensor, state_x: torch.Tensor) -> torch.Tensor:
        return self._bound(self.encoder(torch.cat([node_x, state_x], 1)))

    def _bound(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(h) if self.decoder == "embedding" else h

    def process(self, z: torch.Tensor, rel: dict[str, tuple[torch.Tensor, torch.Tensor]],
                edge_x: torch.Tensor, raw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One processor application: (embedding h, head inputs [h, value aggregates, raw],
        numeric candidates [raw values, value aggregates])."""
        n = z.shape[0]
        parts, vals = [z], []
        for r in self.relations:
            nbr, me = rel[r]
            parts.append(multi_aggregate(self.message[_key(r)](z, nbr, me, edge_x), me, n))
            vals.append(multi_aggregate(self.value_message[_key(r)](raw, nbr, me, edge_x), me, n))
        h = self._bound(z + self.update(torch.cat(parts + vals + [raw], 1)))
        head_in = h if self.decoder == "embedding" else torch.cat([h, *vals, raw], 1)
        return h, head_in, torch.cat([raw[:, self.value_cols], *vals], 1)

    def step(self, node_x: torch.Tensor, state_x: torch.Tensor, rel: dict[str, tuple[torch.Tensor, torch.Tensor]],
             edge_x: torch.Tensor, z: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Encode the state, process, decode: (embedding, raw head outputs per field)."""
        raw = torch.cat([node_x, state_x], 1)
        if z is None:
            z = self._bound(self.encoder(raw))
        h, head_in, cand = self.process(z, rel, edge_x, raw)
        out = {}
        for f in self.state_fields:
            head = self.heads[f.name]
            out[f.name] = head(head_in, cand) if isinstance(head, NumericHead) else head(head_in)
        return h, out

    def pointer_scores(self, name: str, h: torch.Tensor, rel: dict[str, tuple[torch.Tensor, torch.Tensor]],
                       edge_x: torch.Tensor, local_id: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(candidate node, owning node, score) for every edge of the relation and every self-loop."""
        nbr, me = rel[self.pointers[name]]
        n = h.shape[0]
        own = torch.arange(n)
        ids = (local_id.to(torch.float32) / self.id_scale).unsqueeze(1)
        es = self.ptr_edge[name](h, nbr, me, torch.cat([edge_x, ids[nbr], ids[me]], 1))[:, 0]
        ss = self.ptr_self[name](torch.cat([h, ids], 1))[:, 0]
        return torch.cat([nbr, own]), torch.cat([me, own]), torch.cat([es, ss])


class AlignedTeacher(NetTeacher):
    """A trained ``AlignedNet`` bound to its spec: implements the ``Teacher`` protocol."""

    arch = ARCH
    net_class = AlignedNet

    def __init__(self, spec: SpecIR, config: dict, net: nn.Module | None = None) -> None:
        super().__init__(spec, config, net)
        self.max_steps: int | None = None  # optional extra cap on processor steps (evaluation budgets)

    def state_features(self, state: dict[str, torch.Tensor], n: int) -> torch.Tensor:
        return encode_values(state, self.net.state_fields, n)

    @torch.no_grad()
    def run(self, graph: Graph, max_steps: int | None = None) -> TeacherOutput:
        """Free-running: up to each graph's round cap, stopping a graph once its decoded state is a
        fixpoint (when the spec says ``until fixpoint``); finished graphs keep state and embedding."""
        net = self.net
        p = self.prepare(graph)
        n = p.num_nodes
        h = net.encode(p.node_x, self.state_features(p.init, n))
        state, h, embeddings, states = free_run(
            self.spec, p, net.state_fields, h, lambda sx, first: net.step(p.node_x, sx, p.rel, p.edge_x, first),
            max_steps if max_steps is not None else self.max_steps)
        outputs = outputs_from_state(self.spec, p, state, set(net.pointers))
        for name in net.pointers:
            cand, owner, score = net.pointer_scores(name, h, p.rel, p.edge_x, p.ctx.builtins["id"])
            # the registry's argmax: best score, ties to the smallest id, the node itself if none
            pick = AGGREGATORS["argmax"].aggregate(score, owner, cand, n).long()
            outputs[name] = (pick - p.offsets[p.batch[pick]]).to(torch.float64)
        outputs = {name: outputs[name] for name in self.spec.outputs}
        return TeacherOutput(outputs, embeddings, states)


# --- training (teacher-forced: one sample per (graph, round t-1 -> round t) pair) ------------------


def pointer_loss(net: AlignedNet, name: str, h: torch.Tensor, b: TrainBatch, target_local: torch.Tensor,
                 mask: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over each node's candidates (relation neighbours + itself)."""
    n = h.shape[0]
    local_id = torch.arange(n) - b.offsets[b.batch]
    cand, owner, score = net.pointer_scores(name, h, b.rel, b.edge_x, local_id)
    target = target_local.long() + b.offsets[b.batch]
    mx = torch.full((n,), -math.inf).scatter_reduce(0, owner, score.detach(), "amax")
    lse = mx + torch.log(torch.zeros(n).index_add(0, owner, torch.exp(score - mx[owner])))
    hit = cand == target[owner]
    tscore = torch.full((n,), -math.inf).scatter_reduce(
        0, owner, torch.where(hit, score, torch.full_like(score, -math.inf)), "amax")
    ok = mask & torch.isfinite(tscore)
    if not ok.any():
        return torch.zeros(())
    return (lse[ok] - tscore[ok]).mean()


def _noisy(sx: torch.Tensor, net: AlignedNet, noise: float, gen: torch.Generator) -> torch.Tensor:
    """Perturb the finite real-valued state features so free running tolerates its own small errors."""
    col = 0
    for f in net.state_fields:
        if f.kind == "real":  # value/scale column of a real field; ints are rounded when decoded
            fin = sx[:, col + 1] + sx[:, col + 2] == 0
            eps = torch.randn(sx.shape[0], generator=gen) * noise
            sx[:, col] = sx[:, col] + torch.where(fin, eps, torch.zeros_like(eps))
        col += f.width
    return sx


def training_loss(teacher: AlignedTeacher, items: list[TrainItem], chunk: list[tuple[int, int]], cfg,
                  gen: torch.Generator) -> torch.Tensor:
    """State-head losses of round t from the reference state of round t - 1 (``t == -1``: the final
    state onto itself, which trains the pointer heads and fixpoint stability)."""
    net = teacher.net
    its = [items[g] for g, _ in chunk]
    b = collate(its, net.relations)
    last = [t == -1 for _g, t in chunk]
    pairs = list(zip([t for _g, t in chunk], its, strict=True))
    sx = torch.cat([it.traj_x[-1] if t == -1 else it.traj_x[t - 1] for t, it in pairs])
    if cfg.noise > 0:
        sx = _noisy(sx, net, cfg.noise, gen)
    h, out = net.step(b.node_x, sx, b.rel, b.edge_x)
    nxt = [it.traj[-1] if t == -1 else it.traj[t] for t, it in pairs]
    target = cat_states(nxt, [f.name for f in net.state_fields])
    loss = sum(head_loss(out[f.name], target[f.name], f, cfg.value_weight) for f in net.state_fields)
    if net.pointers:
        mask = torch.repeat_interleave(torch.tensor(last), torch.tensor([it.prep.num_nodes for it in its]))
        outs = cat_states([it.outputs for it in its], list(net.pointers))
        for name in net.pointers:
            loss = loss + pointer_loss(net, name, h, b, outs[name], mask)
    return loss  # type: ignore[return-value]
