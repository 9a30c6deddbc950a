"""``dpdsl verify DIR [--spec SPEC]``: certify a compiled student; exit 0 certified, 1 not certified,
2 user error."""

from __future__ import annotations

import json

from dpdsl.errors import UserError


def verify_main(args) -> int:
    from dpdsl.api import load_spec
    from dpdsl.certify.prove import certify
    from dpdsl.certify.render import render_certificate
    from dpdsl.student import Student, load_student

    student = load_student(args.student)
    if args.spec:
        # the same spec with (new) assume lines: the hash leaves them out, so it must match exactly
        spec = load_spec(args.spec)
        if spec.hash != student.spec.hash:
            raise UserError(f"{args.spec} is not the spec {args.student} was compiled from (sha256 "
                            f"{spec.hash[:12]}… vs {student.spec.hash[:12]}…; only assume lines may differ)")
        student = Student(spec, student.fields, student.meta)
    cert = certify(student, search=not args.no_search)
    if args.json:
        print(json.dumps(cert.to_json(), indent=2, sort_keys=True))
    else:
        print(render_certificate(cert))
    return cert.exit_code
