"""The reference executor against independent implementations, for every spec in ``specs/``.

Each spec runs on 50 seeded random graphs from its own ``sample`` section (trees capped at 12 nodes so
brute force stays cheap) plus hand-made edge cases: a single node, an empty edge set, isolated nodes, a
source that reaches nothing, no source at all, ties, zero weights and parallel edges.

Float comparisons: exact equality wherever the oracle performs the same float operations on the same
operands as the DP recurrence (shortest/longest/widest paths: each candidate is ``d[u] + w`` or
``min(d[u], c)`` and the fixpoint of a monotone recurrence is unique, so the values are bit-identical);
``torch.allclose(rtol=1e-12, atol=1e-12)`` only for the maximum-weight independent set, whose brute force
adds the weights in a different order than the tree DP. Counts, hop distances, labels and bools are
compared exactly.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Callable
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from dpdsl.api import load_spec_text
from dpdsl.execute import run_reference
from dpdsl.graphs import generators as G
from dpdsl.graphs.core import Graph, batch_graphs, unbatch_nodes
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs

SPEC_DIR = Path(__file__).resolve().parents[1] / "specs"
# node specs; the index-domain specs (a 'domain' line, §12) have their oracles in tests/test_domains.py
SPEC_NAMES = sorted(p.stem for p in SPEC_DIR.glob("*.dp") if "\ndomain " not in p.read_text())
INF = math.inf
N_RANDOM = 50
TREE_MAX_NODES = 12  # brute force over all subsets of a subtree

# ------------------------------------------------------------------------------------------ graphs


def make_graph(n: int, edges: list[tuple[int, int]], directed: bool) -> Graph:
    ei = torch.tensor(edges, dtype=torch.long).reshape(-1, 2).T.contiguous()
    return Graph(n, ei, directed)


def fill_inputs(
    spec: SpecIR,
    g: Graph,
    rng: np.random.Generator,
    source: int | None = None,
    edge_values: list[float] | None = None,
) -> Graph:
    """Inputs drawn from the spec's own samplers, then overridden: ``source`` one-hot, explicit edges."""
    assert spec.sample is not None
    samplers = {name: (dist, args) for name, dist, args in spec.sample.inputs}
    for name, inp in spec.node_inputs.items():
        if name == "source":
            mask = torch.zeros(g.num_nodes, dtype=torch.bool)
            if source is not None:
                mask[source] = True
            g.node[name] = mask
        else:
            dist, args = samplers[name]
            g.node[name] = G.sample_input(dist, args, g.num_nodes, rng, dtype_kind=inp.type.kind)
    for name, inp in spec.edge_inputs.items():
        if edge_values is not None:
            assert len(edge_values) == g.num_edges
            g.edge[name] = torch.tensor(edge_values, dtype=torch.float64)
        else:
            dist, args = samplers[name]
            g.edge[name] = G.sample_input(dist, args, g.num_edges, rng, dtype_kind=inp.type.kind)
    return g


