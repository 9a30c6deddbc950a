"""Check a graph against a spec's declared inputs and graph kind, converting what converts exactly.

Every stage after this one may assume: endpoints in range, every declared input present with one value
per node/edge in the encoding of ``dpdsl.types`` (bool or float64), no NaN, ranges respected, and the
graph has the spec's kind (docs/architecture.md §2: an undirected graph given to a directed spec is expanded to both
directions; a directed graph given to an undirected spec needs explicit symmetrisation).

Inputs the spec does not declare are ignored and dropped from the returned graph, so graphs validated
against one spec batch together. All checks are tensor ops; only the cycle report uses networkx, on the
offending strongly connected component.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from dpdsl.errors import GraphError
from dpdsl.graphs.core import KINDS, Graph
from dpdsl.types import BOOL, ENUM, INT, NODE, Type

_STRENGTH = {"directed": 0, "dag": 1, "tree": 2}


def kind_satisfies(produced: str, required: str) -> bool:
    """Whether graphs of kind ``produced`` are accepted by a spec over ``required`` without flags.

    tree ⊂ dag ⊂ directed, and an undirected graph serves a directed spec (both directions).
    """
    if required == "undirected":
        return produced == "undirected"
    if produced == "undirected":
        return required == "directed"
    return _STRENGTH[produced] >= _STRENGTH[required]


def _fmt(x: float | bool) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return str(int(x)) if float(x).is_integer() and abs(x) < 2**53 else repr(float(x))


def validate_graph(
    graph: Graph,
    *,
    kind: str,
    node_inputs: dict[str, Type],
    edge_inputs: dict[str, Type],
    symmetrize: bool = False,
    name: str = "graph",
) -> Graph:
    """The graph in the spec's encoding and kind, or a one-line ``GraphError`` saying what is wrong.

    ``name`` (usually the file name) starts every message.
    """
    if kind not in KINDS:
        raise GraphError(f"{name}: unknown graph kind '{kind}' (expected one of {', '.join(KINDS)})")
    n = graph.num_nodes
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise GraphError(f"{name}: num_nodes must be an integer >= 1, got {n!r}")
    n = int(n)
    ei = _check_edge_index(graph.edge_index, n, name)

    def where_node(i: int) -> str:
        return f"node {i}"

    def where_edge(i: int) -> str:
        return f"edge {i} ({int(ei[0, i])} -> {int(ei[1, i])})"

    node = {k: _check_input(graph.node, k, t, "node", n, n, where_node, name) for k, t in node_inputs.items()}
    edge = {
        k: _check_input(graph.edge, k, t, "edge", ei.shape[1], n, where_edge, name)
        for k, t in edge_inputs.items()
    }
    out = Graph(n, ei, bool(graph.directed), node, edge, graph.batch, graph.num_graphs)

    if kind == "undirected":
        if out.directed:
            if not symmetrize:
                raise GraphError(
                    f"{name}: the spec is over undirected graphs but the graph is directed; "
                    "symmetrize it explicitly (symmetrize=True / --symmetrize) if its edges mean both ways"
                )
            out = _symmetrize(out, name)
        return out
    if not out.directed:
        if kind == "directed":
            return out.directed_view()
        what = "a DAG" if kind == "dag" else "a rooted tree (edges parent -> child)"
        raise GraphError(f"{name}: the spec needs {what} but the graph is undirected")
    if kind == "tree":
        _check_one_parent(out, name)
    if kind in ("dag", "tree"):
        _check_acyclic(out, name, "DAG" if kind == "dag" else "rooted tree")
    return out


# ------------------------------------------------------------------------------------------ structure


def _check_edge_index(ei: object, n: int, name: str) -> torch.Tensor:
    if not isinstance(ei, torch.Tensor):
        raise GraphError(f"{name}: edge_index must be a tensor, got {type(ei).__name__}")
    if ei.dim() != 2 or ei.shape[0] != 2:
        raise GraphError(f"{name}: edge_index has shape {tuple(ei.shape)}; expected [2, num_edges]")
    if ei.dtype == torch.bool or ei.is_complex():
        raise GraphError(f"{name}: edge_index must hold integer node ids, got {ei.dtype}")
    if ei.is_floating_point():
        bad = ~torch.isfinite(ei) | (ei != torch.round(ei))
        if bool(bad.any()):
            r, i = (int(x) for x in bad.nonzero()[0])
            raise GraphError(
                f"{name}: edge {i} has endpoint {ei[r, i].item()!r}; expected an integer node id"
            )
    ei = ei.to(torch.long)
    bad = (ei < 0) | (ei >= n)
    if bool(bad.any()):
        i = int(bad.any(0).nonzero()[0])
        x = int(ei[0, i]) if bool(bad[0, i]) else int(ei[1, i])
        raise GraphError(f"{name}: edge {i} has endpoint {x} but num_nodes is {n}")
    return ei.contiguous()


def _check_input(
    fields: dict[str, torch.Tensor],
    key: str,
    typ: Type,
    unit: str,
    count: int,
    n: int,
    where: Callable[[int], str],
    name: str,
) -> torch.Tensor:
    label = f"{name}: {unit} input '{key}'"
    if key not in fields:
        have = ", ".join(sorted(fields)) or "none"
        raise GraphError(f"{name}: missing {unit} input '{key}' (declared {typ}; the graph has: {have})")
    t = fields[key]
    if not isinstance(t, torch.Tensor):
        try:
            t = torch.as_tensor(t)
        except (TypeError, ValueError, RuntimeError):
            raise GraphError(f"{label} is not a list of numbers or booleans") from None
    if t.dim() != 1:
        raise GraphError(f"{label} has shape {tuple(t.shape)}; expected one value per {unit}")
    if t.shape[0] != count:
        raise GraphError(f"{label} has {t.shape[0]} values but the graph has {count} {unit}s")
    if t.is_complex():
        raise GraphError(f"{label} has complex values")
    if t.dtype != torch.bool:
        t = t.to(torch.float64)
        nan = torch.isnan(t)
        if bool(nan.any()):
            raise GraphError(f"{label} is NaN at {where(int(nan.nonzero()[0]))}")

    def first(mask: torch.Tensor, problem: str) -> None:
        if bool(mask.any()):
            i = int(mask.nonzero()[0])
            raise GraphError(f"{label} {problem} but {where(i)} has {_fmt(t[i].item())}")

    if typ.kind == BOOL:
        if t.dtype == torch.bool:
            return t
        first((t != 0) & (t != 1), "is bool (numbers convert only if exactly 0 or 1)")
        return t == 1
    if t.dtype == torch.bool:
        t = t.to(torch.float64)
    if typ.kind in (INT, NODE, ENUM):
        first(torch.isfinite(t) & (t != torch.round(t)), f"must be an integer ({typ.kind})")
    if typ.kind == NODE:
        first(~torch.isfinite(t) | (t < 0) | (t >= n), f"must be a node id in 0..{n - 1}")
    if typ.kind == ENUM:
        k = len(typ.labels)
        first(~torch.isfinite(t) | (t < 0) | (t >= k), f"must be an enum index in 0..{k - 1}")
    bad = torch.zeros_like(t, dtype=torch.bool)
    if typ.lo is not None:
        bad |= (t <= typ.lo) if typ.lo_strict else (t < typ.lo)
    if typ.hi is not None:
        bad |= (t >= typ.hi) if typ.hi_strict else (t > typ.hi)
    first(bad, f"must be {typ.describe_range()} (declared {typ})")
    return t


# --------------------------------------------------------------------------------------------- kinds


def _symmetrize(g: Graph, name: str) -> Graph:
    """One undirected edge per unordered endpoint pair; all copies of a pair must carry equal inputs."""
    ei = g.edge_index
    e = ei.shape[1]
    if e == 0:
        return Graph(g.num_nodes, ei, False, g.node, g.edge, g.batch, g.num_graphs)
    lo, hi = torch.minimum(ei[0], ei[1]), torch.maximum(ei[0], ei[1])
    _, inv = torch.unique(lo * g.num_nodes + hi, return_inverse=True)
    pos = torch.arange(e)
    first = torch.full((int(inv.max()) + 1,), e, dtype=torch.long).scatter_reduce(0, inv, pos, "amin")
    rep = first[inv]
    for key, t in g.edge.items():
        diff = t != t[rep]
        if bool(diff.any()):
            i = int(diff.nonzero()[0])
            j = int(rep[i])
            a, b = _fmt(t[j].item()), _fmt(t[i].item())
            raise GraphError(
                f"{name}: cannot symmetrize: edge {j} ({int(ei[0, j])} -> {int(ei[1, j])}) has {key} = {a} "
                f"but edge {i} ({int(ei[0, i])} -> {int(ei[1, i])}) has {key} = {b}"
            )
    keep = torch.sort(first).values
    edge = {k: t[keep] for k, t in g.edge.items()}
    return Graph(g.num_nodes, ei[:, keep].contiguous(), False, g.node, edge, g.batch, g.num_graphs)


def _check_one_parent(g: Graph, name: str) -> None:
    src, dst = g.edge_index
    indeg = torch.bincount(dst, minlength=g.num_nodes)
    if bool((indeg > 1).any()):
        v = int((indeg > 1).nonzero()[0])
        parents = src[dst == v].tolist()
        shown = ", ".join(str(p) for p in parents[:3]) + (", ..." if len(parents) > 3 else "")
        raise GraphError(
            f"{name}: the spec needs a rooted tree (edges parent -> child) but node {v} has "
            f"{len(parents)} parents ({shown})"
        )


def _check_acyclic(g: Graph, name: str, what: str) -> None:
    """Acyclic iff no self loop and every strongly connected component is a single node."""
    src, dst = g.edge_index
    loops = src == dst
    if bool(loops.any()):
        v = int(src[loops.nonzero()[0]])
        raise GraphError(f"{name}: the spec needs a {what} but the graph has a cycle {v} -> {v} (self loop)")
    if g.num_edges == 0:
        return
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    s, d = src.numpy(), dst.numpy()
    adj = coo_matrix((np.ones(len(s), dtype=np.int8), (s, d)), shape=(g.num_nodes, g.num_nodes))
    ncomp, labels = connected_components(adj, directed=True, connection="strong")
    if ncomp == g.num_nodes:
        return
    sizes = np.bincount(labels)
    comp = int(np.argmax(sizes > 1))
    import networkx as nx

    inside = (labels[s] == comp) & (labels[d] == comp)
    sub = nx.DiGraph(zip(s[inside].tolist(), d[inside].tolist(), strict=True))
    cycle = [u for u, _ in nx.find_cycle(sub)]
    cycle.append(cycle[0])
    shown = " -> ".join(map(str, cycle)) if len(cycle) <= 9 else " -> ".join(map(str, cycle[:8])) + " -> ..."
    raise GraphError(f"{name}: the spec needs a {what} but the graph has a cycle {shown}")
