"""Atomic, non-clobbering output: a crash never leaves half a file, and nothing is overwritten silently."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from dpdsl.errors import UserError


def refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise UserError(f"{path} already exists; pass --force to overwrite it")


def write_bytes_atomic(path: str | Path, data: bytes, *, force: bool = False) -> Path:
    """Write ``data`` to ``path`` via a temp file in the same directory and ``os.replace``."""
    p = Path(path)
    refuse_existing(p, force)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; outputs are ordinary files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
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
    """Build a directory in a temp sibling with ``fill(tmpdir)``, then move it into place.

    With ``force`` an existing directory is replaced only after the new one is complete.
    """
    p = Path(path)
    refuse_existing(p, force)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{p.name}.", dir=p.parent))
    try:
        fill(tmp)
        if p.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{p.name}.old.", dir=p.parent))
            old.rmdir()
            os.replace(p, old)
            os.replace(tmp, p)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, p)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return p
