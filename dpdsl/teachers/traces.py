"""Recorded traces: a teacher from any framework, as a file (docs/teachers.md, "Recorded traces").

A trace file is safetensors with the dpdsl JSON header (``format: "dpdsl-traces"``). For each *split*
(``distill``: the graphs the transition dataset is built from; ``held_out``: the graphs fidelity is
measured on) it holds the instances themselves and what the teacher did on them, all graphs of a split
concatenated as one batch (N nodes, E edges, G graphs):

==============================  ================  =============================================
tensor                          dtype, shape      meaning
==============================  ================  =============================================
``<split>.num_nodes``           int64 [G]         nodes of each instance
``<split>.num_edges``           int64 [G]         edges of each instance
``<split>.edge_index``          int64 [2, E]      (source, target), ids local to each instance
``<split>.node.<input>``        [N]               every node input of the spec (bool or float64)
``<split>.edge.<input>``        [E]               every edge input of the spec
``<split>.embeddings``          float32 [S, N, m] step k = 0..S-1 node embeddings
``<split>.steps``               int64 [G]         last step of each instance; later rows repeat it
``<split>.outputs.<output>``    [N]               optional: final outputs (bool / float64)
``<split>.states.<field>``      [S, N]            optional: per-step decoded states (step 0 = init)
==============================  ================  =============================================

Outputs left out are computed from the final decoded states with the spec's output expressions
(``dpdsl.teachers.outputs``); a file needs one or the other. The header names the spec (name, sha256,
optionally its text), the producing model (``arch``, free-form ``producer``) and the width ``m``.
``TraceTeacher`` presents a file as a ``Teacher`` that runs on its own instances only, and exposes them
(``instances``) so ``dpdsl compile`` distils from exactly those graphs.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from dpdsl.errors import CheckpointError, GraphError, UserError
from dpdsl.fsutil import library_versions, write_bytes_atomic
from dpdsl.graphs.core import Graph, batch_graphs
from dpdsl.graphs.validate import validate_graph
from dpdsl.ir import SpecIR
from dpdsl.teachers.checkpoint import META_KEY, non_finite_weight, read_container
from dpdsl.teachers.contract import Instances, Teacher, TeacherOutput
from dpdsl.teachers.outputs import complete_outputs
from dpdsl.types import BOOL

FORMAT = "dpdsl-traces"
FORMAT_VERSION = 1
SPLITS = ("distill", "held_out")
_NAME = re.compile(r"^(distill|held_out)\.(num_nodes|num_edges|edge_index|embeddings|steps|"
                   r"(node|edge|outputs|states)\.(.+))$")


@dataclass
class SplitTrace:
    """One split in batch form: the instances and the teacher's tensors over their disjoint union."""

    graphs: list[Graph]
    embeddings: torch.Tensor  # float32 [S, N, m]
    steps: torch.Tensor  # int64 [G]
    outputs: dict[str, torch.Tensor] | None = None  # [N] each
    states: dict[str, torch.Tensor] | None = None  # [S, N] each


# --- writing -----------------------------------------------------------------------------------------


def split_from_output(graphs: list[Graph], out: TeacherOutput) -> SplitTrace:
    """A split from one teacher run on ``batch_graphs(graphs)``: the tensors exactly as the teacher
    returned them (so distilling from the file equals distilling from the live teacher)."""
    emb = torch.stack(out.embeddings)
    batch = batch_graphs(graphs).node_batch()
    states = None if out.states is None else {k: torch.stack([s[k] for s in out.states]) for k in out.states[0]}
    return SplitTrace(graphs, emb, _last_steps(emb, states, batch, len(graphs)), dict(out.outputs), states)


