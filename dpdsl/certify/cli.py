"""``dpdsl verify DIR``: certify a compiled student; exit 0 certified, 1 not certified, 2 user error."""

from __future__ import annotations

import json


def verify_main(args) -> int:
    from dpdsl.certify.prove import certify
    from dpdsl.certify.render import render_certificate
    from dpdsl.student import load_student

    student = load_student(args.student)
    cert = certify(student, search=not args.no_search)
    if args.json:
        print(json.dumps(cert.to_json(), indent=2, sort_keys=True))
    else:
        print(render_certificate(cert))
    return cert.exit_code