# (n, edges, source, explicit edge values or None). All directed cases but the last are DAGs.
DIRECTED_CASES: list[tuple[int, list[tuple[int, int]], int | None, list[float] | None]] = [
    (1, [], 0, None),  # a single node
    (5, [], 2, None),  # an empty edge set
    (7, [(0, 1), (1, 2), (0, 2), (4, 5)], 0, None),  # isolated nodes 3 and 6
    (5, [(1, 2), (2, 3), (1, 3), (3, 4)], 0, None),  # the source is isolated: reaches nothing
    (4, [(1, 0), (2, 0), (1, 2), (2, 3)], 0, None),  # the source is a sink: reaches nothing
    (4, [(1, 2), (2, 3)], None, None),  # no source at all
    (4, [(0, 2), (0, 1), (2, 3), (1, 3)], 0, [0.5, 0.5, 0.5, 0.5]),  # tie at 3: smallest index 1 wins
    (4, [(0, 3), (0, 2), (0, 1), (3, 1), (2, 1)], 0, [0.25, 0.25, 0.5, 0.25, 0.25]),  # 3-way tie at 1
    (3, [(0, 1), (0, 1), (1, 2), (0, 2)], 0, [0.75, 0.25, 0.0, 0.25]),  # parallel edges, a zero weight
    (5, [(0, 1), (1, 2), (2, 3), (3, 4)], 0, [0.0, 0.0, 0.0, 0.0]),  # an all-zero path
    (5, [(2, 4), (4, 3), (3, 1), (1, 0)], 2, None),  # a path against the index order
    (5, [(0, 1), (1, 2), (2, 0), (2, 3), (4, 3)], 1, None),  # a directed cycle (not for DAG specs)
]
UNDIRECTED_CASES: list[tuple[int, list[tuple[int, int]], int | None]] = [
    (1, [], 0),
    (5, [], 3),
    (8, [(0, 1), (1, 2), (4, 5), (5, 7)], 1),  # isolated nodes 3 and 6
    (5, [(0, 1), (1, 2), (2, 0)], 4),  # the source is isolated
    (4, [(0, 1), (1, 2)], None),  # no source
    (5, [(0, 2), (0, 1), (3, 2), (1, 3), (3, 4)], 0),  # tie at 3: parent 1 (not 2)
    (7, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3), (3, 4), (4, 5)], 5),  # K4 + tail: the 3-core
    (9, [(a, b) for a in range(5) for b in range(a + 1, 5)] + [(5, 6), (6, 7), (7, 5)], 8),  # K5 + C3
]
TREE_CASES: list[tuple[int, list[tuple[int, int]]]] = [  # edges parent -> child
    (1, []),
    (4, []),  # a forest of singletons
    (6, [(0, 1), (0, 2), (3, 4)]),  # a forest with an isolated node 5
    (4, [(2, 1), (1, 0), (0, 3)]),  # a path rooted at 2
    (5, [(3, 0), (3, 1), (3, 2), (3, 4)]),  # a star
    (9, [(4, 0), (4, 8), (0, 1), (0, 2), (8, 3), (8, 5), (5, 6), (5, 7)]),
]


def edge_cases(spec: SpecIR) -> list[Graph]:
    rng = np.random.default_rng(1234)
    out = []
    if spec.graph_kind == "undirected":
        for n, edges, source in UNDIRECTED_CASES:
            out.append(fill_inputs(spec, make_graph(n, edges, False), rng, source))
    elif spec.graph_kind == "tree":
        for n, edges in TREE_CASES:
            out.append(fill_inputs(spec, make_graph(n, edges, True), rng))
    else:
        cases = DIRECTED_CASES if spec.graph_kind == "directed" else DIRECTED_CASES[:-1]
        for n, edges, source, values in cases:
            if values is not None and any(
                not inp.type.admits(x) for inp in spec.edge_inputs.values() for x in values
            ):
                values = None
            out.append(fill_inputs(spec, make_graph(n, edges, True), rng, source, values))
    return out


def instances(spec: SpecIR, seed: int) -> list[Graph]:
    nodes = (1, TREE_MAX_NODES) if spec.graph_kind == "tree" else None
    graphs = sample_graphs(spec, N_RANDOM, seed, nodes=nodes)
    assert len(graphs) == N_RANDOM
    return graphs + edge_cases(spec)


def edge_list(g: Graph) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for a, b in g.edge_index.T.tolist()]


def source_of(g: Graph) -> int | None:
    hits = torch.nonzero(g.node["source"]).flatten().tolist()
    assert len(hits) <= 1
    return hits[0] if hits else None


def digraph(g: Graph) -> nx.DiGraph:
    d = nx.DiGraph()
    d.add_nodes_from(range(g.num_nodes))
    d.add_edges_from(edge_list(g))
    return d


def ugraph(g: Graph) -> nx.Graph:
    assert not g.directed
    u = nx.Graph()
    u.add_nodes_from(range(g.num_nodes))
    u.add_edges_from(edge_list(g))
    assert u.number_of_edges() == g.num_edges, "oracle needs simple undirected graphs"
    return u


