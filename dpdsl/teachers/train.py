"""Training and evaluation of zoo teachers against the reference executor.

Training data are seeded samples from the spec's ``sample`` section run through the reference
executor with ``record=True``. The aligned teacher is trained teacher-forced on every
(round t-1 -> round t) pair of the trajectories (plus the final outputs for its pointer heads); the
transformer only ever sees final outputs. Validation after every epoch is *free-running*.

Determinism: everything random comes from one ``SeedSequence(seed)`` with named streams
(``TeacherConfig.STREAMS``: training graphs, validation graphs, initial weights, shuffling, noise), so
the streams are independent and no stream is an offset of another; CPU kernels used here are
deterministic for a fixed thread count, and ``train_teacher(..., threads=1)`` (the default) pins it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace

import torch

from dpdsl.domains.units import batch_any, instance_size, unit_graph
from dpdsl.errors import UserError
from dpdsl.execute import run_reference
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs
from dpdsl.teachers import aligned_domain
from dpdsl.teachers.archs import ARCHS
from dpdsl.teachers.common import (
    FieldSpec,
    TrainItem,
    encode_values,
    field_kind,
    make_field,
    pointer_outputs,
    prepare,
    spec_relations,
)
from dpdsl.teachers.config import TeacherConfig
from dpdsl.teachers.contract import Teacher
from dpdsl.tolerances import TEACHER_EVAL_DOC, teacher_correct
from dpdsl.types import REAL

INF_VALUE = 4.0  # ±inf features sit at ±4x the largest finite training value (see ``make_field``)


def _make_items(spec: SpecIR, graphs: list[Graph], node_fields: list[FieldSpec], edge_fields: list[FieldSpec],
                state_fields: list[FieldSpec], relations: list[str], runs: list) -> list[TrainItem]:
    if spec.domain.indexed:  # instances are lowered per training batch (``aligned_domain.training_loss``)
        return aligned_domain.train_items(spec, graphs, state_fields, runs)
    items = []
    for g, r in zip(graphs, runs, strict=True):
        p = prepare(spec, g, node_fields, edge_fields, relations)
        items.append(TrainItem(p, r.trajectory, [encode_values(s, state_fields, p.num_nodes) for s in r.trajectory],
                               r.outputs))
    return items


def _build_config(spec: SpecIR, cfg: TeacherConfig, graphs: list[Graph], runs: list) -> dict:
    """Field encodings (with data-derived scales), relations, sizes and the resolved ``TeacherConfig``:
    all a net needs to be rebuilt, and every training parameter (the checkpoint's provenance)."""
    iv = INF_VALUE
    states = [make_field(name, st.type, [s[name] for r in runs for s in r.trajectory], iv)
              for name, st in spec.states.items()]
    node = [make_field(name, i.type, [g.node[name] for g in graphs], iv) for name, i in spec.node_inputs.items()]
    edge = [make_field(name, i.type, [g.edge[name] for g in graphs], iv) for name, i in spec.edge_inputs.items()]
    pos = [make_field(name, i.type, [g.inputs[name] for g in graphs], iv) for name, i in spec.domain.inputs.items()]
    outs = [make_field(name, o.type, [r.outputs[name] for r in runs]) for name, o in spec.outputs.items()]
    if cfg.linear_channels or (spec.domain.indexed and any(st.type.kind == REAL for st in spec.states.values())):
        # one scale for every number: affine DP steps (dist[u] + w) stay unit coefficients, and the domain
        # teacher's exact channel (the sum of a message's read values) is in the states' units (real
        # states only: LCS's int teacher plateaued at 98.5 % with one scale, 100 % without)
        big = max([f.scale for f in states + node + edge + pos if f.kind in ("int", "real")], default=1.0)
        states, node, edge, pos = ([replace(f, scale=big) if f.kind in ("int", "real") else f for f in fs]
                                   for fs in (states, node, edge, pos))
    domain = {} if not spec.domain.indexed else {
        "pos_fields": [f.to_json() for f in pos], "domain_views": aligned_domain.view_plans(spec),
        "domain_arity": len(spec.domain.vars), "exact_body": True}
    return {
        **cfg.to_json(),
        "state_fields": [f.to_json() for f in states],
        "node_fields": [f.to_json() for f in node],
        "edge_fields": [f.to_json() for f in edge],
        "output_fields": [f.to_json() for f in outs],
        "relations": [] if domain else spec_relations(spec),
        "pointers": {} if domain else pointer_outputs(spec),
        "value_channels": 8,
        "id_scale": float(max(instance_size(g) for g in graphs)),
        **domain,
    }


def _progress(enabled: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("{task.fields[info]}"), disable=not enabled)


def train_teacher(spec: SpecIR, cfg: TeacherConfig | None = None, *, threads: int | None = 1,
                  progress: bool = True, log: Callable[[str], None] | None = None) -> tuple[Teacher, dict]:
    """Train a zoo teacher on seeded samples of the spec's distribution; returns (teacher, metrics).

    ``cfg`` (default ``TeacherConfig()``) is resolved against the spec first (architecture defaults;
    the aligned decoder and value weight follow the state types) and recorded whole in the teacher's
    config. ``threads`` pins torch's thread count (deterministic kernels). ``metrics`` holds per-epoch
    loss and free-running validation accuracy, the training time and the parameter count.
    """
    cfg = (cfg or TeacherConfig()).resolved(spec)
    if threads is not None:
        old_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        return _train(spec, cfg, progress, log)
    finally:
        if threads is not None:
            torch.set_num_threads(old_threads)


def _units(items: list[TrainItem], per_round: bool) -> list[tuple[int, int]]:
    """Training samples: (graph, round t) pairs plus (graph, -1) for the final state, or whole graphs."""
    if not per_round:
        return [(gi, 0) for gi in range(len(items))]
    return [u for gi, it in enumerate(items) for u in [*((gi, t) for t in range(1, len(it.traj))), (gi, -1)]]


def _train(spec: SpecIR, cfg: TeacherConfig, progress: bool, log: Callable[[str], None] | None) -> tuple[Teacher, dict]:
    t0 = time.perf_counter()
    arch = ARCHS[cfg.arch]
    if spec.domain.indexed and cfg.arch != "aligned":
        raise UserError(f"--arch {cfg.arch} runs on nodes specs only; '{spec.name}' lives on "
                        f"{spec.domain.kind} (train --arch aligned)")
    graphs = sample_graphs(spec, cfg.samples, cfg.stream("train_graphs"), nodes=cfg.nodes)
    val_graphs = sample_graphs(spec, cfg.val_samples, cfg.stream("val_graphs"), nodes=cfg.nodes)
    runs = [run_reference(spec, g, record=True) for g in graphs]
    config = _build_config(spec, cfg, graphs, runs)
    teacher = _new_teacher(spec, config, cfg.stream("weights"))
    net = teacher.net
    fields = [FieldSpec.from_json(d) for d in config["state_fields"]]
    items = _make_items(spec, graphs, net.node_fields, net.edge_fields, fields, config["relations"], runs)
    val_refs = [run_reference(spec, g) for g in val_graphs]
    units = _units(items, arch.per_round)
    order_gen = torch.Generator().manual_seed(cfg.stream("order"))
    noise_gen = torch.Generator().manual_seed(cfg.stream("noise"))
    steps_per_epoch = max(1, math.ceil(len(units) / cfg.batch_size))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    sched = _schedule(opt, cfg.lr, cfg.epochs * steps_per_epoch)
    history: list[dict] = []
    with _progress(progress) as bar:
        task = bar.add_task(f"{spec.name}/{cfg.arch}", total=cfg.epochs, info="")
        for epoch in range(cfg.epochs):
            net.train()
            order = torch.randperm(len(units), generator=order_gen).tolist()
            tot, cnt = 0.0, 0
            for s in range(0, len(order), cfg.batch_size):
                loss = arch.loss(teacher, items, [units[i] for i in order[s:s + cfg.batch_size]], cfg, noise_gen)
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
                log(f"{spec.name}/{cfg.arch} epoch {epoch + 1}/{cfg.epochs}: {info}")
    net.eval()
    metrics = {
        "arch": cfg.arch,
        "seed": cfg.seed,
        "config": cfg.to_json(),
        "train_seconds": round(time.perf_counter() - t0, 2),
        "parameters": sum(p.numel() for p in net.parameters()),
        "history": history,
        "val_node_acc": history[-1]["val_node_acc"] if history else None,
        "val_graph_acc": history[-1]["val_graph_acc"] if history else None,
        "tolerance": TEACHER_EVAL_DOC,
    }
    return teacher, metrics


def _new_teacher(spec: SpecIR, config: dict, weight_seed: int) -> Teacher:
    torch.manual_seed(weight_seed)
    arch = ARCHS[config["arch"]]
    return arch.teacher(spec, config, arch.net(config))


def init_teacher(spec: SpecIR, cfg: TeacherConfig | None = None, *, samples: int = 32) -> Teacher:
    """An untrained zoo teacher (feature scales from ``samples`` seeded graphs): for tests and tools."""
    cfg = (cfg or TeacherConfig()).resolved(spec)
    graphs = sample_graphs(spec, samples, cfg.stream("train_graphs"), nodes=cfg.nodes)
    runs = [run_reference(spec, g, record=True) for g in graphs]
    return _new_teacher(spec, _build_config(spec, cfg, graphs, runs), cfg.stream("weights"))


def _accuracy(teacher: Teacher, spec: SpecIR, graphs: list[Graph], refs: list | None = None,
              batch_size: int = 32) -> dict:
    """Per-node exact match per output (tolerance ``TEACHER_EVAL_DOC``) and whole-graph exact match."""
    per_out = {name: [0, 0] for name in spec.outputs}
    per_state = {name: [0, 0] for name in spec.states}
    graph_ok = 0
    for s in range(0, len(graphs), batch_size):
        chunk = graphs[s:s + batch_size]
        bg = batch_any(chunk)
        ug = unit_graph(spec, bg)  # nodes, or the tuples of an index domain
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
        ok_node = torch.ones(ug.num_nodes, dtype=torch.bool)
        for name, o in spec.outputs.items():
            ok = teacher_correct(got[name], want[name], field_kind(o.type))
            per_out[name][0] += int(ok.sum())
            per_out[name][1] += ok.numel()
            ok_node &= ok
        bad = torch.zeros(ug.num_graphs, dtype=torch.long).index_add(0, ug.node_batch(), (~ok_node).long())
        graph_ok += int((bad == 0).sum())
    accs = {k: c / max(t, 1) for k, (c, t) in per_out.items()}
    out = {"per_output": accs, "node_acc": sum(accs.values()) / max(len(accs), 1),
           "graph_acc": graph_ok / max(len(graphs), 1)}
    if any(t for _, t in per_state.values()):
        out["state_acc"] = {k: c / max(t, 1) for k, (c, t) in per_state.items()}
    return out


def evaluate_teacher(teacher: Teacher, spec: SpecIR, *, nodes: tuple[int, int] | None = None,
                     graphs: int = 200, seed: int = 12345, batch_size: int = 16,
                     family: str | None = None, instances: list[Graph] | None = None) -> dict:
    """Accuracy against the reference executor on fresh seeded samples (or on given ``instances``).

    Returns ``per_output`` (per-node exact match of each output), ``node_acc`` (their mean),
    ``graph_acc`` (fraction of graphs with every output of every node right), for teachers with
    decoded states ``state_acc`` (per field, teacher step k vs DP round k over all rounds), and the
    settings used.
    """
    gs = instances if instances is not None else sample_graphs(spec, graphs, seed, nodes=nodes, family=family)
    t0 = time.perf_counter()
    res = _accuracy(teacher, spec, gs, None, batch_size)
    lo, hi = nodes or (spec.sample.nodes if spec.sample else (0, 0))
    res.update(nodes=[lo, hi], graphs=len(gs), seed=None if instances is not None else seed,
               tolerance=TEACHER_EVAL_DOC, seconds=round(time.perf_counter() - t0, 2))
    return res


def _schedule(opt: torch.optim.Optimizer, lr: float, total: int) -> torch.optim.lr_scheduler.LRScheduler:
    """One-cycle (10 % warm-up, cosine) with at least one warm-up step; a constant rate for runs under 4
    steps, where one-cycle has no room for its phases (it divided by zero on 2 epochs x 1 batch)."""
    if total < 4:
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=max(0.1, 2.0 / total),
                                               anneal_strategy="cos")
