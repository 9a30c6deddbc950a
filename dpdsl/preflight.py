"""Validate before the slow work: flags, output paths and teachers are checked before sampling,
training or probing starts, so a mistake costs milliseconds and one line, not a run.

Each ``check_*_args`` takes the parsed ``argparse`` namespace of one command and raises ``UserError``
(or ``LimitError``) on the first bad value; the output checks never create anything except a probe
file they delete at once.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import Any

from dpdsl import limits
from dpdsl.errors import CheckpointError, UserError
from dpdsl.exits import first_line
from dpdsl.fsutil import STUDENT_FILE, refuse_existing

# ------------------------------------------------------------------------------------------- flags


def seed(value: int, flag: str = "--seed") -> int:
    """Seeds are 0..2**32-1 (negative ones used to fail deep inside numpy, huge ones overflow torch)."""
    if not 0 <= value <= limits.SEED_MAX:
        raise UserError(f"{flag} must be in 0..{limits.SEED_MAX}, got {value}")
    return value


def int_flag(value: int, flag: str, lo: int, hi: int | None = None, limit: str | None = None) -> int:
    """An integer flag in ``lo..hi`` and, if named, under a resource limit."""
    if value < lo or (hi is not None and value > hi):
        span = f"in {lo}..{hi}" if hi is not None else f">= {lo}"
        raise UserError(f"{flag} must be {span}, got {value}")
    if limit is not None:
        limits.check(limit, value, flag)
    return value


def float_flag(value: float, flag: str, lo: float, hi: float) -> float:
    """A finite float flag in ``(lo, hi]``; NaN and infinities are refused (``--tau nan`` used to pass)."""
    if not math.isfinite(value):
        raise UserError(f"{flag} must be a finite number, got {value!r}")
    if not value > lo:
        raise UserError(f"{flag} must be > {lo:g}, got {value:g}")
    if value > hi:
        raise UserError(f"{flag} must be <= {hi:g}, got {value:g}")
    return value


def check_train_args(args: Any) -> None:
    """``dpdsl teacher train``'s flags, before any training."""
    seed(args.seed)
    int_flag(args.hidden, "--hidden", 8, 8192)
    if args.epochs is not None:
        int_flag(args.epochs, "--epochs", 1, 100_000)
    if args.samples is not None:
        int_flag(args.samples, "--samples", 1, limit="graphs")
    float_flag(args.value_weight, "--value-weight", 0.0, 1e6)


def check_teacher_eval_args(args: Any) -> None:
    """``dpdsl teacher eval``'s flags; ``--nodes`` x ``--graphs`` is one batch under the nodes limit."""
    seed(args.seed)
    int_flag(args.graphs, "--graphs", 1, limit="graphs")
    if args.nodes is not None:
        int_flag(args.nodes, "--nodes", 1, limit="nodes")
        limits.check("nodes", args.nodes * args.graphs, "--nodes x --graphs (nodes in one batch)")


def eval_sizes(args: Any) -> list[int]:
    """``dpdsl eval``'s flags; returns the parsed ``--sizes``."""
    seed(args.seed)
    int_flag(args.graphs, "--graphs", 1, limit="graphs")
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--sizes must be a comma-separated list of integers, got {args.sizes!r}") from None
    if not sizes or min(sizes) < 1:
        raise UserError("--sizes needs at least one size >= 1")
    limits.check("nodes", max(sizes) * args.graphs, "--sizes x --graphs (nodes in one batch)")
    return sizes


def check_run_args(args: Any) -> None:
    """``dpdsl run``'s flags."""
    seed(args.seed)
    if args.sample is not None:
        int_flag(args.sample, "--sample", 1, limit="graphs")
    if args.max_rounds is not None:
        int_flag(args.max_rounds, "--max-rounds", 0)


# ------------------------------------------------------------------------------------ output paths


def _nearest_existing(p: Path) -> Path:
    """The closest ancestor of ``p`` that exists; a file on the way is an error (``-o FILE/x``)."""
    for a in p.parents:
        if a.exists() or a.is_symlink():
            if not a.is_dir():
                raise UserError(f"cannot write {p}: {a} is not a directory")
            return a
    return Path(".")


