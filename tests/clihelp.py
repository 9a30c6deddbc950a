"""Helpers for the hardening and fuzz tests: run the CLI in-process and check the one-line contract."""

from __future__ import annotations

import contextlib
import io
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dpdsl.cli import main

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"
TEACHERS = ROOT / "teachers"


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.err.strip().splitlines()


def cli(*args: str | Path) -> Result:
    """``dpdsl.cli.main`` in-process with stdout and stderr captured."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return Result(code, out.getvalue(), err.getvalue())


def is_caret_block(lines: list[str]) -> bool:
    """A spec error: ``file:line:col: error: ...``, the source line, then a caret line."""
    return len(lines) == 3 and ": error: " in lines[0] and lines[2].strip() == "^"


def assert_user_error(r: Result, *needles: str, caret: bool | None = None) -> None:
    """Exit 2 with one line (or the 3-line caret block of a spec error) containing every needle."""
    assert r.code == 2, (r.code, r.err[-3000:])
    lines = r.lines
    ok = len(lines) == 1 or is_caret_block(lines)
    assert ok, lines
    if caret is not None:
        assert is_caret_block(lines) == caret, lines
    for n in needles:
        assert n in lines[0], (n, lines[0])


def rewrite_checkpoint(src: Path, dst: Path, edit: Callable[[dict, dict], None]) -> Path:
    """Copy a safetensors checkpoint, letting ``edit(st_header, dpdsl_header)`` change its headers."""
    data = src.read_bytes()
    (hlen,) = struct.unpack("<Q", data[:8])
    st = json.loads(data[8:8 + hlen])
    orig = st["__metadata__"]["dpdsl"]
    header = json.loads(orig)
    edit(st, header)
    meta = st.get("__metadata__")
    if isinstance(meta, dict) and meta.get("dpdsl") == orig:  # the edit did not replace it wholesale
        meta["dpdsl"] = json.dumps(header)
    raw = json.dumps(st).encode()
    raw += b" " * (-len(raw) % 8)
    dst.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + hlen:])
    return dst
