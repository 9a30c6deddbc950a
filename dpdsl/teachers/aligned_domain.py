"""The aligned zoo teacher on index domains (docs/architecture.md §7, §12): the recurrent
encode-process-decode network of ``teachers.aligned`` with one tuple per "node".

The processor passes one learned message per *view*, along the view's own lowered gather lists
(``dpdsl.domains.lower``: the relation's messages, chunk by chunk, and one source id per read of the
body, so ``min over split k : d[i, k] + d[k, j]`` becomes a *triplet* message from the tuples (i, k)
and (k, j) into (i, j)), and reduces it onto the target tuples with the view's registry aggregator
(min -> amin per channel, or -> amax, sum, mean...): the Triplet-GMPNN idea, with the spec saying
which tuples meet. Nothing is lowered here: the gathers are the engine's (``DomainAgg`` plans and
``source_ids``), so a message the engine drops (a read outside the domain) is dropped here too; a
tuple without messages gets 0 and an "empty" flag. Each read contributes a per-operand linear layer
evaluated on its source rows (tuples, positions, nodes or edges) and gathered, so the cost is one
gather per read per message, as in the engine; messages go in chunks of at most
``MESSAGES_PER_CHUNK`` x width floats.

Two paths per view, as on nodes: a hidden message (embeddings and raw features of every read) and a
narrow *value* message over raw features, beside an *exact* channel, so numbers survive the
aggregation. The exact channel is the view's body evaluated by the engine's own body evaluator on the
state the net is given (decoded from its features) and the true inputs: ``m[i, k] + m[k + 1, j] +
p[i - 1] * p[k] * p[j]`` exactly, products included (``exact_body``, every checkpoint trained since
this; older ones summed the reads' value columns, exact only for affine bodies such as
``d[i, k] + d[k, j]``). Heads are ``aligned.NumericHead`` / linear
(``embedding`` decoder) or residual MLPs (``wide``) as on nodes. Every output is computed from the
decoded final state by the executor's own output expressions (no pointer heads on domains).
"""

from __future__ import annotations

import copy
import itertools
import math

import torch
from torch import nn

from dpdsl.domains.engine import DomainAgg, MsgEnv
from dpdsl.domains.lower import chunks, enumerate_chunk
from dpdsl.domains.units import batch_any
from dpdsl.execute import Context, make_context, run_reference
from dpdsl.ir import SpecIR
from dpdsl.registry import AGGREGATORS
from dpdsl.teachers.aligned import AlignedNet, AlignedTeacher, NumericHead, ResidualMLP, _noisy, linear_columns
from dpdsl.teachers.aligned import training_loss as aligned_training_loss
from dpdsl.teachers.common import (
    FieldSpec,
    TrainItem,
    aligned_fields,
    cat_states,
    encode_value,
    encode_values,
    free_run,
    head_loss,
    outputs_from_state,
    prepare,
)
from dpdsl.teachers.contract import TeacherOutput

MESSAGES_PER_CHUNK = 1 << 15
"""Messages per chunk of a teacher aggregation (x the hidden width in float32: 16 MiB at width 128)."""
SUM_VIEWS_MAX = 6
"""``sum_candidates`` adds 2^V - V - 1 sums: at most this many views."""
SELECT_RTOL = 1e-4
"""A candidate "holds" a target value within this relative error (float32 features of float64 values)."""
VECTOR_REDUCE = {"amin": "amin", "amax": "amax", "sum": "sum", "mean": "mean", "prod": "sum"}


def view_plans(spec: SpecIR) -> list[dict]:
    """Per view: its name, the per-channel reduction and the reads of its body (site, name) in the
    engine's order — what sizes the network (stored in the checkpoint's config)."""
    out = []
    for name, v in spec.views.items():
        agg = DomainAgg(spec.param_values, v.agg)
        red = AGGREGATORS[v.agg.agg]
        out.append({"name": name, "reduce": VECTOR_REDUCE.get(red.reduce, "mean") if red.custom is None
                    else "mean", "reads": [[r.site, r.name] for r in agg.reads]})
    return out


