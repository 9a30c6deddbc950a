"""Training and evaluation of zoo teachers against the reference executor.

Training data are seeded samples from the spec's ``sample`` section run through the reference
executor with ``record=True``. The aligned teacher is trained teacher-forced on every
(round t-1 -> round t) pair of the trajectories (plus the final outputs for its pointer heads); the
transformer only ever sees final outputs. Validation after every epoch is *free-running*.

Determinism: everything random is drawn from generators seeded by ``seed`` (graphs via numpy, weights
via ``torch.manual_seed``, shuffling and noise via a ``torch.Generator``); CPU kernels used here are
deterministic for a fixed thread count, and ``train_teacher(..., threads=1)`` (the default) pins it.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from dpdsl.execute import run_reference
from dpdsl.graphs.core import Graph, batch_graphs
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs
from dpdsl.teachers.aligned import AlignedNet, AlignedTeacher
from dpdsl.teachers.common import (
    FieldSpec,
    Prepared,
    encode_values,
    field_kind,
    head_loss,
    make_field,
    pointer_outputs,
    prepare,
    spec_relations,
)
from dpdsl.teachers.contract import Teacher
from dpdsl.teachers.transformer import TransformerNet, TransformerTeacher
from dpdsl.tolerances import TEACHER_EVAL_DOC, teacher_correct

ARCHS = ("aligned", "transformer")
INF_VALUE = 4.0  # ±inf features sit at ±4x the largest finite training value (see ``make_field``)


@dataclass
class _Item:
    """One training graph: prepared tensors, trajectory state features and targets."""

    prep: Prepared
    traj: list[dict[str, torch.Tensor]]
    traj_x: list[torch.Tensor]
    outputs: dict[str, torch.Tensor]


@dataclass
class _Batch:
    node_x: torch.Tensor
    edge_x: torch.Tensor
    rel: dict[str, tuple[torch.Tensor, torch.Tensor]]
    batch: torch.Tensor
    num_graphs: int
    offsets: torch.Tensor


def _collate(items: Sequence[_Item], relations: list[str]) -> _Batch:
    """Disjoint union of prepared graphs (relations re-indexed by node offsets)."""
    sizes = torch.tensor([it.prep.num_nodes for it in items])
    offsets = torch.cumsum(sizes, 0) - sizes
    rel = {}
    for r in relations:
        rel[r] = (torch.cat([it.prep.rel[r][0] + o for it, o in zip(items, offsets.tolist(), strict=True)]),
                  torch.cat([it.prep.rel[r][1] + o for it, o in zip(items, offsets.tolist(), strict=True)]))
    return _Batch(torch.cat([it.prep.node_x for it in items]), torch.cat([it.prep.edge_x for it in items]),
                  rel, torch.repeat_interleave(torch.arange(len(items)), sizes), len(items), offsets)


def _cat_states(states: Sequence[dict[str, torch.Tensor]], names: list[str]) -> dict[str, torch.Tensor]:
    return {k: torch.cat([s[k] for s in states]) for k in names}


def _make_items(spec: SpecIR, graphs: list[Graph], node_fields: list[FieldSpec], edge_fields: list[FieldSpec],
                state_fields: list[FieldSpec], relations: list[str],
                runs: list | None = None) -> list[_Item]:
    items = []
    for i, g in enumerate(graphs):
        r = runs[i] if runs is not None else run_reference(spec, g, record=True)
        p = prepare(spec, g, node_fields, edge_fields, relations)
        traj = r.trajectory
        items.append(_Item(p, traj, [encode_values(s, state_fields, p.num_nodes) for s in traj], r.outputs))
    return items


def _build_config(spec: SpecIR, arch: str, hidden: int, graphs: list[Graph], runs: list,
                  extra: dict, shared_scale: bool = False) -> dict:
    """Field encodings (with data-derived scales), relations and sizes: all a net needs to be rebuilt."""
    iv = INF_VALUE
    states = [make_field(name, st.type, [s[name] for r in runs for s in r.trajectory], iv)
              for name, st in spec.states.items()]
    node = [make_field(name, i.type, [g.node[name] for g in graphs], iv) for name, i in spec.node_inputs.items()]
    edge = [make_field(name, i.type, [g.edge[name] for g in graphs], iv) for name, i in spec.edge_inputs.items()]
    outs = [make_field(name, o.type, [r.outputs[name] for r in runs]) for name, o in spec.outputs.items()]
    if shared_scale:  # one scale for every number: affine DP steps (dist[u] + w) stay unit coefficients
        big = max([f.scale for f in states + node + edge if f.kind in ("int", "real")], default=1.0)
        states, node, edge = ([replace(f, scale=big) if f.kind in ("int", "real") else f for f in fs]
                              for fs in (states, node, edge))
    return {
        "arch": arch,
        "hidden": hidden,
        "state_fields": [f.to_json() for f in states],
        "node_fields": [f.to_json() for f in node],
        "edge_fields": [f.to_json() for f in edge],
        "output_fields": [f.to_json() for f in outs],
        "relations": spec_relations(spec),
        "pointers": pointer_outputs(spec),
        "value_channels": 8,
        "id_scale": float(max(g.num_nodes for g in graphs)),
        **extra,
    }


def _pointer_loss(net: AlignedNet, name: str, h: torch.Tensor, b: _Batch, target_local: torch.Tensor,
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


def _seed_all(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[info]}"), disable=not enabled)


def train_teacher(
    spec: SpecIR,
    *,
    arch: str = "aligned",
    hidden: int = 128,
    epochs: int = 30,
    seed: int = 0,
    samples: int = 1000,
    val_samples: int = 100,
    batch_size: int = 32,
    lr: float = 1e-3,
    nodes: tuple[int, int] | None = None,
    layers: int = 6,
    heads: int = 4,
    noise: float = 2e-3,
    linear_channels: int = 0,
    decoder: str = "wide",
    value_weight: float = 1.0,
    threads: int | None = 1,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> tuple[Teacher, dict]:
    """Train a zoo teacher on seeded samples of the spec's distribution; returns (teacher, metrics).

    ``samples`` graphs (sizes ``nodes`` or the spec's), Adam with cosine decay and gradient clipping.
    ``linear_channels`` (aligned only) adds purely affine value messages; ``decoder`` ("wide" or
    "embedding", see ``dpdsl.teachers.aligned``) and ``value_weight`` (scales the numeric value loss;
    the real-valued zoo teachers use 100) are aligned-only too. ``noise`` (aligned only)
    perturbs teacher-forced real-valued state features so the free-running
    loop tolerates its own small errors. ``layers``/``heads`` are the transformer's. ``metrics`` holds
    per-epoch loss and free-running validation accuracy, the training time and the parameter count.
    """
    if arch not in ARCHS:
        raise ValueError(f"unknown teacher architecture '{arch}' (known: {', '.join(ARCHS)})")
    if threads is not None:
        old_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        return _train(spec, arch, hidden, epochs, seed, samples, val_samples, batch_size, lr, nodes, layers,
                      heads, noise, linear_channels, decoder, value_weight, progress, log)
    finally:
        if threads is not None:
            torch.set_num_threads(old_threads)


def _train(spec: SpecIR, arch: str, hidden: int, epochs: int, seed: int, samples: int, val_samples: int,
           batch_size: int, lr: float, nodes: tuple[int, int] | None, layers: int, heads: int, noise: float,
           linear_channels: int, decoder: str, value_weight: float, progress: bool,
           log: Callable[[str], None] | None) -> tuple[Teacher, dict]:
    t0 = time.perf_counter()
    gen = _seed_all(seed)
    graphs = sample_graphs(spec, samples, seed, nodes=nodes)
    val_graphs = sample_graphs(spec, val_samples, seed + 7919, nodes=nodes)
    runs = [run_reference(spec, g, record=True) for g in graphs]
    extra: dict = {"seed": seed, "samples": samples, "epochs": epochs, "lr": lr, "batch_size": batch_size,
                   "nodes": list(nodes or (spec.sample.nodes if spec.sample else (0, 0)))}
    if arch == "transformer":
        extra.update(layers=layers, heads=heads)
    else:
        extra.update(noise=noise, linear_channels=linear_channels, decoder=decoder, value_weight=value_weight)
    config = _build_config(spec, arch, hidden, graphs, runs, extra, shared_scale=linear_channels > 0)
    teacher = _new_teacher(spec, config, seed)
    net = teacher.net
    fields = [FieldSpec.from_json(d) for d in config["state_fields"]]
    items = _make_items(spec, graphs, teacher.net.node_fields, teacher.net.edge_fields, fields,
                        config["relations"], runs)
    val_refs = [run_reference(spec, g) for g in val_graphs]
    # training units: aligned -> (graph, round t) pairs; transformer -> graphs
    units: list[tuple[int, int]] = []
    for gi, it in enumerate(items):
        if arch == "aligned":
            units += [(gi, t) for t in range(1, len(it.traj))]
            units.append((gi, -1))  # final state -> final state: pointer heads (and fixpoint stability)
        else:
            units.append((gi, 0))
    steps_per_epoch = max(1, math.ceil(len(units) / batch_size))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch,
                                                pct_start=0.1, anneal_strategy="cos")
    history: list[dict] = []
    with _progress(progress) as bar:
        task = bar.add_task(f"{spec.name}/{arch}", total=epochs, info="")
        for epoch in range(epochs):
            net.train()
            order = torch.randperm(len(units), generator=gen).tolist()
            tot, cnt = 0.0, 0
            for s in range(0, len(order), batch_size):
                chunk = [units[i] for i in order[s:s + batch_size]]
                if arch == "aligned":
                    loss = _aligned_loss(teacher, items, chunk, noise, gen, value_weight)  # type: ignore[arg-type]
                else:
                    loss = _transformer_loss(teacher, items, chunk)  # type: ignore[arg-type]
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                opt.step()
                sched.step()
                tot += float(loss.detach())
                cnt += 1
            net.eval()
            acc = _accuracy(teacher, spec, val_graphs, val_refs)
            rec = {"epoch": epoch + 1, "loss": tot / max(cnt, 1), "val_node_acc": acc["node_acc"],
                   "val_graph_acc": acc["graph_acc"], "time": time.perf_counter() - t0}
            history.append(rec)
            info = f"loss {rec['loss']:.4f}  val node {acc['node_acc']:.4f}  graph {acc['graph_acc']:.3f}"
            bar.update(task, advance=1, info=info)
            if log is not None:
                log(f"{spec.name}/{arch} epoch {epoch + 1}/{epochs}: {info}")
    net.eval()
    metrics = {
        "arch": arch,
        "seed": seed,
        "train_seconds": round(time.perf_counter() - t0, 2),
        "parameters": sum(p.numel() for p in net.parameters()),
        "history": history,
        "val_node_acc": history[-1]["val_node_acc"] if history else None,
        "val_graph_acc": history[-1]["val_graph_acc"] if history else None,
        "tolerance": TEACHER_EVAL_DOC,
    }
    return teacher, metrics


def _new_teacher(spec: SpecIR, config: dict, seed: int) -> AlignedTeacher | TransformerTeacher:
    torch.manual_seed(seed)
    if config["arch"] == "aligned":
        return AlignedTeacher(spec, config, AlignedNet(config))
    return TransformerTeacher(spec, config, TransformerNet(config))


def init_teacher(spec: SpecIR, *, arch: str = "aligned", hidden: int = 128, seed: int = 0, samples: int = 32,
                 layers: int = 6, heads: int = 4, decoder: str = "wide") -> AlignedTeacher | TransformerTeacher:
    """An untrained zoo teacher (feature scales from ``samples`` seeded graphs): for tests and tools."""
    if arch not in ARCHS:
        raise ValueError(f"unknown teacher architecture '{arch}' (known: {', '.join(ARCHS)})")
    graphs = sample_graphs(spec, samples, seed)
    runs = [run_reference(spec, g, record=True) for g in graphs]
    extra: dict = {"seed": seed}
    if arch == "transformer":
        extra.update(layers=layers, heads=heads)
    else:
        extra.update(decoder=decoder)
    return _new_teacher(spec, _build_config(spec, arch, hidden, graphs, runs, extra), seed)


def _aligned_loss(teacher: AlignedTeacher, items: list[_Item], chunk: list[tuple[int, int]], noise: float,
                  gen: torch.Generator, value_weight: float) -> torch.Tensor:
    net = teacher.net
    its = [items[g] for g, _ in chunk]
    b = _collate(its, net.relations)
    prev_x, nxt, fixed = [], [], []
    for (_g, t), it in zip(chunk, its, strict=True):
        if t == -1:
            prev_x.append(it.traj_x[-1])
            nxt.append(it.traj[-1])
            fixed.append(True)
        else:
            prev_x.append(it.traj_x[t - 1])
            nxt.append(it.traj[t])
            fixed.append(False)
    sx = torch.cat(prev_x)
    if noise > 0:
        col = 0
        for f in net.state_fields:
            if f.kind == "real":  # value/scale column of a real field; ints are rounded when decoded
                fin = sx[:, col + 1] + sx[:, col + 2] == 0
                eps = torch.randn(sx.shape[0], generator=gen) * noise
                sx[:, col] = sx[:, col] + torch.where(fin, eps, torch.zeros_like(eps))
            col += f.width
    h, out = net.step(b.node_x, sx, b.rel, b.edge_x)
    target = _cat_states(nxt, [f.name for f in net.state_fields])
    loss = sum(head_loss(out[f.name], target[f.name], f, value_weight) for f in net.state_fields)
    if net.pointers:
        mask = torch.repeat_interleave(torch.tensor(fixed), torch.tensor([it.prep.num_nodes for it in its]))
        outs = _cat_states([it.outputs for it in its], list(net.pointers))
        for name in net.pointers:
            loss = loss + _pointer_loss(net, name, h, b, outs[name], mask)
    return loss  # type: ignore[return-value]


def _transformer_loss(teacher: TransformerTeacher, items: list[_Item], chunk: list[tuple[int, int]]) -> torch.Tensor:
    net = teacher.net
    its = [items[g] for g, _ in chunk]
    b = _collate(its, net.relations)
    sx = torch.cat([it.traj_x[0] for it in its])
    hs = net.forward_layers(b.node_x, sx, b.edge_x, b.rel, b.batch, b.num_graphs)
    outs = _cat_states([it.outputs for it in its], [f.name for f in net.output_fields])
    loss = torch.zeros(())
    for f in net.output_fields:
        if f.name in net.pointers:
            loss = loss + net.pointer_loss(f.name, hs[-1], b.batch, b.offsets, outs[f.name])
        else:
            loss = loss + head_loss(net.output_head(f.name, hs[-1]), outs[f.name], f)
    return loss


def _accuracy(teacher: Teacher, spec: SpecIR, graphs: list[Graph], refs: list | None = None,
              batch_size: int = 32) -> dict:
    """Per-node exact match per output (tolerance ``TEACHER_EVAL_DOC``) and whole-graph exact match."""
    per_out = {name: [0, 0] for name in spec.outputs}
    per_state = {name: [0, 0] for name in spec.states}
    graph_ok = 0
    for s in range(0, len(graphs), batch_size):
        chunk = graphs[s:s + batch_size]
        bg = batch_graphs(chunk)
        traj = None
        if refs is not None:
            want = {k: torch.cat([r.outputs[k] for r in refs[s:s + batch_size]]) for k in spec.outputs}
        else:
            ref = run_reference(spec, bg, record=True)
            want, traj = ref.outputs, ref.trajectory
        res = teacher.run(bg)
        got = res.outputs
        if traj is not None and res.states is not None:
            steps = max(len(traj), len(res.states))
            for k in range(steps):  # finished runs keep their last state
                st, rt = res.states[min(k, len(res.states) - 1)], traj[min(k, len(traj) - 1)]
                for name, stir in spec.states.items():
                    ok = teacher_correct(st[name], rt[name], field_kind(stir.type))
                    per_state[name][0] += int(ok.sum())
                    per_state[name][1] += ok.numel()
        ok_node = torch.ones(bg.num_nodes, dtype=torch.bool)
        for name, o in spec.outputs.items():
            ok = teacher_correct(got[name], want[name], field_kind(o.type))
            per_out[name][0] += int(ok.sum())
            per_out[name][1] += ok.numel()
            ok_node &= ok
        bad = torch.zeros(bg.num_graphs, dtype=torch.long).index_add(0, bg.node_batch(), (~ok_node).long())
        graph_ok += int((bad == 0).sum())
    accs = {k: c / max(t, 1) for k, (c, t) in per_out.items()}
    out = {"per_output": accs, "node_acc": sum(accs.values()) / max(len(accs), 1),
           "graph_acc": graph_ok / max(len(graphs), 1)}
    if any(t for _, t in per_state.values()):
        out["state_acc"] = {k: c / max(t, 1) for k, (c, t) in per_state.items()}
    return out


def evaluate_teacher(teacher: Teacher, spec: SpecIR, *, nodes: tuple[int, int] | None = None,
                     graphs: int = 200, seed: int = 12345, batch_size: int = 16,
                     family: str | None = None) -> dict:
    """Accuracy against the reference executor on fresh seeded samples.

    Returns ``per_output`` (per-node exact match of each output), ``node_acc`` (their mean),
    ``graph_acc`` (fraction of graphs with every output of every node right), for teachers with
    decoded states ``state_acc`` (per field, teacher step k vs DP round k over all rounds), and the
    settings used.
    """
    gs = sample_graphs(spec, graphs, seed, nodes=nodes, family=family)
    t0 = time.perf_counter()
    res = _accuracy(teacher, spec, gs, None, batch_size)
    lo, hi = nodes or (spec.sample.nodes if spec.sample else (0, 0))
    res.update(nodes=[lo, hi], graphs=graphs, seed=seed, tolerance=TEACHER_EVAL_DOC,
               seconds=round(time.perf_counter() - t0, 2))
    return res