def _last_steps(emb: torch.Tensor, states: dict[str, torch.Tensor] | None, batch: torch.Tensor,
                num_graphs: int) -> torch.Tensor:
    """Per graph, the last step at which its embedding or decoded state changed (0 if never)."""
    moved = (emb[1:] != emb[:-1]).any(2)  # [S-1, N]
    for v in (states or {}).values():
        moved |= (v[1:] != v[:-1]) & ~(v[1:].isnan() & v[:-1].isnan()) if v.is_floating_point() else v[1:] != v[:-1]
    step = torch.arange(1, emb.shape[0]).unsqueeze(1).expand_as(moved)
    last_node = torch.where(moved, step, torch.zeros_like(step)).amax(0) if moved.numel() else \
        torch.zeros(emb.shape[1], dtype=torch.long)
    return torch.zeros(num_graphs, dtype=torch.long).scatter_reduce(0, batch, last_node, "amax")


def split_from_instances(graphs: list[Graph], embeddings: Sequence[Any],
                         outputs: Sequence[Mapping[str, Any]] | None = None,
                         states: Sequence[Mapping[str, Any]] | None = None) -> SplitTrace:
    """A split from per-instance arrays (numpy, JAX or torch): ``embeddings[i]`` is ``[K_i + 1, n_i, m]``,
    ``outputs[i]`` maps output names to ``[n_i]``, ``states[i]`` maps state fields to ``[K_i + 1, n_i]``.
    Instances are padded to the longest by repeating their last step."""
    embs = [torch.as_tensor(np.asarray(e), dtype=torch.float32) for e in embeddings]
    if len(embs) != len(graphs) or not embs:
        raise UserError(f"{len(embs)} embedding arrays for {len(graphs)} instances")
    S = max(e.shape[0] for e in embs)

    def pad(t: torch.Tensor) -> torch.Tensor:
        return torch.cat([t, t[-1:].expand(S - t.shape[0], *t.shape[1:])]) if t.shape[0] < S else t

    emb = torch.cat([pad(e) for e in embs], 1)
    steps = torch.tensor([e.shape[0] - 1 for e in embs], dtype=torch.long)
    outs = None if outputs is None else {k: torch.cat([torch.as_tensor(np.asarray(o[k])) for o in outputs])
                                         for k in outputs[0]}
    sts = None if states is None else {k: torch.cat([pad(torch.as_tensor(np.asarray(s[k]))) for s in states], 1)
                                       for k in states[0]}
    return SplitTrace(list(graphs), emb, steps, outs, sts)


def save_traces(path: str | Path, spec: SpecIR, splits: Mapping[str, SplitTrace], *, arch: str,
                producer: Mapping[str, Any] | None = None, force: bool = False) -> Path:
    """Write a trace file atomically (never over an existing file without ``force``)."""
    tensors: dict[str, torch.Tensor] = {}
    meta: dict[str, Any] = {}
    width = None
    for name, sp in splits.items():
        if name not in SPLITS:
            raise UserError(f"unknown split '{name}' (splits: {', '.join(SPLITS)})")
        b = batch_graphs(sp.graphs)
        width = int(sp.embeddings.shape[2])
        sizes = torch.tensor([g.num_nodes for g in sp.graphs], dtype=torch.long)
        tensors |= {f"{name}.num_nodes": sizes,
                    f"{name}.num_edges": torch.tensor([g.num_edges for g in sp.graphs], dtype=torch.long),
                    f"{name}.edge_index": torch.cat([g.edge_index for g in sp.graphs], 1).long(),
                    f"{name}.embeddings": sp.embeddings.to(torch.float32), f"{name}.steps": sp.steps.long()}
        tensors |= {f"{name}.node.{k}": v for k, v in b.node.items()}
        tensors |= {f"{name}.edge.{k}": v for k, v in b.edge.items()}
        tensors |= {f"{name}.outputs.{k}": v for k, v in (sp.outputs or {}).items()}
        tensors |= {f"{name}.states.{k}": v for k, v in (sp.states or {}).items()}
        meta[name] = {"graphs": len(sp.graphs), "directed": bool(b.directed), "nodes": b.num_nodes,
                      "steps": int(sp.embeddings.shape[0]) - 1}
    header = {"format": FORMAT, "format_version": FORMAT_VERSION, "spec_name": spec.name, "spec_hash": spec.hash,
              "spec_source": spec.source, "arch": arch, "width": width, "splits": meta,
              "producer": dict(producer or {}), "versions": library_versions()}
    data = st_save({k: v.contiguous() for k, v in tensors.items()},
                   metadata={META_KEY: json.dumps(header, sort_keys=True, allow_nan=False)})
    return write_bytes_atomic(Path(path), data, force=force)


