"""``TeacherConfig``: every knob of zoo-teacher training, validated where it is made (docs/architecture.md §7).

``teacher train`` builds one from its flags and the library takes the same object, so both refuse the
same bad value with the same one-line message before any sampling or training. Architecture-specific
options default to ``None``: ``resolved(spec)`` fills them from the architecture table
(``dpdsl.teachers.archs``), where the aligned decoder and value weight follow the spec's state types,
and the resolved config (``to_json``) is what a checkpoint records. Seeds: one ``SeedSequence`` with
the named streams in ``STREAMS`` (``stream``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from dpdsl import limits
from dpdsl.errors import UserError
from dpdsl.ir import SpecIR
from dpdsl.preflight import float_flag, int_flag
from dpdsl.seeds import stream_seed
from dpdsl.teachers.archs import ARCHS

DECODERS = ("wide", "embedding")
# the random streams of one training run, in a fixed order (append only: the index is the stream's key)
STREAMS = ("train_graphs", "val_graphs", "weights", "order", "noise")
COMMON = ("arch", "hidden", "epochs", "samples", "val_samples", "batch_size", "lr", "seed", "nodes")
FLAGS = {"value_weight": "--value-weight", "val_samples": "val_samples", "batch_size": "batch_size",
         "linear_channels": "linear_channels", "sum_candidates": "sum_candidates"}


def _flag(name: str) -> str:
    return FLAGS.get(name, f"--{name}")


def _int(cfg: TeacherConfig, name: str, lo: int, hi: int | None = None, limit: str | None = None) -> None:
    v = getattr(cfg, name)
    if not isinstance(v, int) or isinstance(v, bool):
        raise UserError(f"{_flag(name)} must be an integer, got {v!r}")
    int_flag(v, _flag(name), lo, hi, limit)


def _float(cfg: TeacherConfig, name: str, lo: float, hi: float) -> None:
    v = getattr(cfg, name)
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        raise UserError(f"{_flag(name)} must be a number, got {v!r}")
    float_flag(float(v), _flag(name), lo, hi)


@dataclass(frozen=True)
class TeacherConfig:
    """Training settings of a zoo teacher; ``seed`` fixes everything (same seed, same weights)."""

    arch: str = "aligned"
    hidden: int = 128
    epochs: int = 30
    samples: int = 1000  # training graphs from the spec's sample section
    val_samples: int = 100  # free-running validation graphs (accuracy after every epoch)
    batch_size: int = 32
    lr: float = 1e-3  # peak of the one-cycle cosine schedule (Adam, gradient clipping at 1)
    seed: int = 0
    nodes: tuple[int, int] | None = None  # graph sizes; None: the spec's sample section
    # aligned only (None: from the architecture table and the spec's state types)
    noise: float | None = None  # teacher-forcing noise on real-valued state features
    linear_channels: int | None = None  # purely affine value messages
    decoder: str | None = None  # wide | embedding
    value_weight: float | None = None  # weight of the numeric value loss
    sum_candidates: bool | None = None  # index domains: sums of the views' exact channels as value candidates
    # transformer only
    layers: int | None = None
    heads: int | None = None

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise UserError(f"--arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        _int(self, "seed", 0, limits.SEED_MAX)
        _int(self, "hidden", 8, 8192)
        _int(self, "epochs", 1, 100_000)
        _int(self, "samples", 1, limit="graphs")
        _int(self, "val_samples", 1, limit="graphs")
        _int(self, "batch_size", 1, 65_536)
        _float(self, "lr", 0.0, 10.0)
        self._check_nodes()
        own = ARCHS[self.arch].options
        for name in ("noise", "linear_channels", "decoder", "value_weight", "sum_candidates", "layers", "heads"):
            if getattr(self, name) is not None and name not in own:
                users = [a for a, spec in ARCHS.items() if name in spec.options]
                raise UserError(f"{_flag(name)} applies to the {' / '.join(users)} teacher only, not to "
                                f"--arch {self.arch}")
        self._check_options()

    def _check_nodes(self) -> None:
        if self.nodes is None:
            return
        lo_hi = tuple(self.nodes)
        if len(lo_hi) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in lo_hi):
            raise UserError(f"nodes must be a (min, max) pair of integers, got {self.nodes!r}")
        lo, hi = lo_hi
        if not 1 <= lo <= hi:
            raise UserError(f"nodes must satisfy 1 <= min <= max, got {lo}..{hi}")
        limits.check("nodes", hi, "nodes (max)")
        object.__setattr__(self, "nodes", (lo, hi))

    def _check_options(self) -> None:
        if self.noise is not None:
            v = self.noise
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and 0 <= v <= 1):
                raise UserError(f"noise must be a number in 0..1, got {v!r}")
        if self.linear_channels is not None:
            _int(self, "linear_channels", 0, 1024)
        if self.sum_candidates is not None and not isinstance(self.sum_candidates, bool):
            raise UserError(f"sum_candidates must be true or false, got {self.sum_candidates!r}")
        if self.decoder is not None and self.decoder not in DECODERS:
            raise UserError(f"--decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}")
        if self.value_weight is not None:
            _float(self, "value_weight", 0.0, 1e6)
        if self.layers is not None:
            _int(self, "layers", 1, 256)
        if self.heads is not None:
            _int(self, "heads", 1, 256)
            if self.hidden % self.heads:
                raise UserError(f"--hidden ({self.hidden}) must be a multiple of heads ({self.heads})")

    def resolved(self, spec: SpecIR) -> TeacherConfig:
        """This config with the architecture's options filled in (defaults from the table and the spec)
        and ``nodes`` made explicit; explicit values always win."""
        defaults = ARCHS[self.arch].defaults(spec)
        filled = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        nodes = self.nodes or (tuple(spec.sample.nodes) if spec.sample else None)
        if nodes is None:
            raise UserError(f"spec '{spec.name}' has no sample section: pass nodes=(min, max) to train a teacher")
        return replace(self, nodes=nodes, **filled)

    def stream(self, name: str) -> int:
        """The integer seed of one named random stream (``STREAMS``)."""
        return stream_seed(self.seed, STREAMS, name)

    def to_json(self) -> dict[str, Any]:
        """The common fields and this architecture's own options (what a checkpoint records)."""
        own = ARCHS[self.arch].options
        d = {k: v for k, v in asdict(self).items() if k in COMMON or k in own}
        d["nodes"] = list(d["nodes"]) if d["nodes"] is not None else None
        return d
