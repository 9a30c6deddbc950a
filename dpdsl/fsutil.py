"""Atomic, non-clobbering output: a crash never leaves half a file, and nothing is overwritten silently.

Directories (students) are built in a hidden sibling ``.NAME.dpdsl-partial-PID-XXXXXXXX`` holding an
``.dpdsl-incomplete`` marker, renamed into place, and only then unmarked. A directory that is marked
or named like a temporary one is never loadable (``incomplete_reason``), so a compile killed with
SIGKILL at any instant leaves nothing a loader accepts; the next write to the same target removes the
siblings whose writer process is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from dpdsl.errors import UserError

STUDENT_FILE = "student.json"
INCOMPLETE = ".dpdsl-incomplete"
PARTIAL_TAG = ".dpdsl-partial-"
OLD_TAG = ".dpdsl-old-"
_TEMP_NAME = re.compile(r"^\..+\.dpdsl-(?:partial|old)-(\d+)-[A-Za-z0-9_]+$")
_LEGACY_TEMP_NAME = re.compile(r"^\..+\.(?:old\.)?[a-z0-9_]{8}$")  # mkdtemp names before sealing
LEGACY_STALE_SECONDS = 600


def refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UserError(f"{path} already exists; pass --force to overwrite it")


def _cannot_write(p: Path, err: OSError) -> UserError:
    """An OSError while writing (read-only file system, permissions, disk full) as one line."""
    return UserError(f"cannot write {p}: {err.strerror or err}")


def write_bytes_atomic(path: str | Path, data: bytes, *, force: bool = False) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``."""
    p = Path(path)
    refuse_existing(p, force)
    if p.is_dir():
        raise UserError(f"cannot write {p}: it is a directory")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    except OSError as err:
        raise _cannot_write(p, err) from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; outputs are ordinary files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise _cannot_write(p, err) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def write_text_atomic(path: str | Path, text: str, *, force: bool = False) -> Path:
    return write_bytes_atomic(path, text.encode(), force=force)


def library_versions() -> dict[str, str]:
    """Versions recorded in artifacts' provenance."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("dpdsl", "torch", "torch_geometric", "scikit-learn", "numpy", "safetensors"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def write_dir_atomic(path: str | Path, fill: Callable[[Path], None], *, force: bool = False) -> Path:
    """Build a directory in a marked temp sibling with ``fill(tmpdir)``, move it into place, unmark it.

    With ``force`` an existing directory is replaced only after the new one is complete. Stale temp
    siblings of earlier, killed writers to the same target are removed first.
    """
    p = Path(path)
    refuse_existing(p, force)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        clean_stale(p)
        tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}{PARTIAL_TAG}{os.getpid()}-", dir=p.parent))
    except OSError as err:
        raise _cannot_write(p, err) from None
    try:
        (tmp / INCOMPLETE).write_text(f"{os.getpid()}\n")
        fill(tmp)
        if p.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{p.name}{OLD_TAG}{os.getpid()}-", dir=p.parent))
            old.rmdir()
            os.replace(p, old)
            os.replace(tmp, p)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, p)
        (p / INCOMPLETE).unlink()
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _cannot_write(p, err) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return p


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (then its temp directory is not stale)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0
    return True


def clean_stale(target: Path) -> list[Path]:
    """Remove temp siblings of ``target`` left by writers that no longer run (SIGKILL, power loss)."""
    removed = []
    try:
        siblings = list(target.parent.iterdir())
    except OSError:
        return removed
    for d in siblings:
        if not d.name.startswith(f".{target.name}.") or not d.is_dir() or d.is_symlink():
            continue
        m = _TEMP_NAME.match(d.name)
        legacy = m is None and _LEGACY_TEMP_NAME.match(d.name) is not None
        try:
            stale = (m is not None and not _alive(int(m.group(1)))) or (
                legacy and time.time() - d.stat().st_mtime > LEGACY_STALE_SECONDS)
        except OSError:
            continue
        if stale:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def incomplete_reason(d: Path) -> str | None:
    """Why directory ``d`` must not be loaded as a finished artifact, or None if it may."""
    if (d / INCOMPLETE).exists():
        return "it is marked incomplete (a write into it was interrupted)"
    name = d.resolve().name if d.name in ("", ".", "..") else d.name
    if _TEMP_NAME.match(name) or _LEGACY_TEMP_NAME.match(name):
        return "its name marks it as a temporary directory of an interrupted write"
    return None
