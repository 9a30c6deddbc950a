"""The binary graph format: a numpy ``.npz`` archive of flat arrays, for graphs too big for JSON.

Why ``.npz`` and not Parquet: numpy is already a dependency (no pyarrow), a graph is arrays of two
different lengths (per node, per edge) that one archive holds side by side (Parquet is one table per
file), and each member is a raw ``.npy`` block that loads straight into the tensor's memory: no Python
objects per edge. A 1M-node / 10M-edge weighted graph is ~250 MB and loads in about a second.

Schema (``FORMAT`` = ``dpdsl-graph/1``; ``save_graph(g, "x.npz")`` writes it, ``load_graph`` reads it)::

    format      0-d unicode   "dpdsl-graph/1"
    num_nodes   0-d integer   >= 1
    directed    0-d bool
    edge_index  [2, E] integer (int64 or int32), rows (source, target), ids in 0..num_nodes-1
    node/NAME   [num_nodes] bool, or integer/float (read as float64): node input NAME
    edge/NAME   [E] likewise: edge input NAME

Undirected graphs list each edge once (as in JSON). Numeric inputs may hold ±inf, never NaN. Object
arrays are refused (``allow_pickle`` is never on: a data file cannot run code). Before any data is
read, every member's ``.npy`` header is checked — known key, dtype, shape against the others and
against the node/edge limits, and the member's stored size against what the header promises — so a
truncated or inconsistent file is one ``GraphError`` line, never a traceback or a huge allocation.
The graph-file byte cap does not apply (the node and edge caps bound memory instead).
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from dpdsl import limits
from dpdsl.errors import GraphError
from dpdsl.graphs.core import Graph

FORMAT = "dpdsl-graph/1"
SCALARS = ("format", "num_nodes", "directed")
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, KeyError)


def _header(zf: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from a member's ``.npy`` header, and its stored size checked against them."""
    with zf.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        reader = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        if version not in reader:
            raise ValueError(f"unsupported .npy version {version}")
        shape, fortran, dtype = reader[version](fh)
        offset = fh.tell()
    if dtype.hasobject:
        raise GraphError(f"{label}: member '{info.filename}' holds Python objects; only plain arrays are read")
    if fortran and len(shape) > 1:
        raise GraphError(f"{label}: member '{info.filename}' is Fortran-ordered; write C-ordered arrays")
    want = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if info.file_size != want:
        raise GraphError(f"{label}: member '{info.filename}' holds {info.file_size} bytes but its header "
                         f"promises {want} (truncated or inconsistent file)")
    return tuple(int(s) for s in shape), dtype


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with zf.open(info) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)


def _scalar(zf: zipfile.ZipFile, infos: dict[str, zipfile.ZipInfo], key: str, kinds: str, label: str) -> Any:
    if key not in infos:
        raise GraphError(f"{label}: missing array '{key}' (a {FORMAT} file needs {', '.join(SCALARS)}, edge_index)")
    shape, dtype = _header(zf, infos[key], label)
    if shape != () or dtype.kind not in kinds:
        raise GraphError(f"{label}: '{key}' must be a scalar of kind {kinds!r}, got shape {shape} dtype {dtype}")
    return _read(zf, infos[key]).item()


def load_npz(path: Path, label: str) -> Graph:
    """Read a ``dpdsl-graph/1`` archive (module docstring); every problem is one ``GraphError``."""
    try:
        with zipfile.ZipFile(path) as zf:
            return _load(zf, label)
    except FileNotFoundError:
        raise GraphError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise GraphError(f"{label}: is a directory, not a graph file") from None
    except _READ_ERRORS as exc:
        raise GraphError(f"{label}: not a readable {FORMAT} .npz file ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'truncated'})") from None


