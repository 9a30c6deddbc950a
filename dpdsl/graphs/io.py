"""Graph files: JSON (the interchange format), edge lists, GraphML and the binary ``.npz`` format.

Loading only checks what a file can get wrong on its own (syntax, shapes, endpoints, NaN); whether the
graph fits a spec is ``validate_graph``'s job. Every problem is a one-line ``GraphError`` naming the
file, never a raw ``KeyError``/``ValueError``.

JSON (what ``save_graph`` writes)::

    {"num_nodes": 5, "directed": true, "edges": [[0, 1], [1, 2]],
     "node": {"source": [true, false, false, false, false]}, "edge": {"w": [0.5, 0.25]}}

``num_nodes``, ``directed`` and ``edges`` are required; ``node``/``edge`` default to empty and an
optional free-form ``meta`` is ignored; other keys are rejected (they are usually typos). Undirected
graphs list each edge once. An input is a list of booleans (-> ``torch.bool``) or of numbers (->
float64); infinities are the strings ``"inf"``/``"-inf"`` (``Infinity`` literals are accepted too),
NaN is rejected. Edge endpoints are integers in ``0..num_nodes-1``.

Edge list (``.edges``, ``.edgelist``, ``.txt``), one edge per line, ``#`` starts a comment::

    # undirected              <- header directive; default is directed (also "# directed: false")
    # num_nodes: 6            <- optional; default 1 + the largest endpoint
    # node source: 1 0 0 0 0 0   <- optional node input, one value per node
    0 1 0.5                   <- a bare third value is the edge input "w"
    1 2 w=0.25 cap=3          <- or key=value pairs; every edge must carry the same keys

Node ids are integers ``0..n-1``. Values are numbers, ``inf``/``-inf`` or ``true``/``false``.

GraphML (``.graphml``, read with networkx): directedness comes from ``edgedefault``; node and edge
attributes become inputs (string attributes are parsed as numbers/booleans, and dropped when they are
not, e.g. labels; ``id`` is never an input). Node ids are mapped to ``0..n-1`` in numeric order when
every id is an integer (so ``"0".."n-1"`` keep their numbers), otherwise in document order.

Binary (``.npz``, ``dpdsl.graphs.binary``): flat numpy arrays for big graphs, loaded without Python
lists; ``save_graph`` writes it for a ``.npz`` name.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch

from dpdsl import limits
from dpdsl.errors import GraphError
from dpdsl.graphs.binary import load_npz, write_npz
from dpdsl.graphs.core import Graph

EDGE_LIST_EXTS = (".edges", ".edgelist", ".txt")
JSON_KEYS = ("num_nodes", "directed", "edges", "node", "edge", "meta")
_INF_STRINGS = {
    "inf": math.inf,
    "+inf": math.inf,
    "infinity": math.inf,
    "-inf": -math.inf,
    "-infinity": -math.inf,
}


# ------------------------------------------------------------------------------------ value encoding


def _to_number(x: Any, where: str) -> float | bool:
    """One JSON value -> bool or float; anything else is a GraphError naming ``where``."""
    if isinstance(x, bool):
        return x
    if isinstance(x, (int, float)):
        try:
            v = float(x)
        except OverflowError:  # a JSON integer beyond float64
            v = math.inf if x > 0 else -math.inf
        if math.isnan(v):
            raise GraphError(f"{where} is NaN")
        return v
    if isinstance(x, str) and x.strip().lower() in _INF_STRINGS:
        return _INF_STRINGS[x.strip().lower()]
    if isinstance(x, str) and x.strip().lower() == "nan":
        raise GraphError(f"{where} is NaN")
    raise GraphError(f'{where} is {x!r}; expected a number, "inf", "-inf" or a boolean')


def values_to_tensor(values: Any, where: str, expected_len: int, unit: str) -> torch.Tensor:
    """A list of JSON/text values -> a bool or float64 tensor (all booleans, or all numbers)."""
    if not isinstance(values, list):
        raise GraphError(f"{where} must be a list with one value per {unit}, got {type(values).__name__}")
    if len(values) != expected_len:
        raise GraphError(f"{where} has {len(values)} values but the graph has {expected_len} {unit}s")
    conv = [_to_number(x, f"{where} at {unit} {i}") for i, x in enumerate(values)]
    is_bool = [isinstance(x, bool) for x in conv]
    if conv and all(is_bool):
        return torch.tensor(conv, dtype=torch.bool)
    if any(is_bool):
        i = is_bool.index(not is_bool[0])
        raise GraphError(f"{where} mixes booleans and numbers (first mismatch at {unit} {i})")
    return torch.tensor(conv, dtype=torch.float64)


def _encode_value(x: float | bool) -> Any:
    if isinstance(x, bool):
        return x
    if math.isnan(x):
        raise ValueError("NaN")
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if x.is_integer() and abs(x) < 2**53 and math.copysign(1.0, x) > 0:
        return int(x)  # 3 rather than 3.0; loads back as the same float64
    return x


def _encode_tensor(t: torch.Tensor, where: str) -> list[Any]:
    if t.dim() != 1:
        raise GraphError(f"{where} has shape {tuple(t.shape)}; expected one value per node or edge")
    if t.dtype == torch.bool:
        return [bool(x) for x in t.tolist()]
    vals = t.detach().to(torch.float64).tolist()
    try:
        return [_encode_value(float(x)) for x in vals]
    except ValueError:
        i = int(torch.isnan(t.to(torch.float64)).nonzero()[0])
        raise GraphError(f"{where} is NaN at index {i}; NaN cannot be saved") from None


# --------------------------------------------------------------------------------------------- JSON


def graph_to_json(graph: Graph) -> dict[str, Any]:
    """The JSON object of one graph (see the module docstring)."""
    if graph.num_graphs != 1 or graph.batch is not None:
        raise GraphError(f"cannot write a batch of {graph.num_graphs} graphs as one graph file")
    edges = graph.edge_index.detach().to(torch.long).t().tolist()
    return {
        "num_nodes": int(graph.num_nodes),
        "directed": bool(graph.directed),
        "edges": edges,
        "node": {k: _encode_tensor(t, f"node input '{k}'") for k, t in graph.node.items()},
        "edge": {k: _encode_tensor(t, f"edge input '{k}'") for k, t in graph.edge.items()},
    }


def _int_endpoint(x: Any, where: str) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not float(x).is_integer():
        raise GraphError(f"{where} is {x!r}; expected an integer node id")
    return int(x)


def graph_from_json(obj: Any, *, source: str = "<json>") -> Graph:
    """Build a Graph from a parsed JSON object; ``source`` prefixes every error message."""
    if not isinstance(obj, dict):
        raise GraphError(f"{source}: expected a JSON object with num_nodes, directed, edges")
    for key in obj:
        if key not in JSON_KEYS:
            raise GraphError(f"{source}: unknown key '{key}' (allowed: {', '.join(JSON_KEYS)})")
    for key in ("num_nodes", "directed", "edges"):
        if key not in obj:
            raise GraphError(f"{source}: missing key '{key}'")
    n = obj["num_nodes"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise GraphError(f"{source}: num_nodes must be an integer >= 1, got {_short(n)}")
    limits.check("nodes", n, f"{source}: num_nodes")
    directed = obj["directed"]
    if not isinstance(directed, bool):
        raise GraphError(f"{source}: directed must be true or false, got {_short(directed)}")
    edges = obj["edges"]
    if not isinstance(edges, list):
        raise GraphError(f"{source}: edges must be a list of [u, v] pairs")
    limits.check("edges", len(edges), f"{source}: the number of edges")
    ei = _edges_fast(edges, n, source)
    if ei is not None:
        node = _inputs(obj.get("node", {}), "node", n, source)
        edge = _inputs(obj.get("edge", {}), "edge", ei.shape[1], source)
        return Graph(n, ei, directed, node, edge)
    pairs: list[tuple[int, int]] = []
    for i, e in enumerate(edges):
        if not isinstance(e, list) or len(e) != 2:
            raise GraphError(f"{source}: edge {i} is {e!r}; expected a pair [u, v]")
        u = _int_endpoint(e[0], f"{source}: edge {i} endpoint")
        v = _int_endpoint(e[1], f"{source}: edge {i} endpoint")
        for x in (u, v):
            if not 0 <= x < n:
                raise GraphError(f"{source}: edge {i} has endpoint {x} but num_nodes is {n}")
        pairs.append((u, v))
    ei = torch.tensor(pairs, dtype=torch.long).reshape(-1, 2).t().contiguous()
    node = _inputs(obj.get("node", {}), "node", n, source)
    edge = _inputs(obj.get("edge", {}), "edge", len(pairs), source)
    return Graph(n, ei, directed, node, edge)


def _edges_fast(edges: list, n: int, source: str) -> torch.Tensor | None:
    """Vectorised path for the common well-formed case; None sends odd inputs to the precise loop."""
    if not edges:
        return torch.zeros((2, 0), dtype=torch.long)
    try:
        arr = np.asarray(edges)
    except (ValueError, OverflowError):
        return None
    if arr.dtype.kind not in "iu" or arr.ndim != 2 or arr.shape[1] != 2:
        return None
    if bool in set(map(type, itertools.chain.from_iterable(edges))):
        return None  # numpy reads true as 1; the precise loop rejects booleans as endpoints
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise GraphError(f"{source}: edge {i} has endpoint {arr[i, j]} but num_nodes is {n}")
    return torch.from_numpy(arr.astype(np.int64).T.copy())


def _inputs(section: Any, unit: str, count: int, source: str) -> dict[str, torch.Tensor]:
    if not isinstance(section, dict):
        raise GraphError(f"{source}: '{unit}' must be an object mapping input names to value lists")
    return {
        str(k): values_to_tensor(v, f"{source}: {unit} input '{k}'", count, unit) for k, v in section.items()
    }


class _NaNLiteral(ValueError):
    pass


def _reject_nan(name: str) -> float:
    if name in ("Infinity", "-Infinity"):
        return math.inf if name == "Infinity" else -math.inf
    raise _NaNLiteral(f"{name} is not allowed")


MAX_INT_DIGITS = 400
"""Integer literals longer than this are refused (float64 overflows at 309 digits; Python's own int
parser refuses beyond 4300 with a message about NaN before this check existed)."""


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise GraphError(f"an integer literal has {len(text.lstrip('-'))} digits; at most {MAX_INT_DIGITS} "
                         "are accepted")
    return int(text)


def _short(x: Any) -> str:
    """``repr`` of a JSON value, cut so a huge value cannot flood the one-line message."""
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."


def _load_json(path: Path, label: str) -> Graph:
    text = _read_text(path, label)
    try:
        obj = limits.loads_json(text, label, parse_constant=_reject_nan, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise GraphError(
            f"{label}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except _NaNLiteral as exc:
        raise GraphError(f"{label}: {exc} (NaN is not a valid value)") from None
    except GraphError as exc:
        raise GraphError(f"{label}: {exc}") from None
    except ValueError as exc:
        raise GraphError(f"{label}: invalid JSON: {str(exc).splitlines()[0] if str(exc) else exc!r}") from None
    return graph_from_json(obj, source=label)


# ---------------------------------------------------------------------------------------- edge lists


def _parse_token(tok: str, where: str) -> float | bool:
    low = tok.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in _INF_STRINGS:
        return _INF_STRINGS[low]
    try:
        v = float(tok)
    except ValueError:
        raise GraphError(
            f"{where}: cannot read value {tok!r}; expected a number, inf or true/false"
        ) from None
    if math.isnan(v):
        raise GraphError(f"{where}: value is NaN")
    return v


def _header_nodes(text: str, where: str) -> int:
    """``# num_nodes: N``: an integer under the ``nodes`` limit."""
    try:
        n = int(text) if len(text) <= MAX_INT_DIGITS else None
    except ValueError:
        n = None
    if n is None:
        raise GraphError(f"{where}: num_nodes must be an integer, got {text[:40]!r}")
    limits.check("nodes", n, f"{where}: num_nodes")
    return n