def record_traces(spec: SpecIR, teacher: Teacher, instances: Instances, path: str | Path, *,
                  producer: Mapping[str, Any] | None = None, force: bool = False) -> Path:
    """Run a live teacher on each split (one batch per split, as the distiller does) and save its traces."""
    splits = {}
    for name, graphs in (("distill", instances.distill), ("held_out", instances.held_out)):
        with torch.no_grad():
            splits[name] = split_from_output(graphs, teacher.run(batch_graphs(graphs)))
    return save_traces(path, spec, splits, arch=teacher.arch, producer=producer, force=force)


# --- reading -----------------------------------------------------------------------------------------


def _fingerprint(g: Graph) -> str:
    """Identity of an instance: its size, edges and inputs, bit for bit."""
    h = hashlib.sha256(f"{g.num_nodes}|{g.directed}".encode())
    h.update(g.edge_index.long().contiguous().numpy().tobytes())
    for site, vals in (("node", g.node), ("edge", g.edge)):
        for k in sorted(vals):
            h.update(f"|{site}.{k}|{vals[k].dtype}".encode())
            h.update(vals[k].contiguous().numpy().tobytes())
    return h.hexdigest()


def unbatch_graphs(b: Graph) -> list[Graph]:
    """The graphs of a batch (``batch_graphs``' inverse), edges in their stored order."""
    if b.batch is None:
        return [b]
    sizes = b.graph_sizes()
    offsets = torch.cumsum(sizes, 0) - sizes
    owner = b.batch[b.edge_index[0]] if b.num_edges else torch.zeros(0, dtype=torch.long)
    order = torch.argsort(owner, stable=True)
    counts = torch.bincount(owner, minlength=b.num_graphs).tolist()
    out, e0 = [], 0
    for i, (n, off) in enumerate(zip(sizes.tolist(), offsets.tolist(), strict=True)):
        eids = order[e0:e0 + counts[i]]
        e0 += counts[i]
        out.append(Graph(n, b.edge_index[:, eids] - off, b.directed,
                         {k: v[off:off + n] for k, v in b.node.items()},
                         {k: v[eids] for k, v in b.edge.items()}))
    return out


