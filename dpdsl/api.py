"""The library API the CLI is a thin layer over."""

from __future__ import annotations

from pathlib import Path

from dpdsl.check import check
from dpdsl.errors import UserError
from dpdsl.frontend.parser import parse
from dpdsl.ir import SpecIR
from dpdsl.limits import check_file_size, probe_rounds


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
