"""``dpdsl export DIR --format onnx -o FILE``: a student as an ONNX model (``dpdsl.export``)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def export_main(args) -> int:
    from dpdsl.export import export_onnx
    from dpdsl.fsutil import write_bytes_atomic
    from dpdsl.preflight import output_file
    from dpdsl.seal import describe
    from dpdsl.student import load_student

    out = output_file(args.output, force=args.force)
    student = load_student(args.student, allow_modified=args.allow_modified)
    note = describe(student.seal_status, str(Path(args.student) / "student.json"))
    if note:
        print(note, file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="dpdsl-export-") as tmp:
        ex = export_onnx(student.spec, student.transitions(), Path(tmp) / "model.onnx")
        write_bytes_atomic(out, ex.path.read_bytes(), force=args.force)
    print(f"wrote {out}: ONNX model of the {student.spec.name} student (inputs {', '.join(ex.inputs)}; "
          f"outputs {', '.join(ex.outputs)})")
    return 0
