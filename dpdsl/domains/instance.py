"""Sequence instances: the JSON format, validation against a spec, batching and seeded sampling (§12).

A sequence-domain spec (``domain sequence``, ``grid``, ``intervals``) runs on named per-position inputs
instead of a graph. The instance file is one JSON object, or a list of them (a batch)::

    {"inputs": {"a": [0, 2, 1, 3], "b": [2, 1, 3]}}

Each key of ``inputs`` is an ``input NAME[VAR]`` of the spec with one value per position: numbers
(``"inf"``/``"-inf"`` as strings), ``true``/``false`` for bool inputs, label names or indices for
enums. Inputs on the same axis must have the same length. ``"lengths": [n]`` (grid: ``[n, m]``) gives
the sizes of axes that have no input. Anything else is a one-line error (exit 2).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dpdsl import limits
from dpdsl.domains.core import num_axes
from dpdsl.errors import UserError
from dpdsl.ir import SpecIR
from dpdsl.types import BOOL, ENUM


@dataclass
class SeqInstance:
    """One instance: the length of each axis and each per-position input (float64 or bool)."""

    lengths: tuple[int, ...]
    inputs: dict[str, torch.Tensor]


@dataclass
class SeqBatch:
    """Instances concatenated per input; ``offsets[b, a]`` is where instance b starts on axis a."""

    lengths: torch.Tensor  # [B, A] long
    offsets: torch.Tensor  # [B, A] long
    inputs: dict[str, torch.Tensor]
    instances: list[SeqInstance]

    @property
    def num_graphs(self) -> int:
        return int(self.lengths.shape[0])


def batch_instances(instances: list[SeqInstance]) -> SeqBatch:
    """Concatenate instances (every input along its own axis)."""
    if not instances:
        raise ValueError("batch_instances needs at least one instance")
    lengths = torch.tensor([list(x.lengths) for x in instances], dtype=torch.long)
    offsets = torch.cumsum(lengths, 0) - lengths
    names = instances[0].inputs.keys()
    inputs = {k: torch.cat([x.inputs[k] for x in instances]) for k in names}
    return SeqBatch(lengths, offsets, inputs, list(instances))


def _value(x: Any, kind: str, labels: tuple[str, ...], where: str) -> float | bool:
    if kind == BOOL:
        if not isinstance(x, bool):
            raise UserError(f"{where}: expected true or false, got {json.dumps(x)}")
        return x
    if kind == ENUM and isinstance(x, str) and x in labels:
        return float(labels.index(x))
    if isinstance(x, str) and x in ("inf", "-inf"):
        return math.inf if x == "inf" else -math.inf
    if isinstance(x, bool) or not isinstance(x, (int, float)) or math.isnan(float(x)):
        raise UserError(f"{where}: expected a number, got {json.dumps(x)}")
    return float(x)


def instance_from_json(spec: SpecIR, obj: Any, where: str = "<instance>") -> SeqInstance:
    """Validate one JSON instance against the spec's per-position inputs."""
    if not isinstance(obj, dict) or not isinstance(obj.get("inputs", {}), dict):
        raise UserError(f"{where}: an instance is an object {{\"inputs\": {{NAME: [values]}}}}")
    extra = set(obj) - {"inputs", "lengths"}
    if extra:
        raise UserError(f"{where}: unknown key '{sorted(extra)[0]}' (expected inputs, lengths)")
    axes_n = num_axes(spec.domain.kind)
    lengths: list[int | None] = [None] * axes_n
    if "lengths" in obj:
        given = obj["lengths"]
        if not isinstance(given, list) or len(given) != axes_n or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in given):
            raise UserError(f"{where}: 'lengths' must be a list of {axes_n} integers")
        lengths = list(given)
    raw, inputs = obj.get("inputs", {}), {}
    for name in raw:
        if name not in spec.domain.inputs:
            raise UserError(f"{where}: '{name}' is not an input of {spec.name} "
                            f"(inputs: {', '.join(spec.domain.inputs) or 'none'})")
    for name, inp in spec.domain.inputs.items():
        if name not in raw:
            raise UserError(f"{where}: missing input '{name}'")
        vals = raw[name]
        if not isinstance(vals, list):
            raise UserError(f"{where}: input '{name}' must be a list of per-position values")
        t = inp.type
        parsed = [_value(x, t.kind, t.labels, f"{where}: {name}[{p}]") for p, x in enumerate(vals)]
        for p, v in enumerate(parsed):
            if t.kind != BOOL and not t.admits(float(v)) and not (t.kind == ENUM and 0 <= v < len(t.labels)):
                raise UserError(f"{where}: {name}[{p}] = {v:g} is outside {name}'s range {t.describe_range()}")
        if lengths[inp.axis] is not None and lengths[inp.axis] != len(parsed):
            raise UserError(f"{where}: input '{name}' has {len(parsed)} positions, but its sequence has "
                            f"{lengths[inp.axis]}")
        lengths[inp.axis] = len(parsed)
        dtype = torch.bool if t.kind == BOOL else torch.float64
        inputs[name] = torch.tensor(parsed, dtype=dtype)
    for a, n in enumerate(lengths):
        if n is None:
            raise UserError(f"{where}: axis {a} has no input; give its size in 'lengths'")
        if n < 1:
            raise UserError(f"{where}: every sequence needs at least one position (axis {a} has {n})")
        limits.check("nodes", n, f"{where}: the sequence length")
    return SeqInstance(tuple(int(n) for n in lengths if n is not None), inputs)