def _endpoint(t: str, where: str) -> int:
    """One edge-list endpoint: a non-negative integer below the ``nodes`` limit (huge ids used to
    overflow the edge tensor)."""
    try:
        if not t.lstrip("-").isascii() or len(t) > MAX_INT_DIGITS:
            raise ValueError(t)
        v = int(t)
    except ValueError:
        raise GraphError(f"{where}: endpoint {t[:40]!r} is not an integer node id") from None
    if v < 0:
        raise GraphError(f"{where}: endpoint {v} is negative")
    if v >= limits.cap("nodes"):
        raise limits.exceeded("nodes", v + 1, f"{where}: the node count implied by endpoint {t[:40]}")
    return v


def _load_edge_list(path: Path, label: str) -> Graph:
    reader = _EdgeListReader(label)
    for lineno, raw in enumerate(_read_text(path, label).splitlines(), start=1):
        reader.line(lineno, raw)
    return reader.graph()


class _EdgeListReader:
    """One edge list, line by line: ``# directed``/``# num_nodes: N``/``# node NAME: v0 v1 ...`` headers,
    then ``u v [w | key=value ...]`` edges whose inputs must match the first edge's."""

    def __init__(self, label: str) -> None:
        self.label, self.directed, self.num_nodes = label, True, None
        self.node_raw: dict[str, tuple[int, list[str]]] = {}
        self.srcs: list[int] = []
        self.dsts: list[int] = []
        self.edge_vals: dict[str, list[float | bool]] = {}
        self.keys: list[str] | None = None
        self.key_line = 0

    def line(self, lineno: int, raw: str) -> None:
        where = f"{self.label}:{lineno}"
        body, _, comment = raw.partition("#")
        if not body.strip():
            self.header(lineno, comment.strip(), where)
            return
        toks = body.split()
        if len(toks) < 2:
            raise GraphError(f"{where}: expected 'u v [w | key=value ...]', got {body.strip()!r}")
        ends = [_endpoint(t, where) for t in toks[:2]]
        vals = _edge_inputs(toks[2:], where)
        if self.keys is None:
            self.keys, self.key_line = sorted(vals), lineno
            self.edge_vals = {k: [] for k in self.keys}
        elif sorted(vals) != self.keys:
            raise GraphError(f"{where}: edge has inputs {sorted(vals) or 'none'} but line {self.key_line} "
                             f"has {self.keys or 'none'}")
        for k, v in vals.items():
            self.edge_vals[k].append(v)
        self.srcs.append(ends[0])
        self.dsts.append(ends[1])
        if len(self.srcs) > limits.cap("edges"):
            raise limits.exceeded("edges", len(self.srcs), f"{self.label}: the number of edges")

    def header(self, lineno: int, d: str, where: str) -> None:
        low = d.lower().replace(":", " ").replace("=", " ").split()
        if low and low[0] in ("directed", "undirected") and low[1:] in ([], ["true"], ["false"]):
            self.directed = (low[0] == "directed") == (low[1:] != ["false"])
        elif len(low) == 2 and low[0] in ("num_nodes", "nodes"):
            self.num_nodes = _header_nodes(low[1], where)
        elif low[:1] == ["node"] and ":" in d:
            head, _, vals = d.partition(":")
            parts = head.split()
            if len(parts) != 2:
                raise GraphError(f"{where}: expected '# node NAME: v0 v1 ...'")
            self.node_raw[parts[1]] = (lineno, vals.split())

    def graph(self) -> Graph:
        label = self.label
        ei = torch.tensor([self.srcs, self.dsts], dtype=torch.long).reshape(2, -1)
        num_nodes = self.num_nodes
        if num_nodes is None:
            top = int(ei.max()) if ei.numel() else -1
            num_nodes = max(top + 1, max((len(v) for _, v in self.node_raw.values()), default=0))
        if num_nodes < 1:
            raise GraphError(f"{label}: no edges and no '# num_nodes: N' header; the graph is empty")
        over = (ei >= num_nodes).any(0).nonzero()
        if over.numel():
            i = int(over[0])
            x = self.srcs[i] if self.srcs[i] >= num_nodes else self.dsts[i]
            raise GraphError(f"{label}: edge {i} has endpoint {x} but num_nodes is {num_nodes}")
        node = {name: values_to_tensor([_parse_token(t, f"{label}:{ln}: node {name}") for t in toks],
                                       f"{label}:{ln}: node input '{name}'", num_nodes, "node")
                for name, (ln, toks) in self.node_raw.items()}
        edge = {k: values_to_tensor(v, f"{label}: edge input '{k}'", len(self.srcs), "edge")
                for k, v in self.edge_vals.items()}
        return Graph(num_nodes, ei, self.directed, node, edge)


