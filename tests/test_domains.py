"""Index domains (docs/architecture.md §12): every shipped pairs/grid/intervals/sequence spec against an
independent implementation (CLRS-30's loops and the textbook algorithms written plainly here, networkx,
brute force) on >= 50 seeded random instances with edge cases; batched == one-by-one; chunked split
relations == unchunked, bit for bit."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch

from dpdsl.api import load_spec
from dpdsl.domains.instance import SeqInstance
from dpdsl.execute import run_reference
from dpdsl.graphs.core import Graph

SPECS = Path(__file__).resolve().parent.parent / "specs"
N_INSTANCES = 60


def spec(name: str):
    return load_spec(SPECS / f"{name}.dp")


def table(res, name: str, b: int = 0) -> np.ndarray:
    return res.layout.unflatten(res.outputs[name], b).numpy()


def seq(**inputs: np.ndarray) -> SeqInstance:
    """A sequence instance; lengths from the inputs (grid: a then b)."""
    lengths = tuple(len(v) for k, v in inputs.items() if k in ("a", "b")) or (len(next(iter(inputs.values()))),)
    return SeqInstance(lengths, {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in inputs.items()})


# ------------------------------------------------------------------------------------ pairs


def weighted_graph(rng: np.random.Generator, n: int, p: float, directed: bool, loops: bool) -> Graph:
    mat = rng.random((n, n)) < p
    if not loops:
        np.fill_diagonal(mat, False)
    if not directed:
        mat = np.triu(mat)
    src, dst = np.nonzero(mat)
    w = rng.uniform(0.01, 1.0, size=src.shape[0])  # > 0: CLRS-30 reads weight 0 as "no edge"
    ei = torch.tensor(np.stack([src, dst]), dtype=torch.long).reshape(2, -1)
    g = Graph(n, ei, directed, edge={"w": torch.tensor(w)})
    return g.directed_view()


def graph_cases(seed: int) -> list[Graph]:
    rng = np.random.default_rng(seed)
    cases = [weighted_graph(rng, 1, 0.0, True, False), weighted_graph(rng, 1, 1.0, True, True),
             weighted_graph(rng, 5, 0.0, True, False), weighted_graph(rng, 6, 1.0, True, True),
             weighted_graph(rng, 4, 0.0, True, True)]  # single nodes, no edges, complete, self loops only
    while len(cases) < N_INSTANCES:
        n = int(rng.integers(2, 13))
        cases.append(weighted_graph(rng, n, float(rng.choice([0.2, 0.5])), bool(rng.integers(2)), True))
    return cases


def clrs_floyd_warshall(A: np.ndarray) -> np.ndarray:
    """CLRS-30's floyd_warshall (clrs/_src/algorithms/graphs.py), written out: the predecessor matrix."""
    n = A.shape[0]
    D, msk = A.copy(), (A > 0).astype(float)
    Pi = np.array([[i for _ in range(n)] for i in range(n)], dtype=float)
    for k in range(n):
        prev_D, prev_msk = D.copy(), msk.copy()
        for i in range(n):
            for j in range(n):
                if prev_msk[i, k] > 0 and prev_msk[k, j] > 0:
                    if msk[i, j] == 0 or prev_D[i, k] + prev_D[k, j] < D[i, j]:
                        D[i, j] = prev_D[i, k] + prev_D[k, j]
                        Pi[i, j] = Pi[k, j]
                    msk[i, j] = 1
    return Pi


def adjacency(g: Graph) -> np.ndarray:
    A = np.zeros((g.num_nodes, g.num_nodes))
    for (u, v), w in zip(g.edge_index.T.tolist(), g.edge["w"].tolist(), strict=True):
        A[u, v] = w if A[u, v] == 0 else min(A[u, v], w)
    return A


def test_floyd_warshall_against_clrs_and_scipy() -> None:
    from scipy.sparse.csgraph import shortest_path

    sp = spec("floyd_warshall")
    cases = graph_cases(0)
    res = run_reference(sp, cases)
    for b, g in enumerate(cases):
        A = adjacency(g)
        dist = shortest_path(np.where(A > 0, A, 0), method="FW", directed=True)
        np.testing.assert_allclose(table(res, "dist", b), dist, rtol=1e-12)
        np.testing.assert_array_equal(table(res, "parent", b), clrs_floyd_warshall(A), err_msg=f"instance {b}")


