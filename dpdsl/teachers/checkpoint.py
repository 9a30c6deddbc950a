"""Teacher checkpoints: safetensors weights + a JSON header in the safetensors metadata. No pickle.

Layout: the standard safetensors file (8-byte little-endian header length, JSON header, raw tensor
bytes). Its ``__metadata__`` holds one key, ``dpdsl``, whose value is our JSON header: format and
version, architecture, model config, spec name / sha256 / source text, training metrics, seed and
library versions. Loading validates the raw bytes *before* handing them to ``safetensors`` (which never
executes anything either), so a pickle renamed ``.safetensors``, a truncated file or a foreign header is
a one-line ``CheckpointError``; ``torch.load`` is never called.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from dpdsl import limits
from dpdsl.errors import CheckpointError, UserError
from dpdsl.fsutil import library_versions, write_bytes_atomic
from dpdsl.ir import SpecIR
from dpdsl.teachers.archs import ARCHS
from dpdsl.teachers.contract import Teacher

FORMAT = "dpdsl-teacher"
FORMAT_VERSION = 1
META_KEY = "dpdsl"
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


def read_container(path: str | Path, what: str = "checkpoint") -> tuple[bytes, dict, dict]:
    """Raw bytes, the parsed safetensors header and our JSON header (a JSON object), validated
    structurally; shared by teacher checkpoints and recorded traces (``dpdsl.teachers.traces``)."""
    p = Path(path)
    limits.check_file_size(p, "checkpoint_bytes", f"{p}: the {what}")
    try:
        data = p.read_bytes()
    except OSError as err:
        raise CheckpointError(f"cannot read {what} {p}: {err.strerror}") from None
    if len(data) < 8:
        raise CheckpointError(f"{p} is not a safetensors {what} (only {len(data)} bytes)")
    (hlen,) = struct.unpack("<Q", data[:8])
    if data[8:9] != b"{" or hlen > MAX_HEADER:
        kind = "a pickle (e.g. torch.save output)" if data[:1] == b"\x80" or data[:2] == b"PK" else "not safetensors"
        raise CheckpointError(f"{p} is {kind}; dpdsl only loads safetensors checkpoints and never unpickles")
    if 8 + hlen > len(data):
        raise CheckpointError(f"{p} is truncated: header needs {8 + hlen} bytes, file has {len(data)}")
    try:
        st_header = limits.loads_json(data[8:8 + hlen], f"{p}: the safetensors header")
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"{p} has a corrupt safetensors header") from None
    if not isinstance(st_header, dict):
        raise CheckpointError(f"{p} has a corrupt safetensors header")
    end = _tensor_end(p, st_header)
    if 8 + hlen + end > len(data):
        raise CheckpointError(f"{p} is truncated: tensors need {8 + hlen + end} bytes, file has {len(data)}")
    meta = st_header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"{p} has a corrupt safetensors header (__metadata__ must map names to strings)")
    if META_KEY not in meta:
        raise CheckpointError(f"{p} is a safetensors file without a dpdsl teacher header")
    try:
        header = limits.loads_json(meta[META_KEY], f"{p}: the dpdsl header")
    except (TypeError, json.JSONDecodeError):
        raise CheckpointError(f"{p} has a corrupt dpdsl header (not JSON)") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{p} has a corrupt dpdsl header (not a JSON object)")
    return data, st_header, header


def container_format(path: str | Path) -> str | None:
    """The ``format`` of a dpdsl safetensors file (``dpdsl-teacher``, ``dpdsl-traces``), or None."""
    fmt = read_container(path)[2].get("format")
    return fmt if isinstance(fmt, str) else None


def _read(path: str | Path) -> tuple[bytes, dict, dict]:
    """A teacher checkpoint's container, with the teacher header's fields checked."""
    p = Path(path)
    data, st_header, header = read_container(p)
    missing = [k for k in REQUIRED if k not in header]
    if missing:
        raise CheckpointError(f"{p} header lacks field(s): {', '.join(missing)}")
    _check_header_types(p, header)
    if header["format"] != FORMAT:
        raise CheckpointError(f"{p} is a '{header['format']}' file, not a dpdsl teacher")
    if header["format_version"] != FORMAT_VERSION:
        raise CheckpointError(f"{p} has teacher format version {header['format_version']}; "
                              f"this dpdsl reads version {FORMAT_VERSION}")
    if header["arch"] not in ARCHS:
        raise CheckpointError(f"{p} has unknown teacher architecture '{header['arch']}' "
                              f"(known: {', '.join(ARCHS)})")
    return data, st_header, header


def _tensor_end(p: Path, st_header: dict) -> int:
    """End of the tensor data the header describes; every entry's fields are type-checked first."""
    end = 0
    for k, v in st_header.items():
        if k == "__metadata__":
            continue
        offs = v.get("data_offsets") if isinstance(v, dict) else None
        shape = v.get("shape") if isinstance(v, dict) else None
        ok = (isinstance(v, dict) and isinstance(v.get("dtype"), str) and isinstance(shape, list)
              and all(_nat(d) for d in shape) and isinstance(offs, list) and len(offs) == 2
              and all(_nat(o) for o in offs) and offs[0] <= offs[1])
        if not ok:
            raise CheckpointError(f"{p} has a corrupt safetensors header (tensor {k[:60]!r} needs a dtype, "
                                  "a shape of sizes >= 0 and data_offsets [begin, end])")
        end = max(end, offs[1])
    return end