class TraceTeacher:
    """Recorded traces as a ``Teacher``: ``run`` returns the recorded tensors of the instances in the
    graph it is given (a batch of recorded instances, in any order); other graphs are an error."""

    def __init__(self, spec: SpecIR, header: dict, splits: dict[str, SplitTrace], where: str) -> None:
        self.spec, self.spec_name, self.spec_hash = spec, spec.name, spec.hash
        self.arch, self.width, self.where = header["arch"], int(header["width"]), where
        self.producer = header.get("producer", {})
        self.splits = splits
        self.instances = Instances(splits["distill"].graphs, splits["held_out"].graphs)
        self._index: dict[str, list[tuple[str, int]]] = {}
        self._rows: dict[str, list[torch.Tensor]] = {}
        for name, sp in splits.items():
            sizes = torch.tensor([g.num_nodes for g in sp.graphs])
            starts = (torch.cumsum(sizes, 0) - sizes).tolist()
            self._rows[name] = [torch.arange(s, s + g.num_nodes) for s, g in zip(starts, sp.graphs, strict=True)]
            for i, g in enumerate(sp.graphs):
                self._index.setdefault(_fingerprint(g), []).append((name, i))

    def _locate(self, graphs: list[Graph]) -> list[tuple[str, int]]:
        used: dict[str, int] = {}
        found = []
        for j, g in enumerate(graphs):
            fp = _fingerprint(g)
            hits = self._index.get(fp)
            if not hits:
                raise UserError(f"{self.where}: graph {j} of the batch ({g.num_nodes} nodes) is not one of the "
                                "recorded instances; recorded traces run only on their own instances")
            k = used.get(fp, 0)
            used[fp] = k + 1
            found.append(hits[k % len(hits)])  # repeated instances: the k-th copy, in recorded order
        return found

    @torch.no_grad()
    def run(self, graph: Graph) -> TeacherOutput:
        where = self._locate(unbatch_graphs(graph))
        S = 1 + max(int(self.splits[s].steps[i]) for s, i in where)
        sizes = graph.graph_sizes()
        qoff = (torch.cumsum(sizes, 0) - sizes).tolist()
        first = self.splits[where[0][0]]
        emb = torch.empty(S, graph.num_nodes, self.width, dtype=torch.float32)
        states = None if first.states is None else {k: torch.empty(S, graph.num_nodes, dtype=v.dtype)
                                                    for k, v in first.states.items()}
        outs = {} if first.outputs is None else {k: torch.empty(graph.num_nodes, dtype=v.dtype)
                                                 for k, v in first.outputs.items()}
        for name in SPLITS:  # one gather per split
            mine = [(j, i) for j, (s, i) in enumerate(where) if s == name]
            if not mine:
                continue
            sp = self.splits[name]
            rows = torch.cat([self._rows[name][i] for _, i in mine])
            dest = torch.cat([torch.arange(qoff[j], qoff[j] + self._rows[name][i].numel()) for j, i in mine])
            ks = torch.arange(S).clamp(max=sp.embeddings.shape[0] - 1)  # finished instances repeat their last step
            emb[:, dest] = sp.embeddings[ks][:, rows]
            for k, v in (sp.states or {}).items():
                states[k][:, dest] = v[ks][:, rows]  # type: ignore[index]
            for k, v in (sp.outputs or {}).items():
                outs[k][dest] = v[rows]
        state_list = None if states is None else [{k: v[t] for k, v in states.items()} for t in range(S)]
        outputs = complete_outputs(self.spec, graph, outs, state_list, f"{self.where}: the traces")
        return TeacherOutput(outputs, list(emb), state_list)


def traces_info(path: str | Path) -> dict:
    """The validated JSON header of a trace file (no tensor is decoded)."""
    return _header(Path(path), read_container(path, "trace file")[2])


def _header(p: Path, header: dict) -> dict:
    """The trace header's fields and types."""
    if header.get("format") != FORMAT:
        raise CheckpointError(f"{p} is a '{header.get('format')}' file, not dpdsl traces")
    if header.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{p} has trace format version {header.get('format_version')!r}; this dpdsl reads "
                              f"version {FORMAT_VERSION}")
    for key, typ in (("spec_name", str), ("spec_hash", str), ("arch", str), ("width", int), ("splits", dict)):
        if not isinstance(header.get(key), typ) or isinstance(header.get(key), bool):
            raise CheckpointError(f"{p}: trace header needs '{key}' ({typ.__name__})")
    if header["width"] < 1:
        raise CheckpointError(f"{p}: trace header has width {header['width']}; expected >= 1")
    missing = [s for s in SPLITS if s not in header["splits"]]
    if missing:
        raise CheckpointError(f"{p}: traces lack the '{missing[0]}' split (need: {', '.join(SPLITS)})")
    for name, meta in header["splits"].items():
        if name not in SPLITS or not isinstance(meta, dict) or not isinstance(meta.get("directed"), bool):
            raise CheckpointError(f"{p}: trace split '{str(name)[:40]}' is not one of {', '.join(SPLITS)} with a "
                                  "'directed' flag")
    return header


