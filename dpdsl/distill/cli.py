"""``dpdsl compile``: argument handling and output over ``dpdsl.distill.pipeline``."""

from __future__ import annotations

import sys
from pathlib import Path

from dpdsl.errors import UserError


def compile_main(args) -> int:
    from rich.console import Console

    from dpdsl.api import load_spec
    from dpdsl.distill.pipeline import CompileConfig, compile_student
    from dpdsl.distill.report import render_text, write_student_dir
    from dpdsl.fsutil import refuse_existing, write_dir_atomic
    from dpdsl.student import dumps_student
    from dpdsl.teachers.checkpoint import load_teacher

    spec = load_spec(args.spec)
    out = Path(args.output or f"out/{spec.name}")
    refuse_existing(out, args.force)  # fail before the slow part
    for flag, val in (("--samples", args.samples), ("--beam", args.beam), ("--max-depth", args.max_depth)):
        if val < 1:
            raise UserError(f"{flag} must be >= 1, got {val}")
    if not 0 < args.fidelity <= 1:
        raise UserError(f"--fidelity must be in (0, 1], got {args.fidelity}")
    if args.tau <= 0:
        raise UserError(f"--tau must be > 0, got {args.tau}")
    if args.teacher.endswith(".json"):  # a user model through the adapter (examples/user_teacher/)
        from dpdsl.teachers.adapter import load_user_teacher_config

        teacher = load_user_teacher_config(args.teacher, spec)
    else:
        teacher = load_teacher(args.teacher, spec)
    cfg = CompileConfig(method=args.method, seed=args.seed, samples=args.samples, beam=args.beam,
                        max_depth=args.max_depth, tau=args.tau, fidelity=args.fidelity)
    console = Console(stderr=True, quiet=args.quiet)
    with console.status("distilling") as status:
        res = compile_student(spec, teacher, cfg, teacher_path=args.teacher,
                              progress=lambda s: status.update(f"stage: {s}"))
    print(render_text(res.report, res.timings))
    if not res.faithful and not args.keep_unfaithful:
        print("\ndpdsl: student is not faithful; nothing written (pass --keep-unfaithful to keep it)",
              file=sys.stderr)
        return 1
    text = dumps_student(res.student.to_json())
    write_dir_atomic(out, lambda tmp: write_student_dir(tmp, text, res.report, res.timings, res.lrh_map,
                                                        f"LRH map: {spec.name} / {teacher.arch} teacher"),
                     force=args.force)
    print(f"\nwrote {out}/ (student.json, report.txt, report.json, lrh_map.json, lrh_map.png)")
    return 0