def _nat(x: object) -> bool:
    """A JSON integer >= 0 (not a bool)."""
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def _check_header_types(p: Path, header: dict) -> None:
    """Field types before any is used (an ``arch`` list used to crash a dict lookup)."""
    want = {"format": str, "format_version": int, "arch": str, "config": dict, "spec_name": str,
            "spec_hash": str, "spec_source": str}
    for key, typ in want.items():
        if not isinstance(header[key], typ) or isinstance(header[key], bool):
            raise CheckpointError(f"{p} has a corrupt dpdsl header ({key} must be a {typ.__name__})")
    if not isinstance(header.get("metrics", {}), dict):
        raise CheckpointError(f"{p} has a corrupt dpdsl header (metrics must be an object)")


def _check_config_fits(p: Path, config: dict, spec: SpecIR) -> None:
    """The config's fields must be the spec's: a forged spec hash used to surface as ``KeyError: 'w'``."""
    from dpdsl.registry import RELATIONS

    types = {**{k: v.type for k, v in spec.node_inputs.items()}, **{k: v.type for k, v in spec.edge_inputs.items()},
             **{k: v.type for k, v in spec.states.items()}, **{k: v.type for k, v in spec.outputs.items()},
             **{k: v.type for k, v in spec.domain.inputs.items()}}

    def names(key: str) -> set[str]:
        items = config.get(key, [])
        if not isinstance(items, list) or not all(isinstance(d, dict) and isinstance(d.get("name"), str)
                                                  for d in items):
            raise CheckpointError(f"{p} has an invalid config: {key} must be a list of field objects")
        for d in items:  # an enum's width is its label count: it must be the spec's, not 10**9
            t = types.get(d["name"])
            want = len(t.labels) if t is not None else 0
            if d.get("labels", 0) != want:
                raise CheckpointError(f"{p} has an invalid config: {key} '{d['name'][:40]}' has labels = "
                                      f"{str(d.get('labels'))[:20]}, the spec's type has {want}")
        return {d["name"] for d in items}

    problems = []
    if names("state_fields") != set(spec.states):
        problems.append("state fields")
    if not names("node_fields") <= set(spec.node_inputs) or not names("edge_fields") <= set(spec.edge_inputs) \
            or not names("pos_fields") <= set(spec.domain.inputs):
        problems.append("inputs")
    if not names("output_fields") <= set(spec.outputs):
        problems.append("outputs")
    rels, ptrs = config.get("relations", []), config.get("pointers", {})
    if not isinstance(rels, list) or not all(isinstance(r, str) and r in RELATIONS for r in rels):
        problems.append("relations")
    if not isinstance(ptrs, dict) or not set(ptrs) <= set(spec.outputs):
        problems.append("pointer outputs")
    if problems:
        raise CheckpointError(f"{p}: its config does not fit spec '{spec.name}' ({', '.join(problems)} differ); "
                              "the checkpoint's header is inconsistent")


def _check_size(p: Path, net_cls: type, config: dict, tensor_bytes: int) -> None:
    """Size the network on torch's meta device (nothing allocated) and refuse a config whose weights
    need more bytes than the file holds: ``hidden`` 8192 in a 778 KB file used to take 3 GB first."""
    import torch

    try:
        with torch.device("meta"):
            net = net_cls(config)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError, OverflowError) as err:
        raise CheckpointError(f"{p} has an invalid config ({type(err).__name__}: {err})") from None
    need = sum(t.numel() * t.element_size() for t in net.state_dict().values())
    if need > tensor_bytes:
        raise CheckpointError(f"{p}: its config describes {need:,} bytes of weights but the file holds "
                              f"{tensor_bytes:,}; the header does not match the weights")


def non_finite_weight(tensors: dict) -> str | None:
    """The name of the first floating-point tensor holding NaN or infinity, or None."""
    import torch

    for name, t in tensors.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            return name
    return None


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
    if hashlib.sha256(header["spec_source"].encode()).hexdigest() != header["spec_hash"]:
        raise CheckpointError(f"{p}: its header is inconsistent (the stored spec text does not hash to its "
                              "spec_hash)")
    net_cls, teacher_cls = ARCHS[header["arch"]].net, ARCHS[header["arch"]].teacher
    _check_config(p, header["config"])
    _check_config_fits(p, header["config"], spec)
    _check_size(p, net_cls, header["config"], len(data) - 8 - struct.unpack("<Q", data[:8])[0])
    try:
        net = net_cls(header["config"])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError, OverflowError) as err:
        raise CheckpointError(f"{p} has an invalid {header['arch']} config ({type(err).__name__}: {err})") from None
    try:
        tensors = st_load(data)
    except (SafetensorError, ValueError) as err:
        raise CheckpointError(f"{p} has corrupt tensor data ({str(err).splitlines()[0]})") from None
    bad = non_finite_weight(tensors)
    if bad is not None:
        raise CheckpointError(f"{p}: weight '{bad}' holds NaN or infinity; the checkpoint is unusable "
                              "(did training diverge?)")
    try:
        net.load_state_dict(tensors, strict=True)
    except RuntimeError as err:
        raise CheckpointError(f"{p}: weights do not fit the {header['arch']} config "
                              f"({str(err).splitlines()[0]})") from None
    teacher = teacher_cls(spec, header["config"], net)
    teacher.metrics = header.get("metrics", {})  # type: ignore[attr-defined]
    return teacher
