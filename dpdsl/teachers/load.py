"""One loader for every kind of teacher file (``compile``, ``teacher eval``, ``eval --teacher``).

* a dpdsl checkpoint (safetensors, header ``format: "dpdsl-teacher"``): a zoo teacher;
* recorded traces (safetensors, header ``format: "dpdsl-traces"``): ``dpdsl.teachers.traces``;
* an adapter config (a JSON object): a user's torch model (``dpdsl.teachers.adapter``).

The kind is read from the file (the safetensors metadata, or a leading ``{``), not from its name. Every
teacher is then run once on a few graphs, so a forged config or NaN weights fail in a second with one
line rather than in the probes after minutes of distillation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from dpdsl.domains.units import batch_any
from dpdsl.errors import CheckpointError, UserError
from dpdsl.exits import first_line
from dpdsl.ir import SpecIR
from dpdsl.teachers.contract import Teacher, TeacherOutput, fixed_instances


def teacher_kind(path: str | Path) -> str:
    """``checkpoint``, ``traces`` or ``adapter``, from the file's first bytes and its dpdsl header."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(9)
    except OSError as err:
        raise CheckpointError(f"cannot read teacher {p}: {err.strerror}") from None
    if head.lstrip()[:1] == b"{" and not (len(head) == 9 and head[8:9] == b"{"):
        return "adapter"
    if len(head) == 9 and head[8:9] == b"{":
        from dpdsl.teachers.checkpoint import container_format
        from dpdsl.teachers.traces import FORMAT as TRACES

        return "traces" if container_format(p) == TRACES else "checkpoint"
    return "checkpoint"  # the checkpoint loader names what it is instead (a pickle, too short, ...)


def open_teacher(path: str | Path, spec: SpecIR, *, trust_code: bool = False,
                 modules: list[str] | None = None) -> Teacher:
    """Load any teacher file for ``spec`` (see the module doc), then make sure it runs and is finite."""
    kind = teacher_kind(path)
    if kind == "adapter":
        from dpdsl.teachers.adapter import load_user_teacher_config

        teacher: Teacher = load_user_teacher_config(path, spec, trust_code=trust_code, modules=modules or [])
    elif kind == "traces":
        from dpdsl.teachers.traces import load_traces

        teacher = load_traces(path, spec)
    else:
        from dpdsl.teachers.checkpoint import load_teacher

        teacher = load_teacher(path, spec)
    probe_teacher(teacher, spec, str(path), user=kind == "adapter")
    return teacher


def probe_teacher(teacher: Teacher, spec: SpecIR, where: str, *, user: bool) -> None:
    """Run the teacher on a few graphs (its own first instances, if it has fixed ones)."""
    from dpdsl.sampling import sample_graphs

    fixed = fixed_instances(teacher)
    if fixed is not None:
        graphs = fixed.distill[:4]
    elif spec.sample is not None:
        graphs = sample_graphs(spec, 4, 0)
    else:
        return
    try:
        with torch.no_grad():
            out = teacher.run(batch_any(graphs))
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - a checkpoint's config or a user's model: not our bug
        what = "the user teacher" if user else "the checkpoint"
        raise CheckpointError(f"{where}: {what} fails on a sample graph of spec '{spec.name}' "
                              f"({type(err).__name__}: {first_line(str(err))})") from None
    check_finite_output(out, where)


def check_finite_output(out: TeacherOutput, where: str) -> None:
    """Embeddings must be finite and outputs free of NaN (infinity is a legal DP value)."""
    for k, h in enumerate(out.embeddings):
        if not bool(torch.isfinite(h).all()):
            raise CheckpointError(f"{where}: the teacher emits non-finite embeddings (step {k}); "
                                  "refusing to distil it (NaN weights or a diverged model?)")
    for name, v in out.outputs.items():
        if v.is_floating_point() and bool(torch.isnan(v).any()):
            raise CheckpointError(f"{where}: the teacher's output '{name}' contains NaN")


def needs_model(teacher: Any, where: str, what: str) -> None:
    """Refuse recorded traces where new graphs must be run (``eval`` samples graphs of every size)."""
    if fixed_instances(teacher) is not None:
        raise UserError(f"{where} holds recorded traces, which run only on their own instances; {what} needs a "
                        "model (a checkpoint or an adapter .json)")