def _edge_inputs(rest: list[str], where: str) -> dict[str, float | bool]:
    """An edge line's inputs: one bare weight (``w``) or ``key=value`` pairs, each key once."""
    if len(rest) == 1 and "=" not in rest[0]:
        return {"w": _parse_token(rest[0], where)}
    vals: dict[str, float | bool] = {}
    for t in rest:
        k, eq, v = t.partition("=")
        if not eq or not k:
            raise GraphError(f"{where}: expected key=value, got {t[:40]!r}")
        if k in vals:
            raise GraphError(f"{where}: edge input '{k[:40]}' is given twice")
        vals[k] = _parse_token(v, f"{where}: {k[:40]}")
    return vals


# ------------------------------------------------------------------------------------------- GraphML


def _attr_value(x: Any) -> float | bool | None:
    """A GraphML attribute -> bool/float, or None when it is not a numeric/boolean value (a label)."""
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (int, float, np.integer, np.floating)):
        return float(x)
    if isinstance(x, str):
        try:
            return _parse_token(x.strip(), "")
        except GraphError as exc:
            if "NaN" in str(exc):
                return math.nan
            return None
    return None


def _attr_tensors(
    rows: Sequence[dict[str, Any]], unit: str, label: str, ids: Sequence[Any]
) -> dict[str, torch.Tensor]:
    names: list[str] = []
    for r in rows:
        for k in r:
            if k not in names and k != "id":
                names.append(k)
    out: dict[str, torch.Tensor] = {}
    for name in names:
        vals = []
        numeric = True
        for i, r in enumerate(rows):
            if name not in r:
                raise GraphError(
                    f"{label}: {unit} {ids[i]} has no attribute '{name}' (and no default is declared)"
                )
            v = _attr_value(r[name])
            if v is None:
                numeric = False
                break
            if isinstance(v, float) and math.isnan(v):
                raise GraphError(f"{label}: {unit} attribute '{name}' is NaN at {unit} {ids[i]}")
            vals.append(v)
        if not numeric:
            continue  # a label or other text: not an input
        if all(isinstance(v, bool) for v in vals) and vals:
            out[name] = torch.tensor(vals, dtype=torch.bool)
        else:
            out[name] = torch.tensor([float(v) for v in vals], dtype=torch.float64)
    return out


