"""``dpdsl compile``: the distiller as a sequence of typed stages (docs/architecture.md §6).

sample -> teacher run -> state labels -> transition dataset -> LRH probes -> tree -> student -> verify
-> verdict -> certify. Each stage lives in its own module (``dataset``, ``lrhmap``, ``fit``, ``verify``,
``verdict``, ``report``); ``compile_student`` strings them together and times them. Nothing reads a
``reference`` transition except the verification against the reference executor, which is what it is for.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from dpdsl import tree as T
from dpdsl.distill.config import CompileConfig
from dpdsl.distill.dataset import TeacherRun, run_teacher, transition_dataset
from dpdsl.distill.fit import FieldFit, fit_field
from dpdsl.distill.lrhmap import lrh_map
from dpdsl.distill.report import field_section, report_number
from dpdsl.distill.verdict import Decision, decide
from dpdsl.distill.verify import reference_check, round_cap_warnings, teacher_fidelity
from dpdsl.features import candidate_features
from dpdsl.fsutil import library_versions
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs
from dpdsl.student import FieldTree, Student, prune_features
from dpdsl.teachers.contract import Teacher

__all__ = ["CompileConfig", "CompileResult", "FieldFit", "compile_student", "file_sha256", "fit_field"]


@dataclass
class CompileResult:
    student: Student
    report: dict[str, Any]  # deterministic for a seed (goes into student.json)
    timings: dict[str, float]
    lrh_map: dict[str, Any]
    faithful: bool
    problems: list[str] = field(default_factory=list)


class _Stages:
    """Times named stages and reports them to an optional progress callback."""

    def __init__(self, progress: Callable[[str], None] | None) -> None:
        self.timings: dict[str, float] = {}
        self.progress = progress

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.progress:
            self.progress(name)
        t0 = time.perf_counter()
        yield
        self.timings[name] = round(time.perf_counter() - t0, 3)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --- the whole job ----------------------------------------------------------------------------------


def compile_student(spec: SpecIR, teacher: Teacher, cfg: CompileConfig, *, teacher_path: str | None = None,
                    progress: Callable[[str], None] | None = None) -> CompileResult:
    """Distil ``teacher`` into a decision-tree student for ``spec``."""
    torch.manual_seed(cfg.seed)
    st = _Stages(progress)
    with st.stage("sample"):
        graphs = sample_graphs(spec, cfg.samples, cfg.stream("sample"))
    with st.stage("teacher run"):
        run = run_teacher(spec, teacher, graphs)
    with st.stage("features + dataset"):
        feats = {f: candidate_features(spec, f) for f in spec.states}
        data = transition_dataset(spec, run, feats, max_samples=cfg.max_samples, seed=cfg.stream("dataset"))
    with st.stage("probes (LRH map)"):
        lmap = lrh_map(data, cfg)
    with st.stage("probes + tree"):
        fits = {name: fit_field(d, cfg) for name, d in data.items()}
    with st.stage("student"):
        student = Student(spec, {name: FieldTree(*prune_features(data[name].features, f.tree))
                                 for name, f in fits.items()})
    with st.stage("verify"):
        ver = teacher_fidelity(spec, student, teacher, cfg)
        if all(s.reference is not None for s in spec.states.values()):
            reference_check(spec, student, cfg, ver)
    dec = decide(fits, data, ver, run.init_agreement, run.label_source, cfg)
    report = _report(student, fits, data, run, teacher, ver.report, dec, cfg)
    if ver.counterexample:
        report["verification"]["counterexample"] = ver.counterexample
    student.meta = {"provenance": _provenance(teacher, teacher_path, data, cfg), "report": report}
    with st.stage("certify"):  # z3 proof against the reference (dpdsl verify); report is in meta too
        from dpdsl.certify.prove import certify

        report["certificate"] = certify(student).to_json()
    return CompileResult(student, report, st.timings, lmap, dec.faithful, dec.problems)


def _report(student: Student, fits: dict[str, FieldFit], data: dict, run: TeacherRun, teacher: Teacher,
            verification: dict[str, Any], dec: Decision, cfg: CompileConfig) -> dict[str, Any]:
    fields = {name: field_section(f, data[name], student.fields[name].rules, T.size(student.fields[name].tree),
                                  T.depth(student.fields[name].tree), cfg.tau) for name, f in fits.items()}
    return {
        "method": cfg.method,
        "teacher": {"arch": teacher.arch, "width": teacher.width, "label_source": run.label_source,
                    "steps": len(run.states) - 1, "init_agreement": report_number(run.init_agreement),
                    "notes": run.notes},
        "fields": fields,
        "verification": verification,
        "verdict": {"faithfulness": cfg.faithfulness, **dec.to_json()},
        "faithful": dec.faithful,
        "problems": dec.problems,
        "notes": dec.notes,
        "warnings": round_cap_warnings(verification),
    }


def _provenance(teacher: Teacher, teacher_path: str | None, data: dict, cfg: CompileConfig) -> dict[str, Any]:
    return {
        "teacher_sha256": file_sha256(teacher_path) if teacher_path else None,
        "teacher_arch": teacher.arch,
        "seed": cfg.seed,
        "config": cfg.to_json(),
        "distillation_graphs": cfg.samples,
        "transition_samples": {k: d.size for k, d in data.items()},
        "versions": library_versions(),
    }