def test_floyd_warshall_self_loop_heavier_than_closed_walk() -> None:
    """The issue's case: 0 -> 0 weighs 0.9, 0 -> 1 -> 0 weighs 0.3: parent[0][0] = 1; 2's loop wins."""
    ei = torch.tensor([[0, 0, 1, 2, 2, 1], [0, 1, 0, 2, 1, 2]])
    g = Graph(3, ei, True, edge={"w": torch.tensor([0.9, 0.1, 0.2, 0.05, 0.5, 0.5])})
    res = run_reference(spec("floyd_warshall"), g)
    parent = table(res, "parent")
    assert parent[0, 0] == 1 and parent[2, 2] == 2 and parent[1, 1] in (0, 2)
    np.testing.assert_array_equal(parent, clrs_floyd_warshall(adjacency(g)))


def test_transitive_closure_against_networkx() -> None:
    sp = spec("transitive_closure")
    cases = graph_cases(1)
    res = run_reference(sp, cases)
    for b, g in enumerate(cases):
        G = nx.DiGraph()
        G.add_nodes_from(range(g.num_nodes))
        G.add_edges_from(g.edge_index.T.tolist())
        want = np.zeros((g.num_nodes, g.num_nodes), dtype=bool)
        for i in range(g.num_nodes):
            for j in nx.descendants(G, i):
                want[i, j] = True
            want[i, i] = any(i in nx.descendants(G, s) or s == i for s in G.successors(i))
        np.testing.assert_array_equal(table(res, "reach", b), want, err_msg=f"instance {b}")


# ------------------------------------------------------------------------------------ grids


