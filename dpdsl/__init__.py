"""dpdsl: a declarative DSL compiler for DP-aligned students.

Import surface (the CLI is a thin layer over these):

* ``load_spec(path)`` / ``load_spec_text(text)`` — parse and check a ``.dp`` spec into its typed IR;
* ``run_reference(spec, graph)`` — the exact DP (reference executor);
* ``emit(spec)`` — the torch-geometric skeleton as Python source;
* ``compile_student(spec, teacher, CompileConfig(...))`` — distil a teacher into a student;
* ``load_student(dir)`` — a compiled student; ``student.run(graph)``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["load_spec", "load_spec_text", "run_reference", "emit", "compile_student", "CompileConfig",
           "load_student", "__version__"]


def __getattr__(name: str):
    # lazy: importing dpdsl stays cheap (torch-geometric and scikit-learn load only when needed)
    if name in ("load_spec", "load_spec_text"):
        from dpdsl import api

        return getattr(api, name)
    if name == "run_reference":
        from dpdsl.execute import run_reference

        return run_reference
    if name == "emit":
        from dpdsl.codegen import emit

        return emit
    if name in ("compile_student", "CompileConfig"):
        from dpdsl.distill import pipeline

        return getattr(pipeline, name)
    if name == "load_student":
        from dpdsl.student import load_student

        return load_student
    raise AttributeError(f"module 'dpdsl' has no attribute {name!r}")