def kahn_order(g: Graph) -> list[int]:
    """A topological order by Kahn's algorithm (our own, not networkx's)."""
    indeg = [0] * g.num_nodes
    out: list[list[int]] = [[] for _ in range(g.num_nodes)]
    for a, b in edge_list(g):
        indeg[b] += 1
        out[a].append(b)
    ready = [v for v in range(g.num_nodes) if indeg[v] == 0]
    order = []
    while ready:
        v = ready.pop()
        order.append(v)
        for b in out[v]:
            indeg[b] -= 1
            if indeg[b] == 0:
                ready.append(b)
    assert len(order) == g.num_nodes, "not a DAG"
    return order


def in_edges(g: Graph, name: str | None) -> list[list[tuple[int, float]]]:
    """Per node, (predecessor, edge value) for every edge into it, parallel edges kept."""
    vals = g.edge[name].tolist() if name else [0.0] * g.num_edges
    ins: list[list[tuple[int, float]]] = [[] for _ in range(g.num_nodes)]
    for (a, b), x in zip(edge_list(g), vals, strict=True):
        ins[b].append((a, x))
    return ins


def as_np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


def assert_exact(got: torch.Tensor, want: np.ndarray | list, what: str) -> None:
    got_np, want_np = as_np(got), np.asarray(want)
    assert got_np.shape == want_np.shape, what
    assert np.array_equal(got_np, want_np), f"{what}: executor {got_np.tolist()} != oracle {want_np.tolist()}"


# ----------------------------------------------------------------------------------------- oracles


def scipy_dijkstra(g: Graph, weight: str, source: int | None) -> np.ndarray:
    """Distances from scipy.sparse.csgraph Dijkstra; unreachable nodes are inf.

    Parallel edges keep their minimum. csgraph reads a *dense* zero as "no edge", so the matrix is
    built as CSR with the zero weights stored explicitly, and we assert none was dropped.
    """
    n = g.num_nodes
    if source is None:
        return np.full(n, INF)
    best: dict[tuple[int, int], float] = {}
    for (a, b), x in zip(edge_list(g), g.edge[weight].tolist(), strict=True):
        best[(a, b)] = min(x, best.get((a, b), INF))
    keys = sorted(best)
    indptr = np.zeros(n + 1, dtype=np.int64)
    for a, _ in keys:
        indptr[a + 1] += 1
    indptr = np.cumsum(indptr)
    mat = csr_matrix(
        (np.array([best[k] for k in keys], dtype=np.float64), np.array([b for _, b in keys], dtype=np.int64),
         indptr),
        shape=(n, n),
    )
    assert mat.nnz == len(keys), "an explicit zero weight was dropped"
    return dijkstra(mat, directed=True, indices=source)


def check_parent(parent: torch.Tensor, dist: np.ndarray, g: Graph, weight: str | None) -> None:
    """CLRS conventions: the source and unreachable nodes point to themselves; otherwise the parent is
    a predecessor u with dist[u] + w(u, v) == dist[v], the smallest such index."""
    src = source_of(g)
    ins = in_edges(g, weight)
    step = 0.0 if weight else 1.0
    got = as_np(parent)
    for v in range(g.num_nodes):
        if v == src or dist[v] == INF:
            assert got[v] == v, f"parent[{v}] = {got[v]}, expected itself"
            continue
        cands = sorted({u for u, x in ins[v] if dist[u] + x + step == dist[v]})
        assert cands, f"no predecessor of {v} achieves dist {dist[v]}"
        assert got[v] == cands[0], f"parent[{v}] = {got[v]}, expected the smallest of {cands}"


def check_bellman_ford(spec: SpecIR, g: Graph, out: dict[str, torch.Tensor]) -> None:
    dist = scipy_dijkstra(g, "w", source_of(g))
    assert_exact(out["dist"], dist, "dist")
    check_parent(out["parent"], dist, g, "w")


def check_dag_shortest_paths(spec: SpecIR, g: Graph, out: dict[str, torch.Tensor]) -> None:
    src = source_of(g)
    ins = in_edges(g, "w")
    dist = np.full(g.num_nodes, INF)
    for v in kahn_order(g):  # relax in topological order; negative weights are fine on a DAG
        if v == src:
            dist[v] = 0.0
        else:
            dist[v] = min([INF] + [dist[u] + x for u, x in ins[v]])
    assert_exact(out["dist"], dist, "dist")
    check_parent(out["parent"], dist, g, "w")