def load_traces(path: str | Path, spec: SpecIR) -> TraceTeacher:
    """Load and validate a trace file for ``spec``; every inconsistency is a one-line ``CheckpointError``."""
    p = Path(path)
    data, _, raw = read_container(p, "trace file")
    header = _header(p, raw)
    if header["spec_hash"] != spec.hash:
        raise CheckpointError(f"{p} was recorded on spec '{header['spec_name']}' sha256 {header['spec_hash'][:12]}…, "
                              f"not on '{spec.name}' sha256 {spec.hash[:12]}…")
    src = header.get("spec_source")
    if src is not None and (not isinstance(src, str) or hashlib.sha256(src.encode()).hexdigest() != spec.hash):
        raise CheckpointError(f"{p}: its header is inconsistent (spec_source does not hash to spec_hash)")
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError) as err:
        raise CheckpointError(f"{p} has corrupt tensor data ({str(err).splitlines()[0]})") from None
    for k in tensors:
        if not _NAME.match(k):
            raise CheckpointError(f"{p}: unexpected tensor '{k[:60]}' (see docs/teachers.md for the names)")
    splits = {name: _split(p, spec, name, header, tensors) for name in SPLITS}
    have = {name: (sp.outputs is not None, sp.states is not None) for name, sp in splits.items()}
    if len(set(have.values())) != 1:
        raise CheckpointError(f"{p}: the splits differ in what they record (outputs, states): {have}")
    return TraceTeacher(spec, header, splits, str(p))


def _get(p: Path, t: dict[str, torch.Tensor], key: str, dtypes: tuple[torch.dtype, ...] | None,
         shape: tuple[int, ...]) -> torch.Tensor:
    """Tensor ``key`` with one of ``dtypes`` (None: any) and exactly ``shape``."""
    if key not in t:
        raise CheckpointError(f"{p}: traces lack tensor '{key}'")
    v = t[key]
    if (dtypes is not None and v.dtype not in dtypes) or tuple(v.shape) != shape:
        want = "/".join(str(d).removeprefix("torch.") for d in dtypes or (v.dtype,))
        raise CheckpointError(f"{p}: tensor '{key}' is {str(v.dtype).removeprefix('torch.')} {list(v.shape)}; "
                              f"expected {want} {list(shape)}")
    return v


def _split(p: Path, spec: SpecIR, name: str, header: dict, t: dict[str, torch.Tensor]) -> SplitTrace:
    """One split's tensors, checked against each other, the spec and the header."""
    if f"{name}.num_nodes" not in t or t[f"{name}.num_nodes"].dim() != 1 or t[f"{name}.num_nodes"].numel() < 1:
        raise CheckpointError(f"{p}: split '{name}' needs a non-empty int64 tensor '{name}.num_nodes'")
    G = t[f"{name}.num_nodes"].numel()
    sizes = _get(p, t, f"{name}.num_nodes", (torch.int64,), (G,))
    ecount = _get(p, t, f"{name}.num_edges", (torch.int64,), (G,))
    if bool((sizes < 1).any()) or bool((ecount < 0).any()):
        raise CheckpointError(f"{p}: split '{name}' has an instance with < 1 node or < 0 edges")
    N, E = int(sizes.sum()), int(ecount.sum())
    graphs = _instances(p, spec, name, header["splits"][name]["directed"], t, sizes, ecount, E)
    emb = t.get(f"{name}.embeddings")
    if emb is None or emb.dim() != 3:
        raise CheckpointError(f"{p}: split '{name}' needs float32 embeddings [steps + 1, {N}, {header['width']}]")
    S = int(emb.shape[0])
    emb = _get(p, t, f"{name}.embeddings", (torch.float32,), (S, N, header["width"]))
    if S < 1 or non_finite_weight({"e": emb}) is not None:
        raise CheckpointError(f"{p}: split '{name}' embeddings are empty or hold NaN/infinity")
    steps = _get(p, t, f"{name}.steps", (torch.int64,), (G,))
    if bool((steps < 0).any()) or int(steps.max()) != S - 1:
        raise CheckpointError(f"{p}: split '{name}' steps must lie in 0..{S - 1} with the largest = {S - 1} (the "
                              f"embeddings' last step); got {int(steps.min())}..{int(steps.max())}")
    owner = torch.repeat_interleave(torch.arange(G), sizes)
    _check_padding(p, name, "embeddings", emb, steps[owner], owner)
    outputs = _values(p, spec, t, f"{name}.outputs", {k: o.type for k, o in spec.outputs.items()}, (N,))
    states = _values(p, spec, t, f"{name}.states", {k: s.type for k, s in spec.states.items()}, (S, N))
    if states is not None:
        if set(states) != set(spec.states):
            raise CheckpointError(f"{p}: split '{name}' records states {sorted(states)}; a trace records all of "
                                  f"the spec's states ({', '.join(spec.states)}) or none")
        for k, v in states.items():
            _check_padding(p, name, f"states.{k}", v, steps[owner], owner)
    missing = [k for k in spec.outputs if k not in (outputs or {})]
    if missing and states is None:
        raise CheckpointError(f"{p}: split '{name}' has no output '{missing[0]}' and no per-step states to compute "
                              "it from")
    return SplitTrace(graphs, emb, steps, outputs, states)