def load_instances(spec: SpecIR, path: str | Path) -> list[SeqInstance]:
    """Read an instance file (one object or a list of objects)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise UserError(f"{path}: cannot read the instance file ({err.strerror or err})") from None
    limits.check("graph_bytes", len(text.encode()), f"{path}: the instance file")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: not JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    items = obj if isinstance(obj, list) else [obj]
    if not items:
        raise UserError(f"{path}: an empty list holds no instance")
    limits.check("graphs", len(items), f"{path}: the number of instances")
    return [instance_from_json(spec, x, f"{path}" + (f" instance {i}" if isinstance(obj, list) else ""))
            for i, x in enumerate(items)]


def instance_to_json(spec: SpecIR, x: SeqInstance) -> dict[str, Any]:
    """The JSON form of an instance (``load_instances`` reads it back)."""
    out: dict[str, Any] = {}
    for name, inp in spec.domain.inputs.items():
        vals = x.inputs[name].tolist()
        out[name] = [v if inp.type.kind == BOOL else ("inf" if v == math.inf else "-inf" if v == -math.inf
                                                      else v) for v in vals]
    res: dict[str, Any] = {"inputs": out}
    covered = {inp.axis for inp in spec.domain.inputs.values()}
    if len(covered) < len(x.lengths):
        res["lengths"] = list(x.lengths)
    return res


def split_length(kind: str, total: int) -> tuple[int, ...]:
    """Axis lengths for a sampled total length: a grid gives the second sequence half (CLRS-30's LCS)."""
    if kind == "grid":  # at least one position each
        return (max(total - total // 2, 1), max(total // 2, 1))
    return (total,)


def sample_instances(spec: SpecIR, count: int, seed: int, *, lengths: tuple[int, int] | None = None
                     ) -> list[SeqInstance]:
    """``count`` seeded instances from the spec's ``sample length`` section (inputs drawn per position)."""
    from dpdsl.graphs import generators as G

    if spec.sample is None:
        raise UserError(f"spec '{spec.name}' has no sample section; cannot draw instances")
    limits.check("graphs", count, "the number of instances to draw")
    lo, hi = lengths or spec.sample.nodes
    limits.check("nodes", hi, "the length of the instances to draw")
    rng = np.random.default_rng(seed)
    samplers = {name: (dist, args) for name, dist, args in spec.sample.inputs}
    out = []
    for _ in range(count):
        sizes = split_length(spec.domain.kind, int(rng.integers(lo, hi, endpoint=True)))
        inputs = {}
        for name, inp in spec.domain.inputs.items():
            dist, args = samplers[name]
            inputs[name] = G.sample_input(dist, args, sizes[inp.axis], rng, dtype_kind=inp.type.kind)
        out.append(SeqInstance(sizes, inputs))
    return out


def probe_instance(spec: SpecIR, n: int) -> SeqInstance:
    """An instance with every axis of length ``n`` and zero inputs (the checker's rounds probe)."""
    sizes = (n,) * num_axes(spec.domain.kind)
    inputs = {k: torch.zeros(sizes[v.axis], dtype=torch.bool if v.type.kind == BOOL else torch.float64)
              for k, v in spec.domain.inputs.items()}
    return SeqInstance(sizes, inputs)