def check_bfs_distance(spec: SpecIR, g: Graph, out: dict[str, torch.Tensor]) -> None:
    u = ugraph(g)
    src = source_of(g)
    dist = np.full(g.num_nodes, INF)
    if src is not None:
        for v, d in nx.single_source_shortest_path_length(u, src).items():
            dist[v] = d
    assert_exact(out["dist"], dist, "dist")
    parent = np.arange(g.num_nodes, dtype=np.float64)
    for v in range(g.num_nodes):
        if v != src and dist[v] < INF:
            parent[v] = min(w for w in u.neighbors(v) if dist[w] == dist[v] - 1)
    assert_exact(out["parent"], parent, "parent")


def check_reachability(spec: SpecIR, g: Graph, out: dict[str, torch.Tensor]) -> None:
    src = source_of(g)
    reached = np.zeros(g.num_nodes, dtype=bool)
    if src is not None:
        reached[list(nx.descendants(digraph(g), src) | {src})] = True
    assert_exact(out["reached"], reached, "reached")


def check_components(spec: SpecIR, g: Graph, out: dict[str, torch.Tensor]) -> None:
    label = np.zeros(g.num_nodes)
    for comp in nx.connected_components(ugraph(g)):
        label[list(comp)] = min(comp)
    assert_exact(out["label"], label, "label")


def check_kcore(spec: SpecIR, g: Graph, out: dict[str, torch.Tensor]) -> None:
    k = int(spec.params["k"].value)
    core = nx.k_core(ugraph(g), k)  # maximal subgraph with every degree >= k (simple graphs)
    alive = np.zeros(g.num_nodes, dtype=bool)
    alive[list(core.nodes)] = True
    assert_exact(out["alive"], alive, f"alive (k={k})")


def check_dag_longest_path(spec: SpecIR, g: Graph, out: dict[str, torch.Tensor]) -> None:
    d = digraph(g)
    assert nx.is_directed_acyclic_graph(d)
    ins = in_edges(g, "w")
    length = np.zeros(g.num_nodes)  # the empty path ends everywhere
    for v in nx.topological_sort(d):
        for u, x in ins[v]:
            length[v] = max(length[v], length[u] + x)
    assert_exact(out["length"], length, "length")


def check_dag_path_count(spec: SpecIR, g: Graph, out: dict[str, torch.Tensor]) -> None:
    src = source_of(g)
    ins = in_edges(g, None)
    paths = np.zeros(g.num_nodes)
    for v in kahn_order(g):
        paths[v] = 1 if v == src else sum(paths[u] for u, _ in ins[v])
    assert_exact(out["paths"], paths, "paths")


def check_widest_path(spec: SpecIR, g: Graph, out: dict[str, torch.Tensor]) -> None:
    """Max-min Dijkstra: settle the widest frontier node first."""
    src = source_of(g)
    width = np.full(g.num_nodes, -INF)
    succ: list[list[tuple[int, float]]] = [[] for _ in range(g.num_nodes)]
    for (a, b), c in zip(edge_list(g), g.edge["cap"].tolist(), strict=True):
        succ[a].append((b, c))
    if src is not None:
        width[src] = INF
        heap, done = [(-INF, src)], set()
        while heap:
            _, a = heapq.heappop(heap)
            if a in done:
                continue
            done.add(a)
            for b, c in succ[a]:
                cand = min(width[a], c)
                if cand > width[b]:
                    width[b] = cand
                    heapq.heappush(heap, (-cand, b))
    assert_exact(out["width"], width, "width")