def _load_graphml(path: Path, label: str) -> Graph:
    import networkx as nx

    _read_text(path, label)  # a missing/unreadable file gets the same message as other formats
    try:
        g = nx.read_graphml(path)
    except Exception as exc:  # networkx raises many kinds (ParseError, NetworkXError, KeyError)
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GraphError(f"{label}: cannot read GraphML: {msg}") from None
    nodes = list(g.nodes)
    if not nodes:
        raise GraphError(f"{label}: the graph has no nodes")
    limits.check("nodes", len(nodes), f"{label}: the number of nodes")
    limits.check("edges", g.number_of_edges(), f"{label}: the number of edges")
    try:
        as_int = [int(str(v)) for v in nodes]
        order = sorted(range(len(nodes)), key=lambda i: as_int[i])
    except ValueError:
        order = list(range(len(nodes)))
    ordered = [nodes[i] for i in order]
    index = {v: i for i, v in enumerate(ordered)}
    ndefault = g.graph.get("node_default", {}) or {}
    edefault = g.graph.get("edge_default", {}) or {}
    node_rows = [{**ndefault, **g.nodes[v]} for v in ordered]
    edges = list(g.edges(data=True))
    edge_rows = [{**edefault, **d} for _, _, d in edges]
    src = [index[u] for u, _, _ in edges]
    dst = [index[v] for _, v, _ in edges]
    node = _attr_tensors(node_rows, "node", label, ordered)
    edge = _attr_tensors(edge_rows, "edge", label, [f"{u}->{v}" for u, v, _ in edges])
    ei = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)
    return Graph(len(ordered), ei, g.is_directed(), node, edge)