def _check_padding(p: Path, name: str, what: str, v: torch.Tensor, last: torch.Tensor, owner: torch.Tensor) -> None:
    """After its last step an instance repeats it (NaN-free by the checks before)."""
    ref = v[last, torch.arange(v.shape[1])]  # [N, ...] each node's last step
    later = torch.arange(v.shape[0]).view(-1, *([1] * (v.dim() - 1))) > last.view(1, -1, *([1] * (v.dim() - 2)))
    bad = (v != ref.unsqueeze(0)) & later
    if v.is_floating_point():
        bad &= ~(v.isnan() & ref.unsqueeze(0).isnan())
    if bool(bad.any()):
        node = int(torch.nonzero(bad.reshape(v.shape[0], v.shape[1], -1).any(2).any(0))[0])
        raise CheckpointError(f"{p}: split '{name}' {what} of instance {int(owner[node])} change after its last step "
                              f"({int(last[node])}); steps must give each instance's last step")


def _values(p: Path, spec: SpecIR, t: dict[str, torch.Tensor], prefix: str, types: dict,
            shape: tuple[int, ...]) -> dict[str, torch.Tensor] | None:
    """Optional per-name tensors under ``prefix`` in the executor's encoding (bool or float64, no NaN)."""
    keys = [k for k in t if k.startswith(prefix + ".")]
    if not keys:
        return None
    out = {}
    for key in keys:
        fname = key[len(prefix) + 1:]
        if fname not in types:
            what = "output" if prefix.endswith("outputs") else "state"
            raise CheckpointError(f"{p}: tensor '{key[:60]}' names no {what} of spec '{spec.name}'")
        dtype = torch.bool if types[fname].kind == BOOL else torch.float64
        v = _get(p, t, key, (dtype,), shape)
        if v.is_floating_point() and bool(v.isnan().any()):
            raise CheckpointError(f"{p}: tensor '{key}' holds NaN")
        out[fname] = v
    return out


def _instances(p: Path, spec: SpecIR, name: str, directed: bool, t: dict[str, torch.Tensor], sizes: torch.Tensor,
               ecount: torch.Tensor, E: int) -> list[Graph]:
    """The split's instances, each validated against the spec (kind, inputs, ranges)."""
    ei = _get(p, t, f"{name}.edge_index", (torch.int64,), (2, E))
    N = int(sizes.sum())
    node = {k: _get(p, t, f"{name}.node.{k}", None, (N,)) for k in spec.node_inputs}
    edge = {k: _get(p, t, f"{name}.edge.{k}", None, (E,)) for k in spec.edge_inputs}
    types = {"node": {k: v.type for k, v in spec.node_inputs.items()},
             "edge": {k: v.type for k, v in spec.edge_inputs.items()}}
    graphs, n0, e0 = [], 0, 0
    for i, (n, m) in enumerate(zip(sizes.tolist(), ecount.tolist(), strict=True)):
        g = Graph(n, ei[:, e0:e0 + m], directed, {k: v[n0:n0 + n] for k, v in node.items()},
                  {k: v[e0:e0 + m] for k, v in edge.items()})
        try:
            graphs.append(validate_graph(g, kind=spec.graph_kind, node_inputs=types["node"],
                                         edge_inputs=types["edge"], name=f"{p}: split '{name}' instance {i}"))
        except GraphError as err:
            raise CheckpointError(err.one_line()) from None
        n0, e0 = n0 + n, e0 + m
    return graphs