def subtrees(g: Graph) -> list[list[int]]:
    """Nodes of the subtree rooted at every node (edges parent -> child), after checking it is a forest."""
    kids: list[list[int]] = [[] for _ in range(g.num_nodes)]
    indeg = [0] * g.num_nodes
    for a, b in edge_list(g):
        kids[a].append(b)
        indeg[b] += 1
    assert max(indeg, default=0) <= 1 and nx.is_directed_acyclic_graph(digraph(g)), "not a forest"
    out = []
    for v in range(g.num_nodes):
        stack, seen = [v], []
        while stack:
            x = stack.pop()
            seen.append(x)
            stack.extend(kids[x])
        out.append(sorted(seen))
    return out


def subset_masks(g: Graph, nodes: list[int]) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]]]:
    """All subsets of ``nodes`` as bitmasks, their membership matrix and the local edges inside."""
    assert len(nodes) <= TREE_MAX_NODES
    local = {v: i for i, v in enumerate(nodes)}
    masks = np.arange(1 << len(nodes), dtype=np.int64)
    member = ((masks[:, None] >> np.arange(len(nodes))) & 1).astype(bool)
    edges = [(local[a], local[b]) for a, b in edge_list(g) if a in local and b in local]
    return masks, member, edges


def check_mwis_tree(spec: SpecIR, g: Graph, out: dict[str, torch.Tensor]) -> None:
    weight = as_np(g.node["weight"])
    best = np.zeros(g.num_nodes)
    for v, nodes in enumerate(subtrees(g)):
        _, member, edges = subset_masks(g, nodes)
        ok = np.ones(len(member), dtype=bool)
        for a, b in edges:
            ok &= ~(member[:, a] & member[:, b])
        best[v] = (member[ok] * weight[nodes]).sum(axis=1).max()
    got = out["best"]
    want = torch.from_numpy(best)
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12), f"best: {got.tolist()} != {best.tolist()}"


def check_vertex_cover_tree(spec: SpecIR, g: Graph, out: dict[str, torch.Tensor]) -> None:
    cover = np.zeros(g.num_nodes)
    for v, nodes in enumerate(subtrees(g)):
        _, member, edges = subset_masks(g, nodes)
        ok = np.ones(len(member), dtype=bool)
        for a, b in edges:
            ok &= member[:, a] | member[:, b]
        cover[v] = member[ok].sum(axis=1).min()
    assert_exact(out["cover"], cover, "cover")


ORACLES: dict[str, Callable[[SpecIR, Graph, dict[str, torch.Tensor]], None]] = {
    "bellman_ford": check_bellman_ford,
    "bfs_distance": check_bfs_distance,
    "components": check_components,
    "dag_longest_path": check_dag_longest_path,
    "dag_path_count": check_dag_path_count,
    "dag_shortest_paths": check_dag_shortest_paths,
    "kcore": check_kcore,
    "mwis_tree": check_mwis_tree,
    "reachability": check_reachability,
    "vertex_cover_tree": check_vertex_cover_tree,
    "widest_path": check_widest_path,
}

# ------------------------------------------------------------------------------------------- tests


def test_every_spec_has_an_oracle() -> None:
    assert len(SPEC_NAMES) >= 11
    missing = sorted(set(SPEC_NAMES) - set(ORACLES))
    assert not missing, f"specs without an independent oracle: {missing}"


def _run_against_oracle(spec: SpecIR, graphs: list[Graph], oracle: Callable) -> None:
    for i, g in enumerate(graphs):
        res = run_reference(spec, g)
        assert set(res.outputs) == set(spec.outputs)
        for name, t in res.outputs.items():
            assert t.shape == (g.num_nodes,), name
        try:
            oracle(spec, g, res.outputs)
        except AssertionError as err:
            raise AssertionError(
                f"{spec.name}, graph #{i} (n={g.num_nodes}, edges={edge_list(g)}, "
                f"node={ {k: v.tolist() for k, v in g.node.items()} }, "
                f"edge={ {k: v.tolist() for k, v in g.edge.items()} }): {err}"
            ) from None


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_reference_matches_oracle(name: str, specs: dict[str, SpecIR]) -> None:
    spec = specs[name]
    graphs = instances(spec, seed=SPEC_NAMES.index(name) + 7)
    assert any(g.num_nodes == 1 for g in graphs) and any(g.num_edges == 0 for g in graphs)
    _run_against_oracle(spec, graphs, ORACLES[name])