class DomainPrepared:
    """A batch of instances ready for the net: the executor's context (tuples, init, caps), the
    per-source features and one compiled ``DomainAgg`` per view (for its plan and reads)."""

    def __init__(self, spec: SpecIR, data, net: DomainAlignedNet) -> None:
        batch = batch_any(data) if isinstance(data, list) else data
        p = prepare(spec, batch, [], [], [])
        self.ctx: Context = p.ctx
        self.num_nodes, self.num_graphs, self.batch = p.num_nodes, p.num_graphs, p.batch
        self.init, self.caps = p.init, p.caps
        lay = self.ctx.domain
        ids = torch.stack([c.to(torch.float32) for c in lay.coords]
                          + [self.ctx.builtins["n"].to(torch.float32)], 1)
        self.builtin_x = ids / net.id_scale
        self.sources: dict[tuple[str, str], torch.Tensor] = {}
        for f in net.pos_fields:
            self.sources[("pos", f.name)] = encode_value(lay.seqs.inputs[f.name], f)
        for f in net.node_fields:
            self.sources[("node", f.name)] = encode_value(self.ctx.graph_in.node[f.name], f)
        for f in net.edge_fields:
            self.sources[("edge", f.name)] = encode_value(self.ctx.graph_in.edge[f.name], f)
        self.aggs = [DomainAgg(spec.param_values, v.agg) for v in spec.views.values()]
        self._chunks: dict[int, list] = {}

    def chunks(self, v: int, cap: int) -> list:
        """View ``v``'s prepared message chunks (messages, source ids per read): computed once."""
        if v not in self._chunks:
            agg, c = self.aggs[v], self.ctx
            counts = agg.plan.counts(c.spec, c.domain)
            starts = torch.cumsum(counts, 0) - counts
            self._chunks[v] = [agg._prepare(c, enumerate_chunk(agg.plan, c.spec, c.domain, counts, starts, t0, t1))
                               for t0, t1 in chunks(counts, cap)]
        return self._chunks[v]


def _width(fields: list[FieldSpec]) -> int:
    return sum(f.width for f in fields)