# ------------------------------------------------------------------------------------------ load/save


def _read_text(path: Path, label: str) -> str:
    limits.check_file_size(path, "graph_bytes", f"{label}: the graph file")
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GraphError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise GraphError(f"{label}: is a directory, not a graph file") from None
    except UnicodeDecodeError:
        raise GraphError(f"{label}: not a UTF-8 text file") from None
    except OSError as exc:
        raise GraphError(f"{label}: cannot read: {exc.strerror or exc}") from None


def graph_format(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """'json', 'edgelist' or 'graphml' from ``fmt`` or the file extension."""
    if fmt is not None:
        f = fmt.lower().lstrip(".")
        aliases = {
            "json": "json",
            "graphml": "graphml",
            "edgelist": "edgelist",
            "edges": "edgelist",
            "txt": "edgelist",
            "npz": "npz",
        }
        if f not in aliases:
            raise GraphError(f"{path}: unknown graph format '{fmt}' (use json, edgelist, graphml or npz)")
        return aliases[f]
    ext = Path(path).suffix.lower()
    if ext == ".json":
        return "json"
    if ext == ".graphml":
        return "graphml"
    if ext == ".npz":
        return "npz"
    if ext in EDGE_LIST_EXTS:
        return "edgelist"
    raise GraphError(
        f"{path}: cannot tell the graph format from extension '{ext}' (use .json, .graphml, .npz, "
        f"{', '.join(EDGE_LIST_EXTS)} or pass a format)"
    )


def load_graph(path: str | os.PathLike[str], fmt: str | None = None) -> Graph:
    """Read one graph; the format follows ``fmt`` or the extension (module docstring)."""
    p = Path(path)
    label = str(path)
    kind = graph_format(path, fmt)
    if kind == "json":
        return _load_json(p, label)
    if kind == "graphml":
        return _load_graphml(p, label)
    if kind == "npz":
        return load_npz(p, label)
    return _load_edge_list(p, label)


def save_graph(graph: Graph, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
    """Write ``graph`` as JSON, or as the binary format for a ``.npz`` name, atomically: a temp file in
    the target directory, then a rename.

    Without ``overwrite`` an existing file is never clobbered, even by a concurrent writer (the temp
    file is hard-linked into place, which fails if the name exists).
    """
    p = Path(path)
    label = str(path)
    if p.suffix.lower() in (".graphml", *EDGE_LIST_EXTS):
        raise GraphError(f"{label}: save_graph writes JSON or .npz; use a .json or .npz file name")
    if p.exists() and not overwrite:
        raise GraphError(f"{label}: file exists; pass overwrite=True to replace it")
    if p.suffix.lower() == ".npz":
        _write_atomic(p, label, overwrite, lambda fh: write_npz(graph, fh))
        return
    text = json.dumps(graph_to_json(graph), separators=(",", ":"), allow_nan=False) + "\n"
    _write_atomic(p, label, overwrite, lambda fh: fh.write(text.encode("utf-8")))


def _write_atomic(p: Path, label: str, overwrite: bool, write: Callable[[IO[bytes]], Any]) -> None:
    directory = p.parent if str(p.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise GraphError(f"{label}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, p)
        else:
            try:
                os.link(tmp, p)
            except FileExistsError:
                raise GraphError(
                    f"{label}: file exists; pass overwrite=True to replace it"
                ) from None
            except OSError:  # filesystems without hard links: best effort
                if p.exists():
                    raise GraphError(f"{label}: file exists; pass overwrite=True to replace it") from None
                os.replace(tmp, p)
    except OSError as exc:
        raise GraphError(f"{label}: cannot write: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
