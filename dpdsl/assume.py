"""``assume FIELD : bool-expr`` lines: claims about the arguments a field's ``unknown(...)`` can see.

An assumption restricts nothing the DP computes: the executor, teachers, the distiller and students
never read it. It is an *invariant* the user claims for the values that can occur (e.g. kcore: a dead
node has fewer than ``k`` live neighbours, ``assume alive : alive or degree < k``), and ``dpdsl verify``
proves a student equal to the reference on the inputs that satisfy it (docs/certificates.md §4).

Because an assumption changes no computation, the spec hash (``SpecIR.hash``) leaves ``assume`` lines
out: a teacher trained before an ``assume`` line was added still matches its spec. To make "leave the
line out" exact, an ``assume`` declaration must be a line of its own (a comment may follow it).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

ASSUME_LINE = re.compile(r"^[ \t]*assume(?![A-Za-z_0-9])")


def hashed_source(source: str) -> str:
    """The spec text the hash covers: the source without its ``assume`` lines."""
    return "".join(line for line in source.splitlines(keepends=True) if not ASSUME_LINE.match(line))


def check_assumes(checker: Any, decls: list[Any], field: str, scope: Any,
                  typed: Any) -> tuple[Any, ...]:
    """Type the ``assume`` declarations of ``field`` in ``scope`` (its unknown's arguments, params and
    labels); each must be bool and sit on a line of its own. ``checker`` is the checker's state and
    ``typed(checker, expr, scope)`` its expression type checker."""
    lines = checker.src.splitlines()
    starts = {}
    for d in checker.ast.decls:
        starts.setdefault(d.pos.line, []).append(d)
    out = []
    for d in decls:
        if d.name != field:
            continue
        line = lines[d.pos.line - 1] if 0 < d.pos.line <= len(lines) else ""
        alone = (d.end_line in (0, d.pos.line) and not line[: d.pos.column - 1].strip()
                 and len(starts.get(d.pos.line, [])) == 1)
        if not alone:
            raise checker.err("an 'assume' declaration must be a line of its own (the spec hash leaves "
                              "assume lines out)", d.pos)
        e = typed(checker, d.expr, replace(scope, what=f"an assumption for {field}"))
        if e.type.kind != "bool":
            raise checker.err(f"an assumption must be bool, got {e.type}", d.expr.pos)
        out.append(e)
    return tuple(out)