@pytest.mark.parametrize("k", [0, 1, 2, 4])
def test_kcore_other_k(k: int, specs: dict[str, SpecIR]) -> None:
    """The k-core spec with its param changed (the spec file itself says k = 3)."""
    text = specs["kcore"].source
    pat = r"param\s+k\s*:\s*int\s*=\s*\d+"
    assert re.search(pat, text), "kcore.dp no longer declares 'param k : int = ...'"
    spec = load_spec_text(re.sub(pat, f"param k : int = {k}", text), "kcore_k.dp")
    assert spec.params["k"].value == k
    _run_against_oracle(spec, instances(spec, seed=100 + k)[:30], check_kcore)


# ------------------------------------------------------------------------------------------ batching


def _assert_batch_equals_single(spec: SpecIR, graphs: list[Graph]) -> None:
    batch = batch_graphs(graphs)
    res = run_reference(spec, batch)
    assert res.rounds.shape == (len(graphs),)
    for name, t in res.outputs.items():
        parts = unbatch_nodes(t, batch)
        for i, (g, part) in enumerate(zip(graphs, parts, strict=True)):
            single = run_reference(spec, g)
            assert torch.equal(part, single.outputs[name]), f"{spec.name}.{name}, graph #{i}"
    for i, g in enumerate(graphs):
        assert int(res.rounds[i]) == int(run_reference(spec, g).rounds[0]), f"rounds of graph #{i}"


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_batch_equals_one_by_one(name: str, specs: dict[str, SpecIR]) -> None:
    spec = specs[name]
    graphs = instances(spec, seed=99)
    rng = np.random.default_rng(5)
    graphs = [graphs[i] for i in rng.permutation(len(graphs))][:25]
    _assert_batch_equals_single(spec, graphs)


COUNTER = """
problem counter
graph {kind}
state c : int
init c = 0
transition c = unknown(c)
reference c = c + 1
rounds {rounds}
output c
output last = n - 1
"""


@pytest.mark.parametrize(
    ("kind", "rounds", "expect"),
    [
        ("directed", "n - 1", lambda g, n, h: n - 1),
        ("directed", "n - 1 until fixpoint", lambda g, n, h: n - 1),  # never a fixpoint: the cap stops it
        ("undirected", "2 * n", lambda g, n, h: 2 * n),
        ("tree", "height", lambda g, n, h: h),
        ("tree", "height + 1 until fixpoint", lambda g, n, h: h + 1),
    ],
)
def test_batch_respects_per_graph_round_caps(kind: str, rounds: str, expect: Callable) -> None:
    spec = load_spec_text(COUNTER.format(kind=kind, rounds=rounds), "counter.dp")
    rng = np.random.default_rng(3)
    fam = "tree" if kind == "tree" else "er"
    graphs = [
        G.generate_graph(fam, int(n), rng, directed=kind != "undirected", **({} if fam == "tree" else {"p": 0.3}))
        for n in [1, 7, 2, 12, 4, 9, 3]
    ]
    batch = batch_graphs(graphs)
    res = run_reference(spec, batch)
    for g, part, rnd in zip(graphs, unbatch_nodes(res.outputs["c"], batch), res.rounds.tolist(), strict=True):
        height = max((len(p) - 1 for p in _root_paths(g)), default=0) if kind == "tree" else 0
        want = expect(g, g.num_nodes, height)
        assert torch.equal(part, torch.full((g.num_nodes,), float(want), dtype=torch.float64))
        assert rnd == want
    assert torch.equal(res.outputs["last"], torch.cat([torch.full((g.num_nodes,), g.num_nodes - 1.0)
                                                       for g in graphs]))
    _assert_batch_equals_single(spec, graphs)


def _root_paths(g: Graph) -> list[list[int]]:
    """Every root-to-node path of a forest (edges parent -> child), by networkx."""
    d = digraph(g)
    roots = [v for v in d if d.in_degree(v) == 0]
    return [p for r in roots for p in nx.single_source_shortest_path(d, r).values()]