def string_cases(seed: int) -> list[SeqInstance]:
    rng = np.random.default_rng(seed)
    cases = [seq(a=[0], b=[0]), seq(a=[0], b=[1]), seq(a=[1, 1, 1], b=[1]), seq(a=[2], b=[0, 1, 2, 3]),
             seq(a=[0, 1, 2, 3], b=[0, 1, 2, 3])]
    while len(cases) < N_INSTANCES:
        total = int(rng.integers(2, 21))
        cases.append(seq(a=rng.integers(0, 4, total - total // 2), b=rng.integers(0, 4, total // 2)))
    return cases


def clrs_lcs_length(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CLRS-30's lcs_length (clrs/_src/algorithms/dynamic_programming.py), written out."""
    b, c = np.zeros((len(x), len(y))), np.zeros((len(x), len(y)))
    for i in range(len(x)):
        if x[i] == y[0]:
            c[i, 0], b[i, 0] = 1, 0
        elif i > 0 and c[i - 1, 0] == 1:
            c[i, 0], b[i, 0] = 1, 1
        else:
            c[i, 0], b[i, 0] = 0, 1
    for j in range(len(y)):
        if x[0] == y[j]:
            c[0, j], b[0, j] = 1, 0
        elif j > 0 and c[0, j - 1] == 1:
            c[0, j], b[0, j] = 1, 2
        else:
            c[0, j], b[0, j] = 0, 1
    for i in range(1, len(x)):
        for j in range(1, len(y)):
            if x[i] == y[j]:
                c[i, j], b[i, j] = c[i - 1, j - 1] + 1, 0
            elif c[i - 1, j] >= c[i, j - 1]:
                c[i, j], b[i, j] = c[i - 1, j], 1
            else:
                c[i, j], b[i, j] = c[i, j - 1], 2
    return c, b


def test_lcs_length_against_clrs() -> None:
    cases = string_cases(2)
    res = run_reference(spec("lcs_length"), cases)
    for k, inst in enumerate(cases):
        c, b = clrs_lcs_length(inst.inputs["a"].numpy(), inst.inputs["b"].numpy())
        np.testing.assert_array_equal(table(res, "c", k), c, err_msg=f"instance {k}")
        np.testing.assert_array_equal(table(res, "arrow", k), b, err_msg=f"instance {k}")


def levenshtein(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The textbook table with its zero row and column; arrows prefer diagonal, then up, then left."""
    D = np.zeros((len(x) + 1, len(y) + 1))
    D[:, 0], D[0, :] = np.arange(len(x) + 1), np.arange(len(y) + 1)
    arrow = np.zeros((len(x), len(y)))
    for i in range(1, len(x) + 1):
        for j in range(1, len(y) + 1):
            diag = D[i - 1, j - 1] + (x[i - 1] != y[j - 1])
            up, left = D[i - 1, j] + 1, D[i, j - 1] + 1
            D[i, j] = min(diag, up, left)
            arrow[i - 1, j - 1] = 0 if diag <= min(up, left) else 1 if up <= left else 2
    return D[1:, 1:], arrow


def test_edit_distance_against_textbook() -> None:
    cases = string_cases(3)
    res = run_reference(spec("edit_distance"), cases)
    for k, inst in enumerate(cases):
        d, arrow = levenshtein(inst.inputs["a"].numpy(), inst.inputs["b"].numpy())
        np.testing.assert_array_equal(table(res, "d", k), d, err_msg=f"instance {k}")
        np.testing.assert_array_equal(table(res, "arrow", k), arrow, err_msg=f"instance {k}")


# ------------------------------------------------------------------------------------ intervals


def matrix_chain(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CLRS 15.2 MATRIX-CHAIN-ORDER, 1-indexed, bottom-up by chain length, ties to the smallest k."""
    n = len(p) - 1
    m, s = np.zeros((n + 1, n + 1)), np.zeros((n + 1, n + 1))
    for length in range(2, n + 1):
        for i in range(1, n - length + 2):
            j = i + length - 1
            m[i, j] = math.inf
            for k in range(i, j):
                q = m[i, k] + m[k + 1, j] + p[i - 1] * p[k] * p[j]
                if q < m[i, j]:
                    m[i, j], s[i, j] = q, k
    return m, s


def test_matrix_chain_order_against_clrs() -> None:
    rng = np.random.default_rng(4)
    cases = [seq(p=[0.5]), seq(p=[0.5, 0.2]), seq(p=[1.0, 1.0, 1.0]), seq(p=[0.3, 0.0, 0.7, 0.1])]
    while len(cases) < N_INSTANCES:
        cases.append(seq(p=rng.random(int(rng.integers(2, 17)))))
    res = run_reference(spec("matrix_chain_order"), cases)
    for k, inst in enumerate(cases):
        m, s = matrix_chain(inst.inputs["p"].numpy())
        np.testing.assert_allclose(table(res, "cost", k), m, rtol=1e-12, atol=0)
        if k != 2:  # equal dimensions: every split ties, and summation order may break the tie
            np.testing.assert_array_equal(table(res, "s", k), s, err_msg=f"instance {k}")


def clrs_optimal_bst(p: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CLRS-30's optimal_bst (Aho et al.), written out: e and root over positions 0..n."""
    n = len(p)
    e, w, root = np.zeros((n + 1, n + 1)), np.zeros((n + 1, n + 1)), np.zeros((n + 1, n + 1))
    for i in range(n + 1):
        e[i, i] = w[i, i] = q[i]
    for length in range(1, n + 1):
        for i in range(n - length + 1):
            j = i + length
            e[i, j] = 1e9
            w[i, j] = w[i, j - 1] + p[j - 1] + q[j]
            for r in range(i, j):
                t = e[i, r] + e[r + 1, j] + w[i, j]
                if t < e[i, j]:
                    e[i, j], root[i, j] = t, r
    return e, root


def test_optimal_bst_against_clrs() -> None:
    rng = np.random.default_rng(5)
    cases: list[tuple[np.ndarray, np.ndarray]] = [(np.zeros(0), np.ones(1)), (np.array([0.5]), np.array([0.2, 0.3]))]
    while len(cases) < N_INSTANCES:
        n = int(rng.integers(1, 16))
        arr = rng.uniform(0, 1, 2 * n + 1)
        arr /= arr.sum()  # CLRS-30's OptimalBSTSampler
        cases.append((arr[:n], arr[n:]))
    insts = [seq(p=np.append(p, 0.0), q=q) for p, q in cases]  # p padded to the n + 1 positions of q
    res = run_reference(spec("optimal_bst"), insts)
    for k, (p, q) in enumerate(cases):
        e, root = clrs_optimal_bst(p, q)
        np.testing.assert_allclose(np.triu(table(res, "e", k)), np.triu(e), rtol=1e-12)
        np.testing.assert_array_equal(table(res, "root", k), root, err_msg=f"instance {k}")


# ------------------------------------------------------------------------------------ sequences


def test_max_subarray_against_brute_force() -> None:
    rng = np.random.default_rng(6)
    cases = [np.array([0.5]), np.array([-0.5]), np.array([-0.3, -0.1, -0.7]), np.array([0.2, 0.4, 0.1])]
    while len(cases) < N_INSTANCES:
        cases.append(rng.uniform(-1, 1, int(rng.integers(1, 33))))
    res = run_reference(spec("max_subarray"), [seq(x=x) for x in cases])
    for k, x in enumerate(cases):
        n = len(x)
        best = max((x[i:j + 1].sum(), i, j) for i in range(n) for j in range(i, n))
        start, end = np.zeros(n, bool), np.zeros(n, bool)
        start[best[1]], end[best[2]] = True, True
        np.testing.assert_array_equal(table(res, "start", k), start, err_msg=f"instance {k}")
        np.testing.assert_array_equal(table(res, "end", k), end, err_msg=f"instance {k}")
        np.testing.assert_allclose(table(res, "best", k), np.full(n, best[0]), rtol=1e-12)


def test_minimum_first_index() -> None:
    rng = np.random.default_rng(7)
    cases = [np.array([0.5]), np.array([0.2, 0.2, 0.1, 0.1]), np.array([0.0, 0.0])]
    while len(cases) < N_INSTANCES:
        cases.append(rng.integers(0, 5, int(rng.integers(1, 33))) / 4 if len(cases) % 2 else
                     rng.random(int(rng.integers(1, 33))))
    res = run_reference(spec("minimum"), [seq(key=x) for x in cases])
    for k, x in enumerate(cases):
        want = np.zeros(len(x), bool)
        want[int(np.argmin(x))] = True  # numpy: the first occurrence
        np.testing.assert_array_equal(table(res, "first", k), want, err_msg=f"instance {k}")


# ------------------------------------------------------------------------------------ batching, chunks

BATCHES = {
    "floyd_warshall": lambda: graph_cases(8)[:12],
    "transitive_closure": lambda: graph_cases(9)[:12],
    "lcs_length": lambda: string_cases(10)[:12],
    "edit_distance": lambda: string_cases(11)[:12],
    "matrix_chain_order": lambda: [seq(p=np.random.default_rng(s).random(s % 9 + 1)) for s in range(12)],
    "optimal_bst": lambda: [seq(p=np.append(np.random.default_rng(s).random(s % 7), 0.0),
                                q=np.random.default_rng(s + 99).random(s % 7 + 1)) for s in range(12)],
    "max_subarray": lambda: [seq(x=np.random.default_rng(s).uniform(-1, 1, s % 11 + 1)) for s in range(12)],
    "minimum": lambda: [seq(key=np.random.default_rng(s).random(s % 11 + 1)) for s in range(12)],
}


@pytest.mark.parametrize("name", sorted(BATCHES))
def test_batched_equals_one_by_one_and_chunked_equals_whole(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sp, items = spec(name), BATCHES[name]()
    batch = run_reference(sp, items)
    monkeypatch.setenv("DPDSL_CHUNK_MESSAGES", "97")  # many chunks, some split inside an instance
    chunked = run_reference(sp, items)
    for b, item in enumerate(items):
        alone = run_reference(sp, [item])
        assert int(batch.rounds[b]) == int(alone.rounds[0])
        for out in sp.outputs:
            one = table(alone, out)
            assert np.array_equal(table(batch, out, b), one, equal_nan=True), (name, out, b)
            assert np.array_equal(table(chunked, out, b), one, equal_nan=True), (name, out, b)
