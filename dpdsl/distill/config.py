"""The distiller's parameters, validated where they are made, and the seeds derived from one seed.

``CompileConfig`` is checked in ``__post_init__`` (scikit-learn style: explicit, validated, recorded),
so the CLI and the library refuse the same bad values with the same message, before any slow work.
Every field goes into ``student.json``'s provenance (``CompileConfig.to_json``).

Seeds: one ``numpy.random.SeedSequence(seed)`` with a named child per random stream
(``CompileConfig.stream``), instead of ad-hoc offsets such as ``seed + 1001``: streams are independent
by construction, and adding a stream at the end of ``STREAMS`` leaves every other stream unchanged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dpdsl.errors import UserError
from dpdsl.preflight import float_flag, int_flag, seed

METHODS = ("lrh", "cart")
FAITHFULNESS = ("noise-aware", "strict")

# the random streams of one compile, in a fixed order (append only: the index is the stream's key)
STREAMS = ("sample", "dataset", "lrh_map", "search", "tree", "held_out", "scale", "shrink")


@dataclass(frozen=True)
class CompileConfig:
    """Every knob of the distiller; ``seed`` fixes everything (the same seed gives the same student)."""

    method: str = "lrh"  # lrh | cart
    seed: int = 0
    samples: int = 256  # distillation graphs
    beam: int = 16
    max_depth: int = 3
    tau: float = 0.5  # LRH threshold on held-out 1 - R^2
    alpha: float = 1.0  # ridge penalty of the probes
    fidelity: float = 0.99  # agreement with the teacher on held-out graphs that needs no explanation
    faithfulness: str = "noise-aware"  # strict: fidelity below the gate fails, whatever the residual is
    max_noise: float = 0.1  # noise-aware: the most teacher noise (upper 95 % bound) a faithful verdict allows
    max_samples: int = 20000  # transition samples per field kept for probing and tree fitting
    tolerance: float = 0.002  # the DP picks the smallest tree within this agreement of the best
    verify_scales: tuple[int, ...] = (1, 4, 16)
    verify_graphs: tuple[int, ...] = (32, 8, 4)
    lrh_map_steps: int = 16

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise UserError(f"--method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.faithfulness not in FAITHFULNESS:
            raise UserError(f"faithfulness must be one of {', '.join(FAITHFULNESS)}, got {self.faithfulness!r}")
        seed(self.seed)
        int_flag(self.samples, "--samples", 1, limit="graphs")
        int_flag(self.beam, "--beam", 1, 1024)
        int_flag(self.max_depth, "--max-depth", 1, limit="tree_depth")
        int_flag(self.max_samples, "max_samples", 16)
        int_flag(self.lrh_map_steps, "lrh_map_steps", 0)
        float_flag(self.fidelity, "--fidelity", 0.0, 1.0)
        float_flag(self.tau, "--tau", 0.0, 1e6)
        float_flag(self.alpha, "alpha", 0.0, 1e12)
        float_flag(self.max_noise, "--max-noise", 0.0, 0.5)
        if not (0.0 <= self.tolerance < 1.0):
            raise UserError(f"tolerance must be in [0, 1), got {self.tolerance!r}")
        scales, counts = tuple(self.verify_scales), tuple(self.verify_graphs)
        if len(scales) != len(counts) or not scales:
            raise UserError("verify_scales and verify_graphs must be non-empty and of the same length")
        for s in scales:
            int_flag(s, "verify_scales", 1, 1024)
        for c in counts:
            int_flag(c, "verify_graphs", 1, limit="graphs")
        object.__setattr__(self, "verify_scales", scales)
        object.__setattr__(self, "verify_graphs", counts)

    def stream(self, name: str, *key: int) -> int:
        """The integer seed of the named random stream (optionally sub-keyed, e.g. by verify scale)."""
        ss = np.random.SeedSequence(self.seed, spawn_key=(STREAMS.index(name), *key))
        return int(ss.generate_state(1, np.uint32)[0])

    def to_json(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}