def _load(zf: zipfile.ZipFile, label: str) -> Graph:
    infos: dict[str, zipfile.ZipInfo] = {}
    for info in zf.infolist():
        key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
        ok = key in (*SCALARS, "edge_index") or (key.startswith(("node/", "edge/")) and len(key) > 5)
        if not ok:
            raise GraphError(f"{label}: unknown array '{key}' (allowed: {', '.join(SCALARS)}, edge_index, "
                             "node/NAME, edge/NAME)")
        infos[key] = info
    fmt = _scalar(zf, infos, "format", "U", label)
    if fmt != FORMAT:
        raise GraphError(f"{label}: format is {fmt[:40]!r}; this dpdsl reads {FORMAT!r}")
    n = int(_scalar(zf, infos, "num_nodes", "iu", label))
    if n < 1:
        raise GraphError(f"{label}: num_nodes must be >= 1, got {n}")
    limits.check("nodes", n, f"{label}: num_nodes")
    directed = bool(_scalar(zf, infos, "directed", "b", label))
    if "edge_index" not in infos:
        raise GraphError(f"{label}: missing array 'edge_index'")
    shape, dtype = _header(zf, infos["edge_index"], label)
    if len(shape) != 2 or shape[0] != 2 or dtype.kind not in "iu":
        raise GraphError(f"{label}: edge_index must be a [2, E] integer array, got shape {shape} dtype {dtype}")
    m = shape[1]
    limits.check("edges", m, f"{label}: the number of edges")
    inputs = {k: _header(zf, infos[k], label) for k in infos if k.startswith(("node/", "edge/"))}
    for key, (shp, dt) in inputs.items():
        want = n if key.startswith("node/") else m
        if shp != (want,) or dt.kind not in "biuf":
            raise GraphError(f"{label}: '{key}' must be a [{want}] bool or numeric array, got shape {shp} "
                             f"dtype {dt}")
    ei = _endpoints(_read(zf, infos["edge_index"]), n, label)
    node, edge = {}, {}
    for key in sorted(inputs):
        site, name = key.split("/", 1)
        (node if site == "node" else edge)[name] = _input(_read(zf, infos[key]), key, label)
    return Graph(n, ei, directed, node, edge)


def _endpoints(arr: np.ndarray, n: int, label: str) -> torch.Tensor:
    """Edge endpoints as int64, each checked in range with one vectorised pass."""
    ei = torch.from_numpy(arr.astype(np.int64, copy=False))
    if ei.numel():
        bad = (ei < 0) | (ei >= n)
        if bool(bad.any()):
            i = int(bad.any(0).nonzero()[0, 0])
            raise GraphError(f"{label}: edge {i} is ({int(ei[0, i])}, {int(ei[1, i])}) but num_nodes is {n}")
    return ei.contiguous()


def _input(arr: np.ndarray, key: str, label: str) -> torch.Tensor:
    """An input array in the executor's encoding: bool stays bool, numbers become float64 (NaN refused)."""
    if arr.dtype.kind == "b":
        return torch.from_numpy(arr)
    t = torch.from_numpy(arr.astype(np.float64, copy=False))
    if bool(torch.isnan(t).any()):
        i = int(torch.isnan(t).nonzero()[0, 0])
        raise GraphError(f"{label}: '{key}' is NaN at index {i} (NaN is not a valid value)")
    return t


def write_npz(graph: Graph, fh: IO[bytes]) -> None:
    """Write ``graph`` (a single graph) in the ``dpdsl-graph/1`` schema to an open binary file."""
    if graph.batch is not None and graph.num_graphs != 1:
        raise GraphError("save_graph writes one graph; unbatch the batch first")
    arrays: dict[str, np.ndarray] = {
        "format": np.array(FORMAT), "num_nodes": np.array(graph.num_nodes, dtype=np.int64),
        "directed": np.array(bool(graph.directed)),
        "edge_index": graph.edge_index.to(torch.int64).contiguous().numpy(),
    }
    for site, inputs in (("node", graph.node), ("edge", graph.edge)):
        for name, t in inputs.items():
            arrays[f"{site}/{name}"] = t.contiguous().numpy()
    np.savez(fh, allow_pickle=False, **arrays)