class ViewMessage(nn.Module):
    """One view's two message paths: per-operand first layers on their source rows, then gathered."""

    def __init__(self, reads: list[list[str]], d_tuple: int, d_raw: int, src_dims: dict[str, int],
                 lin_cols: list[int], hidden: int, vc: int, value_col: dict[str, int]) -> None:
        super().__init__()
        self.reads = [tuple(r) for r in reads]
        # the fixed message: the sum of every read's value column (d[i, k] + d[k, j] exactly, in scaled
        # units), reduced like the learned ones -- min-plus and max-plus views get an exact candidate
        self.value_col = [value_col.get(n, 0) if s == "tuple" else 0 for s, n in self.reads]
        dims = [d_tuple if s == "tuple" else src_dims[f"{s}:{n}"] for s, n in self.reads]
        raw_dims = [d_raw if s == "tuple" else src_dims[f"{s}:{n}"] for s, n in self.reads]
        self.me = nn.Linear(d_tuple, hidden)
        self.ops = nn.ModuleList([nn.Linear(d, hidden, bias=False) for d in dims])
        self.out = nn.Linear(hidden, hidden)
        self.v_me = nn.Linear(d_raw, hidden // 2)
        self.v_ops = nn.ModuleList([nn.Linear(d, hidden // 2, bias=False) for d in raw_dims])
        self.v_out = nn.Linear(hidden // 2, vc, bias=False)
        self.register_buffer("lin_cols", torch.tensor(lin_cols, dtype=torch.long), persistent=False)
        self.lin = nn.ModuleList([nn.Linear(len(lin_cols) if s == "tuple" else d, vc, bias=False)
                                  for (s, _), d in zip(self.reads, raw_dims, strict=True)])
        self.lin_bias = nn.Parameter(torch.zeros(vc))

    def forward(self, x: torch.Tensor, raw: torch.Tensor, p: DomainPrepared, cap: int, v: int,
                reduce: str, body: tuple[Context, float, float] | None = None) -> torch.Tensor:
        """[T, hidden + 1 + vc + 2]: reduced hidden, exact and value messages, log(1 + count), empty flag.
        ``body`` = (a context holding the decoded state, unit scale, inf sentinel): the exact channel is
        the body's value in those units; without it, the sum of the reads' value columns."""
        T = x.shape[0]
        full = [self.ops[r](x) if s == "tuple" else self.ops[r](p.sources[(s, n)])
                for r, (s, n) in enumerate(self.reads)]
        vfull = [self.v_ops[r](raw) if s == "tuple" else self.v_ops[r](p.sources[(s, n)])
                 for r, (s, n) in enumerate(self.reads)]
        lfull = [self.lin[r](raw[:, self.lin_cols]) if s == "tuple" else self.lin[r](p.sources[(s, n)])
                 for r, (s, n) in enumerate(self.reads)]
        exact = [] if body is not None else [(raw if s == "tuple" else p.sources[(s, n)])[:, c]
                                             for (s, n), c in zip(self.reads, self.value_col, strict=True)]
        me_h, me_v = self.me(x), self.v_me(raw)
        parts = []
        for msgs, ids in p.chunks(v, cap):
            pre, vpre = me_h.index_select(0, msgs.tgt), me_v.index_select(0, msgs.tgt)
            lin = self.lin_bias.expand(int(msgs.tgt.shape[0]), -1)
            fixed = torch.zeros(int(msgs.tgt.shape[0]))
            for r in range(len(self.reads)):
                pre = pre + full[r].index_select(0, ids[r])
                vpre = vpre + vfull[r].index_select(0, ids[r])
                lin = lin + lfull[r].index_select(0, ids[r])
                if body is None:
                    fixed = fixed + exact[r].index_select(0, ids[r])
            if body is not None:
                fixed = exact_units(p.aggs[v].body(MsgEnv(body[0], msgs, ids), int(msgs.tgt.shape[0])), *body[1:])
            m = torch.cat([self.out(torch.relu(pre)), fixed.unsqueeze(1), lin + self.v_out(torch.relu(vpre))], 1)
            parts.append(_reduce(m, msgs.tgt - msgs.t0, msgs.t1 - msgs.t0, reduce))
        if not parts:
            return torch.zeros(T, self.out.out_features + 1 + self.v_out.out_features + 2)
        return torch.cat(parts) if len(parts) > 1 else parts[0]


def exact_units(value: torch.Tensor, scale: float, inf_value: float) -> torch.Tensor:
    """A body value as a float32 feature: truth values 0/1, finite numbers / ``scale``, ±inf at
    ±``inf_value`` (the state encoding's sentinel, so min/max commute with it), NaN 0."""
    if value.dtype == torch.bool:
        return value.to(torch.float32)
    x = value.to(torch.float64)
    out = torch.where(torch.isfinite(x), x / scale, torch.sign(x) * inf_value)
    return torch.nan_to_num(out, nan=0.0).to(torch.float32)


def decode_state(state_x: torch.Tensor, fields: list[FieldSpec]) -> dict[str, torch.Tensor]:
    """The values the features ``state_x`` encode (``common.encode_value`` inverted: float32 precision)."""
    out, off = {}, 0
    for f in fields:
        col = state_x[:, off:off + f.width].to(torch.float64)
        if f.kind == "bool":
            out[f.name] = col[:, 0] > 0.5
        elif f.kind == "enum":
            out[f.name] = col.argmax(1).to(torch.float64)
        else:
            val = torch.where(col[:, 1] > 0.5, math.inf, torch.where(col[:, 2] > 0.5, -math.inf, col[:, 0] * f.scale))
            out[f.name] = val.round() if f.kind == "int" else val
        off += f.width
    return out


def _reduce(m: torch.Tensor, me: torch.Tensor, k: int, reduce: str) -> torch.Tensor:
    """Per-channel reduction of messages onto ``k`` targets; empty targets 0, plus count features."""
    width = m.shape[1]
    cnt = torch.zeros(k, dtype=m.dtype).index_add(0, me, torch.ones_like(me, dtype=m.dtype))
    zeros = torch.zeros(k, width, dtype=m.dtype)
    if reduce in ("amin", "amax"):
        out = zeros.scatter_reduce(0, me.unsqueeze(1).expand(-1, width), m, reduce, include_self=False)
    else:
        out = zeros.index_add(0, me, m)
        if reduce == "mean":
            out = out / cnt.clamp(min=1).unsqueeze(1)
    return torch.cat([out, torch.log1p(cnt).unsqueeze(1), (cnt == 0).to(m.dtype).unsqueeze(1)], 1)


class SelectHead(NumericHead):
    """``NumericHead`` that, once trained, *takes* its best candidate instead of the softmax blend: the
    decoded value is then one candidate exactly (the exact min-plus channel, an own value...), so
    free-running rounds do not drift by blending; training keeps the differentiable blend. Real fields
    only: an int field is rounded anyway, and its soft blends (``diag + 1`` from a channel and a mix)
    are what it learns."""

    def selection_loss(self, x: torch.Tensor, cand: torch.Tensor, target: torch.Tensor, f: FieldSpec) -> torch.Tensor:
        """Cross-entropy of the selection towards the candidates that hold the target value (finite
        targets with such a candidate): the direct signal the hard selection needs."""
        cands = torch.cat([cand, self.mix(cand)], 1).detach().to(torch.float64) * f.scale
        y = target.to(torch.float64)
        hit = (cands - y[:, None]).abs() <= SELECT_RTOL * y.abs().clamp(min=1.0)[:, None]
        rows = torch.isfinite(y) & hit.any(1)
        if not bool(rows.any()):
            return torch.zeros(())
        logits = self.select(x[rows])
        good = torch.where(hit[rows], logits, torch.full_like(logits, -torch.inf))
        return (torch.logsumexp(logits, 1) - torch.logsumexp(good, 1)).mean()

    def forward(self, x: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(x, cand)
        cands = torch.cat([cand, self.mix(cand)], 1)
        probs = self.select(x).softmax(1)
        # the value with the most probability mass (candidates holding the same value pool theirs)
        same = (cands[:, :, None] - cands[:, None, :]).abs() <= SELECT_RTOL * cands.abs().clamp(min=1.0)[:, :, None]
        mass = (same * probs[:, None, :]).sum(2)
        value = cands.gather(1, mass.argmax(1, keepdim=True))
        return torch.cat([self.cls(x), value], 1)


class DomainAlignedNet(nn.Module):
    """The aligned network on tuples; ``config`` (JSON-able) fully determines its shapes."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        hd = int(config["hidden"])
        vc = int(config.get("value_channels", 8))
        self.decoder, self.state_fields, self.node_fields, self.edge_fields = aligned_fields(config)
        lin = self.decoder == "embedding"
        self.pos_fields = [FieldSpec.from_json(d) for d in config["pos_fields"]]
        self.views: list[dict] = list(config["domain_views"])
        self.id_scale = float(config.get("id_scale", 16.0))
        self.exact_body = bool(config.get("exact_body", False))
        numeric = [f for f in self.state_fields if f.kind in ("int", "real")]
        self.exact_scale = numeric[0].scale if numeric else 1.0  # one scale for every number (train.py)
        self.exact_inf = numeric[0].inf_value if numeric else 0.0
        self.relations: list[str] = []
        self.pointers: dict[str, str] = {}
        d_raw = _width(self.state_fields) + int(config["domain_arity"]) + 1
        d_tuple = hd + d_raw
        src = {f"pos:{f.name}": f.width for f in self.pos_fields}
        src.update({f"node:{f.name}": f.width for f in self.node_fields})
        src.update({f"edge:{f.name}": f.width for f in self.edge_fields})
        lin_cols = linear_columns(self.state_fields) + list(range(_width(self.state_fields), d_raw))
        self.encoder = nn.Sequential(nn.Linear(d_raw, hd), nn.ReLU(), nn.Linear(hd, hd))
        value_col, off = {}, 0
        for f in self.state_fields:
            value_col[f.name] = off
            off += f.width
        self.message = nn.ModuleList([ViewMessage(v["reads"], d_tuple, d_raw, src, lin_cols, hd, vc, value_col)
                                      for v in self.views])
        per = hd + 1 + vc + 2
        d_agg = len(self.views) * per
        self.update = nn.Sequential(nn.Linear(hd + d_agg + d_raw, hd), nn.LayerNorm(hd), nn.ReLU(), nn.Linear(hd, hd))
        cols, off = [], 0
        for f in self.state_fields:
            if f.kind in ("int", "real"):
                cols.append(off)
            off += f.width
        vcols = [i * per + hd + c for i in range(len(self.views)) for c in range(vc + 1)]
        # ``sum_candidates``: every sum of two or more views' exact channels is a candidate too
        # (``pe + xi``, ``best + w + qi``: a transition that adds views selects the sum exactly)
        exact = [i * per + hd for i in range(len(self.views))]
        subsets = ([c for r in range(2, len(exact) + 1) for c in itertools.combinations(exact, r)]
                   if config.get("sum_candidates", False) and len(exact) <= SUM_VIEWS_MAX else [])
        self.sums = [list(c) for c in subsets]
        sum_index = torch.zeros(len(subsets), len(self.views) * per)
        for row, c in enumerate(subsets):
            sum_index[row, list(c)] = 1.0
        self.register_buffer("sum_matrix", sum_index.t().contiguous(), persistent=False)
        self.register_buffer("value_cols", torch.tensor(cols, dtype=torch.long), persistent=False)
        self.register_buffer("agg_value_cols", torch.tensor(vcols, dtype=torch.long), persistent=False)
        d_cand = len(cols) + len(vcols) + len(subsets)
        d_head = hd if lin else hd + d_agg + d_raw
        self.heads = nn.ModuleDict({
            f.name: SelectHead(d_head, hd, d_cand, linear=lin) if f.kind == "real"
            else NumericHead(d_head, hd, d_cand, linear=lin) if f.kind == "int"
            else nn.Linear(d_head, f.head_width) if lin else ResidualMLP(d_head, hd, f.head_width)
            for f in self.state_fields
        })

    def _bound(self, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(h) if self.decoder == "embedding" else h

    def raw(self, p: DomainPrepared, state_x: torch.Tensor) -> torch.Tensor:
        return torch.cat([state_x, p.builtin_x], 1)

    def body_context(self, p: DomainPrepared, state_x: torch.Tensor) -> tuple[Context, float, float] | None:
        """What ``ViewMessage`` needs for the exact body channel (None for checkpoints before it): the
        run's context with the state ``state_x`` encodes, and the channel's units."""
        if not self.exact_body:
            return None
        ctx = copy.copy(p.ctx)
        ctx.state = decode_state(state_x, self.state_fields)
        return ctx, self.exact_scale, self.exact_inf

    def encode(self, p: DomainPrepared, state_x: torch.Tensor) -> torch.Tensor:
        return self._bound(self.encoder(self.raw(p, state_x)))

    def step(self, p: DomainPrepared, state_x: torch.Tensor, z: torch.Tensor | None = None,
             aux: dict | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Encode the state, pass one message per view, update, decode: (embedding, head outputs);
        ``aux`` (training) receives each selecting head's (input, candidates)."""
        raw = self.raw(p, state_x)
        if z is None:
            z = self._bound(self.encoder(raw))
        x = torch.cat([z, raw], 1)
        cap = max(1, MESSAGES_PER_CHUNK)
        body = self.body_context(p, state_x)
        aggs = [msg(x, raw, p, cap, v, self.views[v]["reduce"], body) for v, msg in enumerate(self.message)]
        agg = torch.cat(aggs, 1) if aggs else torch.zeros(raw.shape[0], 0)
        h = self._bound(z + self.update(torch.cat([z, agg, raw], 1)))
        head_in = h if self.decoder == "embedding" else torch.cat([h, agg, raw], 1)
        cand = torch.cat([raw[:, self.value_cols], agg[:, self.agg_value_cols], agg @ self.sum_matrix], 1)
        out = {}
        for f in self.state_fields:
            head = self.heads[f.name]
            out[f.name] = head(head_in, cand) if isinstance(head, NumericHead) else head(head_in)
            if aux is not None and isinstance(head, SelectHead):
                aux[f.name] = (head_in, cand)
        return h, out


def run_domain(teacher, data, max_steps: int | None = None) -> TeacherOutput:
    """Free-running on a batch of instances: each up to its round cap, stopping an instance once its
    decoded state is a fixpoint (``until fixpoint``); finished instances keep state and embedding."""
    net: DomainAlignedNet = teacher.net
    spec = teacher.spec
    p = DomainPrepared(spec, data, net)
    h = net.encode(p, encode_values(p.init, net.state_fields, p.num_nodes))
    state, _, embeddings, states = free_run(spec, p, net.state_fields, h, lambda sx, first: net.step(p, sx, first),
                                           max_steps)
    outputs = outputs_from_state(spec, p, state, set())  # type: ignore[arg-type]
    return TeacherOutput({name: outputs[name] for name in spec.outputs}, embeddings, states)


# --- training: one sample per (instance, round t-1 -> round t); a chunk of them is one lowered batch --


def train_items(spec: SpecIR, instances: list, state_fields: list[FieldSpec], runs: list) -> list[TrainItem]:
    """One item per instance: its recorded trajectory (``prep`` is the instance itself)."""
    return [TrainItem(x, r.trajectory, [encode_values(s, state_fields, int(next(iter(s.values())).shape[0]))
                                        for s in r.trajectory], r.outputs)
            for x, r in zip(instances, runs, strict=True)]


def training_loss(teacher, items: list[TrainItem], chunk: list[tuple[int, int]], cfg,
                  gen: torch.Generator) -> torch.Tensor:
    """State-head losses of round t from the reference state of round t - 1 on one lowered batch of
    the chunk's instances (``t == -1``: the final state onto itself, fixpoint stability)."""
    net: DomainAlignedNet = teacher.net
    its = [items[g] for g, _ in chunk]
    p = DomainPrepared(teacher.spec, [it.prep for it in its], net)
    pairs = list(zip([t for _g, t in chunk], its, strict=True))
    sx = torch.cat([it.traj_x[-1] if t == -1 else it.traj_x[t - 1] for t, it in pairs])
    if cfg.noise > 0:
        sx = _noisy(sx, net, cfg.noise, gen)  # type: ignore[arg-type]
    aux: dict = {}
    _, out = net.step(p, sx, aux=aux)
    nxt = [it.traj[-1] if t == -1 else it.traj[t] for t, it in pairs]
    target = cat_states(nxt, [f.name for f in net.state_fields])
    loss = sum(head_loss(out[f.name], target[f.name], f, cfg.value_weight) for f in net.state_fields)
    for f in net.state_fields:
        if f.name in aux:
            loss = loss + net.heads[f.name].selection_loss(*aux[f.name], target[f.name], f)
    return loss  # type: ignore[return-value]


def reference_runs(spec: SpecIR, instances: list) -> list:
    """The reference executor on each training instance, with its trajectory."""
    return [run_reference(spec, x, record=True) for x in instances]


def sources_of(spec: SpecIR, instances: list) -> dict[str, list[torch.Tensor]]:
    """Per-position (or node / edge, pairs) input values of the training instances, for field scales."""
    out: dict[str, list[torch.Tensor]] = {}
    for x in instances:
        ctx = make_context(spec, x)
        if ctx.domain.seqs is not None:
            for k, v in ctx.domain.seqs.inputs.items():
                out.setdefault(k, []).append(v)
    return out


class DomainAlignedTeacher(AlignedTeacher):
    """An ``AlignedTeacher`` whose net runs on the tuples of an index domain (same contract: per-step
    embeddings and decoded states per tuple, outputs per tuple)."""

    net_class = DomainAlignedNet

    @torch.no_grad()
    def run(self, graph, max_steps: int | None = None) -> TeacherOutput:  # type: ignore[override]
        return run_domain(self, graph, max_steps if max_steps is not None else self.max_steps)


# --- the architecture table's "aligned" entry: one name, the net and loss chosen by the domain --------


def make_net(config: dict) -> nn.Module:
    """``AlignedNet`` on nodes, ``DomainAlignedNet`` on an index domain (its config has the views)."""
    return DomainAlignedNet(config) if "domain_views" in config else AlignedNet(config)


def make_teacher(spec: SpecIR, config: dict, net: nn.Module | None = None) -> AlignedTeacher:
    if spec.domain.indexed:
        return DomainAlignedTeacher(spec, config, net)  # type: ignore[arg-type]
    return AlignedTeacher(spec, config, net)  # type: ignore[arg-type]


def loss(teacher, items: list[TrainItem], chunk: list[tuple[int, int]], cfg, gen: torch.Generator) -> torch.Tensor:
    if isinstance(teacher, DomainAlignedTeacher):
        return training_loss(teacher, items, chunk, cfg, gen)
    return aligned_training_loss(teacher, items, chunk, cfg, gen)
