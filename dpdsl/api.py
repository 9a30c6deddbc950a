"""The library API the CLI is a thin layer over."""

from __future__ import annotations

from pathlib import Path

from dpdsl.check import check
from dpdsl.errors import UserError
from dpdsl.frontend.parser import parse
from dpdsl.ir import SpecIR


def load_spec_text(text: str, filename: str = "<spec>", grammar: str | Path | None = None) -> SpecIR:
    """Parse and check spec text; raises ``DslError`` with position on any problem."""
    return check(parse(text, filename, grammar))


def load_spec(path: str | Path, grammar: str | Path | None = None) -> SpecIR:
    """Read, parse and check a ``.dp`` file."""
    p = Path(path)
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"cannot read spec {p}: {err.strerror if isinstance(err, OSError) else err}") from None
    return load_spec_text(text, str(p), grammar)
