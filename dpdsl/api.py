"""The library API the CLI is a thin layer over."""

from __future__ import annotations

from pathlib import Path

from dpdsl.check import check
from dpdsl.errors import UserError
from dpdsl.frontend.parser import parse
from dpdsl.ir import SpecIR
from dpdsl.limits import check_file_size


def load_spec_text(text: str, filename: str = "<spec>", grammar: str | Path | None = None) -> SpecIR:
    """Parse and check spec text; raises ``DslError`` with position on any problem."""
    spec = check(parse(text, filename, grammar))
    probe_rounds(spec)
    return spec


def load_spec(path: str | Path, grammar: str | Path | None = None) -> SpecIR:
    """Read, parse and check a ``.dp`` file."""
    p = Path(path)
    check_file_size(p, "spec_bytes", f"{p}: the spec file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read spec {p}: {err.strerror if isinstance(err, OSError) else err}") from None
    return load_spec_text(text, str(p), grammar)


def probe_rounds(spec: SpecIR) -> None:
    """Check-time test of the rounds expression on edgeless graphs of a few sizes: a non-finite count
    (``n * 0 + 1e308 * 10``) is an error for every graph, a count negative at every size (``0 - n``)
    can never run; both are positioned ``DslError``s instead of a silent zero-round run."""
    import torch

    from dpdsl.domains.instance import probe_instance
    from dpdsl.errors import DslError
    from dpdsl.execute import evaluate, make_context
    from dpdsl.graphs.core import Graph

    negative = []
    sizes = (1, 2, 16, 64) if spec.domain.indexed else (1, 2, 16, 4096)  # pairs of 4096 nodes: 16M tuples
    for n in sizes:
        if spec.domain.kind in ("nodes", "pairs"):
            ctx = make_context(spec, Graph(n, torch.zeros(2, 0, dtype=torch.long)))
        else:
            ctx = make_context(spec, probe_instance(spec, n))
        v = evaluate(spec.rounds.expr, ctx).to(torch.float64).reshape(-1)[:1]
        x = float(v.item())
        pos = spec.rounds.expr.pos
        if x != x or x in (float("inf"), float("-inf")):
            raise DslError(f"the round count is {x:g} for a graph with n = {n}; it must be a finite number >= 0",
                           line=pos.line or None, column=pos.column or 1, source=spec.source,
                           filename=spec.filename)
        negative.append(x < 0)
    if all(negative):
        pos = spec.rounds.expr.pos
        tried = ", ".join(map(str, sizes))
        raise DslError(f"the round count is negative for every graph size tried (n = {tried}); it must "
                       "be a finite number >= 0", line=pos.line or None, column=pos.column or 1,
                       source=spec.source, filename=spec.filename)
