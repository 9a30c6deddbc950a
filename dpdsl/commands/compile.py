"""``dpdsl compile``: argument handling and output over ``dpdsl.distill.pipeline``."""

from __future__ import annotations

import sys


def compile_main(args) -> int:
    from rich.console import Console

    from dpdsl.api import load_spec
    from dpdsl.distill.pipeline import CompileConfig, compile_student
    from dpdsl.distill.report import render_text, write_student_dir
    from dpdsl.fsutil import write_dir_atomic
    from dpdsl.preflight import open_teacher, output_dir
    from dpdsl.student import dumps_student

    spec = load_spec(args.spec)
    # flags (validated by the config), output directory and teacher before the slow part
    cfg = CompileConfig(method=args.method, seed=args.seed, samples=args.samples, beam=args.beam,
                        max_depth=args.max_depth, tau=args.tau, fidelity=args.fidelity,
                        faithfulness=args.faithfulness, max_noise=args.max_noise)
    out = output_dir(args.output or f"out/{spec.name}", force=args.force)
    teacher = open_teacher(args.teacher, spec, trust_code=args.trust_code, modules=args.teacher_module)
    console = Console(stderr=True, quiet=args.quiet)
    with console.status("distilling") as status:
        res = compile_student(spec, teacher, cfg, teacher_path=args.teacher,
                              progress=lambda s: status.update(f"stage: {s}"))
    if not args.quiet:
        print(render_text(res.report, res.timings) + "\n")
    print(verdict_line(spec.name, res.report))
    for w in res.report.get("warnings", []):
        print(f"dpdsl: warning: {w}", file=sys.stderr)
    if not res.faithful and not args.keep_unfaithful:
        print("dpdsl: student is not faithful; nothing written (pass --keep-unfaithful to keep it)",
              file=sys.stderr)
        return 1
    text = dumps_student(res.student.to_json())
    write_dir_atomic(out, lambda tmp: write_student_dir(tmp, text, res.report, res.timings, res.lrh_map,
                                                        f"LRH map: {spec.name} / {teacher.arch} teacher"),
                     force=args.force)
    if not args.quiet:
        print(f"\nwrote {out}/ (student.json, report.txt, report.json, lrh_map.json, lrh_map.png)")
    return 0


def verdict_line(name: str, report: dict) -> str:
    """The one line ``compile --quiet`` prints: the verdict, the problems or the exactness per scale."""
    if report["problems"]:
        return "NOT FAITHFUL: " + "; ".join(report["problems"])
    rows = report["verification"].get("reference", [])
    exact = "/".join(f"{r['node_exact']:g}" for r in rows)
    scales = "/".join(f"{r['scale']}x" for r in rows)
    return f"FAITHFUL: {name}" + (f" (exact vs reference at {scales}: {exact})" if rows else "")
