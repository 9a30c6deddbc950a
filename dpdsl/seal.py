"""Sealed students: ``student.json`` carries a sha256 digest over its own canonical content.

The digest covers every key except ``digest`` itself (spec text and hash, trees, predicates, terms,
rules, provenance, report), serialised canonically: sorted keys, compact separators, ASCII escapes,
no NaN. Loading recomputes it, so an edited or corrupted file is refused (exit 2) unless the user says
``--allow-modified`` (for trees edited by hand on purpose); ``run`` and ``eval`` then say the student
was modified. Students written before sealing have no digest: they load as "unsealed", with a warning.

The digest is an integrity check, not a signature: whoever can write the file can recompute it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from dpdsl.errors import CheckpointError

KEY = "digest"
ALGORITHM = "sha256"
SEALED, UNSEALED, MODIFIED = "sealed", "unsealed", "modified"


def canonical(obj: dict[str, Any]) -> bytes:
    """The bytes the digest is computed over: ``obj`` without its digest, canonically serialised."""
    body = {k: v for k, v in obj.items() if k != KEY}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode("ascii")


def digest(obj: dict[str, Any]) -> str:
    """sha256 hex of :func:`canonical`."""
    return hashlib.sha256(canonical(obj)).hexdigest()


def seal(obj: dict[str, Any]) -> dict[str, Any]:
    """A copy of the student object with a fresh digest."""
    return {**{k: v for k, v in obj.items() if k != KEY}, KEY: {"algorithm": ALGORITHM, "value": digest(obj)}}


def verify(obj: dict[str, Any], where: str, *, allow_modified: bool = False) -> str:
    """``SEALED``, ``UNSEALED`` (no digest: written before sealing) or ``MODIFIED`` (only with
    ``allow_modified``); a mismatching or malformed digest is a ``CheckpointError`` otherwise."""
    if KEY not in obj:
        return UNSEALED
    d = obj[KEY]
    ok_shape = isinstance(d, dict) and d.get("algorithm") == ALGORITHM and isinstance(d.get("value"), str)
    try:
        matches = ok_shape and d["value"] == digest(obj)
    except (TypeError, ValueError):  # not serialisable canonically (NaN smuggled in): cannot match
        matches = False
    if matches:
        return SEALED
    if allow_modified:
        return MODIFIED
    why = "its digest is malformed" if not ok_shape else "its content does not match its sha256 digest"
    raise CheckpointError(f"{where}: {why}, so the file was modified after compilation; pass "
                          "--allow-modified to load a hand-edited student")


def describe(status: str, where: str) -> str | None:
    """The warning line ``run``/``eval`` print for a student that is not sealed, or None."""
    if status == UNSEALED:
        return (f"dpdsl: warning: {where} is unsealed (written before dpdsl sealed students); "
                "its content is not verified")
    if status == MODIFIED:
        return (f"dpdsl: warning: {where} was modified after compilation (digest mismatch); "
                "loaded because of --allow-modified")
    return None
