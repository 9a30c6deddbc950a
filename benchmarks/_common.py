"""Shared plumbing of the issue-5 benchmark scripts: seeding, teachers, students, tables.

Every script fixes ``torch.set_num_threads`` and seeds Python, numpy and torch through ``setup`` so a
rerun reproduces its table (timings within noise). Teachers come from the shipped checkpoints in
``teachers/``; ``--teacher planted`` swaps in a synthetic teacher (reference trajectories as states,
embeddings that linearly encode the candidate predicates) so the scripts can be developed and
smoke-tested before trained checkpoints exist. Numbers from a planted teacher are not results.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
TEACHERS = ROOT / "teachers"

if str(ROOT) not in sys.path:  # scripts run from a checkout also work without the editable install
    sys.path.insert(0, str(ROOT))

from dpdsl.api import load_spec  # noqa: E402
from dpdsl.distill.pipeline import CompileConfig, CompileResult, compile_student  # noqa: E402
from dpdsl.execute import evaluate, local_args, make_context, run_reference  # noqa: E402
from dpdsl.features import candidate_features, evaluate_features  # noqa: E402
from dpdsl.graphs.core import Graph  # noqa: E402
from dpdsl.ir import SpecIR  # noqa: E402
from dpdsl.teachers.contract import Teacher, TeacherOutput  # noqa: E402

#: CompileConfig overrides for ``--quick`` runs (smoke tests): verify on a handful of small graphs only.
QUICK_VERIFY: dict[str, Any] = {"verify_scales": (1, 2), "verify_graphs": (4, 2)}


def setup(threads: int, seed: int) -> None:
    """Fix the thread count (timings are only comparable at a fixed count) and seed every RNG."""
    torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def spec_path(name: str) -> Path:
    return SPECS / f"{name}.dp"


def teacher_path(name: str, arch: str = "aligned") -> Path:
    """Shipped checkpoint of a spec: ``<spec>.safetensors`` (aligned) or ``<spec>.<arch>.safetensors``."""
    return TEACHERS / (f"{name}.safetensors" if arch == "aligned" else f"{name}.{arch}.safetensors")


def shipped_specs(arch: str = "aligned") -> list[str]:
    """Specs with a shipped teacher of this architecture, sorted."""
    return sorted(p.stem for p in SPECS.glob("*.dp") if teacher_path(p.stem, arch).exists())


class PlantedTeacher:
    """Synthetic aligned teacher for development: exact reference states, predicate-encoding embeddings.

    Its embeddings are a fixed random rotation of the candidate predicates' indicators at each round
    (plus small noise), i.e. the LRH holds by construction. Seeded, so runs are repeatable.
    """

    arch = "planted"

    def __init__(self, spec: SpecIR, width: int = 48, seed: int = 0) -> None:
        self.spec, self.width = spec, width
        self.spec_name, self.spec_hash = spec.name, spec.hash
        self.feats = {f: candidate_features(spec, f) for f in spec.states}
        k = sum(len(fs.predicates) for fs in self.feats.values())
        gen = torch.Generator().manual_seed(seed)
        q = torch.linalg.qr(torch.randn(max(width, k), max(width, k), generator=gen, dtype=torch.float64))[0]
        self.rot = q[:width, :k]
        self.seed = seed

    def run(self, graph: Graph) -> TeacherOutput:
        ref = run_reference(self.spec, graph, record=True)
        ctx = make_context(self.spec, graph)
        gen = torch.Generator().manual_seed(self.seed + graph.num_nodes)
        embs = [torch.zeros(graph.num_nodes, self.width)]
        for t in range(1, len(ref.trajectory)):
            ctx.state = ref.trajectory[t - 1]
            ctx.views = {k: evaluate(v.agg, ctx) for k, v in self.spec.views.items()}
            cols = [evaluate_features(self.spec, self.feats[f].predicates, local_args(self.spec, ctx, f),
                                      torch.float64) for f in self.spec.states]
            h = torch.cat(cols, 1) @ self.rot.T
            h = h + 0.01 * torch.randn(h.shape, generator=gen, dtype=torch.float64)
            embs.append(h.float())
        return TeacherOutput(dict(ref.outputs), embs, [dict(s) for s in ref.trajectory])

    def num_parameters(self) -> int:
        return 0


@dataclass
class LoadedTeacher:
    """A teacher with what the tables print about it."""

    teacher: Teacher
    path: Path | None
    params: int
    train_seconds: float | None
    label: str


def load_teacher_for(spec: SpecIR, source: str, arch: str = "aligned") -> LoadedTeacher:
    """``source`` = ``shipped`` (teachers/ checkpoint) or ``planted`` (synthetic, development only)."""
    if source == "planted":
        return LoadedTeacher(PlantedTeacher(spec), None, 0, None, "planted (synthetic)")
    from dpdsl.teachers.checkpoint import load_teacher

    path = teacher_path(spec.name, arch)
    t = load_teacher(str(path), spec)
    params = int(t.num_parameters()) if hasattr(t, "num_parameters") else 0
    secs = None
    metrics = getattr(t, "metrics", None) or getattr(t, "config", {}).get("metrics")
    if isinstance(metrics, dict) and metrics.get("train_seconds") is not None:
        secs = float(metrics["train_seconds"])
    return LoadedTeacher(t, path, params, secs, f"{arch} (shipped)")


def compile_lrh(spec: SpecIR, lt: LoadedTeacher, cfg: CompileConfig) -> tuple[CompileResult, float]:
    """The dpdsl student (LRH + exact tree DP), with its wall time."""
    t0 = time.perf_counter()
    res = compile_student(spec, lt.teacher, cfg, teacher_path=str(lt.path) if lt.path else None)
    return res, time.perf_counter() - t0


def teacher_outputs(teacher: Teacher, batch: Graph) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return teacher.run(batch).outputs


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; floats are printed as given (format them before)."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def pct(x: float | None, nd: int = 2) -> str:
    return "—" if x is None else f"{100 * x:.{nd}f}"


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def command_line() -> str:
    """The command that produced a table, for RESULTS.md (relative script path, flags as given)."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(ROOT)
    except ValueError:
        pass
    return " ".join(["python", str(script), *sys.argv[1:]])


def load(name: str) -> SpecIR:
    return load_spec(spec_path(name))
