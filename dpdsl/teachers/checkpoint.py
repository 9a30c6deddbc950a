"""Teacher checkpoints: safetensors weights + a JSON header in the safetensors metadata. No pickle.

Layout: the standard safetensors file (8-byte little-endian header length, JSON header, raw tensor
bytes). Its ``__metadata__`` holds one key, ``dpdsl``, whose value is our JSON header: format and
version, architecture, model config, spec name / sha256 / source text, training metrics, seed and
library versions. Loading validates the raw bytes *before* handing them to ``safetensors`` (which never
executes anything either), so a pickle renamed ``.safetensors``, a truncated file or a foreign header is
a one-line ``CheckpointError``; ``torch.load`` is never called.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from dpdsl.errors import CheckpointError, UserError
from dpdsl.fsutil import library_versions, write_bytes_atomic
from dpdsl.ir import SpecIR
from dpdsl.teachers.aligned import AlignedNet, AlignedTeacher
from dpdsl.teachers.contract import Teacher
from dpdsl.teachers.transformer import TransformerNet, TransformerTeacher

FORMAT = "dpdsl-teacher"
FORMAT_VERSION = 1
META_KEY = "dpdsl"
ARCHS = {"aligned": (AlignedNet, AlignedTeacher), "transformer": (TransformerNet, TransformerTeacher)}
REQUIRED = ("format", "format_version", "arch", "config", "spec_name", "spec_hash", "spec_source")
MAX_HEADER = 100 * 1024 * 1024


def _jsonable(x: object) -> object:
    """Metrics may hold NaN/inf (a diverged loss) or tuples: make them strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _check_config(p: Path, config: object) -> None:
    """Refuse configs that would make us allocate absurd networks before any weight is checked."""
    if not isinstance(config, dict):
        raise CheckpointError(f"{p} has an invalid config (not a JSON object)")
    for key, hi in (("hidden", 8192), ("layers", 256), ("heads", 256), ("value_channels", 1024)):
        v = config.get(key, 1)
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= hi:
            raise CheckpointError(f"{p} has an invalid config: {key} = {v!r}")


def save_teacher(teacher: Teacher, path: str | Path, metrics: dict | None = None, *,
                 overwrite: bool = False) -> Path:
    """Write a zoo teacher atomically (temp file + ``os.replace``); refuse to overwrite unless asked."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise CheckpointError(f"{p} exists; pass overwrite=True (--force) to replace it")
    if teacher.arch not in ARCHS or not hasattr(teacher, "net"):
        raise CheckpointError(f"cannot save a teacher of architecture '{teacher.arch}' (zoo teachers only)")
    spec: SpecIR = teacher.spec  # type: ignore[attr-defined]
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": teacher.arch,
        "config": teacher.config,  # type: ignore[attr-defined]
        "spec_name": spec.name,
        "spec_hash": spec.hash,
        "spec_source": spec.source,
        "seed": teacher.config.get("seed"),  # type: ignore[attr-defined]
        "metrics": _jsonable(metrics or {}),
        "versions": library_versions(),
    }
    tensors = {k: v.detach().contiguous().clone() for k, v in teacher.net.state_dict().items()}  # type: ignore[attr-defined]
    data = st_save(tensors, metadata={META_KEY: json.dumps(header, sort_keys=True, allow_nan=False)})
    return write_bytes_atomic(p, data, force=True)  # existence was checked above


def _read(path: str | Path) -> tuple[bytes, dict, dict]:
    """Raw bytes, the parsed safetensors header and our JSON header, validated structurally."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint {p}: {err.strerror}") from None
    if len(data) < 8:
        raise CheckpointError(f"{p} is not a safetensors checkpoint (only {len(data)} bytes)")
    (hlen,) = struct.unpack("<Q", data[:8])
    if data[8:9] != b"{" or hlen > MAX_HEADER:
        kind = "a pickle (e.g. torch.save output)" if data[:1] == b"\x80" or data[:2] == b"PK" else "not safetensors"
        raise CheckpointError(f"{p} is {kind}; dpdsl only loads safetensors checkpoints and never unpickles")
    if 8 + hlen > len(data):
        raise CheckpointError(f"{p} is truncated: header needs {8 + hlen} bytes, file has {len(data)}")
    try:
        st_header = json.loads(data[8:8 + hlen])
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{p} has a corrupt safetensors header") from None
    if not isinstance(st_header, dict):
        raise CheckpointError(f"{p} has a corrupt safetensors header")
    end = max((int(v["data_offsets"][1]) for k, v in st_header.items()
               if k != "__metadata__" and isinstance(v, dict) and "data_offsets" in v), default=0)
    if 8 + hlen + end > len(data):
        raise CheckpointError(f"{p} is truncated: tensors need {8 + hlen + end} bytes, file has {len(data)}")
    meta = st_header.get("__metadata__") or {}
    if META_KEY not in meta:
        raise CheckpointError(f"{p} is a safetensors file without a dpdsl teacher header")
    try:
        header = json.loads(meta[META_KEY])
    except (TypeError, json.JSONDecodeError):
        raise CheckpointError(f"{p} has a corrupt dpdsl header (not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{p} has a corrupt dpdsl header (not a JSON object)")
    missing = [k for k in REQUIRED if k not in header]
    if missing:
        raise CheckpointError(f"{p} header lacks field(s): {', '.join(missing)}")
    if header["format"] != FORMAT:
        raise CheckpointError(f"{p} is a '{header['format']}' file, not a dpdsl teacher")
    if header["format_version"] != FORMAT_VERSION:
        raise CheckpointError(f"{p} has teacher format version {header['format_version']}; "
                              f"this dpdsl reads version {FORMAT_VERSION}")
    if header["arch"] not in ARCHS:
        raise CheckpointError(f"{p} has unknown teacher architecture '{header['arch']}' "
                              f"(known: {', '.join(ARCHS)})")
    return data, st_header, header


def checkpoint_info(path: str | Path) -> dict:
    """The validated JSON header (no weights are decoded, nothing is built)."""
    return _read(path)[2]


def load_teacher(path: str | Path, spec: SpecIR | None = None) -> Teacher:
    """Load a zoo teacher; ``spec`` (if given) must be the exact spec it was trained on.

    Without ``spec`` the spec text stored in the header is re-checked and used.
    """
    p = Path(path)
    data, _, header = _read(p)
    if spec is None:
        from dpdsl.api import load_spec_text

        try:
            spec = load_spec_text(str(header["spec_source"]), f"{p}:spec")
        except UserError as err:
            raise CheckpointError(f"{p}: its stored spec does not check ({err.one_line()}); "
                                  "pass the spec explicitly") from None
    if spec.hash != header["spec_hash"]:
        raise CheckpointError(f"{p} was trained on spec '{header['spec_name']}' sha256 "
                              f"{str(header['spec_hash'])[:12]}…, not on '{spec.name}' sha256 {spec.hash[:12]}…")
    net_cls, teacher_cls = ARCHS[header["arch"]]
    _check_config(p, header["config"])
    try:
        net = net_cls(header["config"])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise CheckpointError(f"{p} has an invalid {header['arch']} config ({type(err).__name__}: {err})") from None
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError) as err:
        raise CheckpointError(f"{p} has corrupt tensor data ({str(err).splitlines()[0]})") from None
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{p}: weights do not fit the {header['arch']} config "
                              f"({str(err).splitlines()[0]})") from None
    teacher = teacher_cls(spec, header["config"], net)
    teacher.metrics = header.get("metrics", {})  # type: ignore[attr-defined]
    return teacher