def _probe_writable(d: Path, target: Path) -> None:
    """Create and delete a probe file in ``d``: the one test that also sees read-only mounts and ACLs."""
    try:
        fd, name = tempfile.mkstemp(prefix=".dpdsl-probe-", dir=d)
    except OSError as err:
        raise UserError(f"cannot write {target}: {d} is not writable ({err.strerror or err})") from None
    os.close(fd)
    os.unlink(name)


def output_file(path: str | os.PathLike[str], *, force: bool, flag: str = "-o") -> Path:
    """A file we may write (atomically) later: not a directory, not clobbered without ``--force``."""
    p = Path(path)
    if not str(path).strip():
        raise UserError(f"{flag} needs a file name")
    if p.is_dir():
        raise UserError(f"{flag} {p} is a directory; name a file to write")
    if p.exists() and not p.is_file():
        raise UserError(f"{flag} {p} exists and is not a regular file")
    refuse_existing(p, force)
    _probe_writable(_nearest_existing(p.absolute()), p)
    return p


def output_dir(path: str | os.PathLike[str], *, force: bool, flag: str = "-o") -> Path:
    """A student directory we may create, or (with ``--force``) replace — only if it holds a student."""
    p = Path(path)
    if not str(path).strip():
        raise UserError(f"{flag} needs a directory name")
    if p.exists() and not p.is_dir():
        raise UserError(f"{flag} {p} is a file, not a student directory")
    refuse_existing(p, force)
    if p.is_dir() and any(p.iterdir()) and not (p / STUDENT_FILE).is_file():
        raise UserError(f"{flag} {p} is a non-empty directory without a {STUDENT_FILE}; --force only "
                        "replaces student directories")
    _probe_writable(_nearest_existing(p.absolute()), p)
    return p


# ----------------------------------------------------------------------------------------- teachers


def open_teacher(path: str, spec: Any, *, trust_code: bool, modules: list[str] | None = None) -> Any:
    """Load a zoo checkpoint or (``.json``) an adapter teacher, then make sure it runs and is finite."""
    from dpdsl.teachers.checkpoint import load_teacher

    if str(path).endswith(".json"):
        from dpdsl.teachers.adapter import load_user_teacher_config

        teacher = load_user_teacher_config(path, spec, trust_code=trust_code, modules=modules or [])
        probe_teacher(teacher, spec, path, user=True)
    else:
        teacher = load_teacher(path, spec)
        probe_teacher(teacher, spec, path, user=False)
    return teacher


def probe_teacher(teacher: Any, spec: Any, where: str, *, user: bool) -> None:
    """Run the teacher on a few sampled graphs: a forged config or NaN weights fail here, in a
    second, rather than in the probes after minutes of distillation."""
    import torch

    from dpdsl.graphs.core import batch_graphs
    from dpdsl.sampling import sample_graphs

    if spec.sample is None:
        return
    batch = batch_graphs(sample_graphs(spec, 4, 0))
    try:
        with torch.no_grad():
            out = teacher.run(batch)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - a checkpoint's config or a user's model: not our bug
        what = "the user teacher" if user else "the checkpoint"
        raise CheckpointError(f"{where}: {what} fails on a sample graph of spec '{spec.name}' "
                              f"({type(err).__name__}: {first_line(str(err))})") from None
    check_finite_output(out, where)


def check_finite_output(out: Any, where: str) -> None:
    """Embeddings must be finite and outputs free of NaN (infinity is a legal DP value)."""
    import torch

    for k, h in enumerate(out.embeddings):
        if not bool(torch.isfinite(h).all()):
            raise CheckpointError(f"{where}: the teacher emits non-finite embeddings (step {k}); "
                                  "refusing to distil it (NaN weights or a diverged model?)")
    for name, v in out.outputs.items():
        if v.is_floating_point() and bool(torch.isnan(v).any()):
            raise CheckpointError(f"{where}: the teacher's output '{name}' contains NaN")
