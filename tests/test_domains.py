"""Index domains (docs/architecture.md §12): every shipped pairs/grid/intervals/sequence spec against an
independent implementation (CLRS-30's loops and the textbook algorithms written plainly here, networkx,
brute force) on >= 50 seeded random instances with edge cases; batched == one-by-one; chunked split
relations == unchunked, bit for bit."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

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


# ------------------------------------------------------------------------------------ errors

GRID = """problem g
domain grid
input a[i] : int 0..3
input b[j] : int 0..3
state c[i, j] : int >= 0
init c = 0
view up = max over at : c[i - 1, j] default 0
transition c = unknown(c, up)
reference c = max(c, up)
rounds n until fixpoint
output c
"""
PAIRS = """problem p
domain pairs
graph directed
input edge w : real >= 0
state d[i, j] : real
init d = if i == j then 0 else inf
view via = min over split k : d[i, k] + d[k, j]
transition d = unknown(d, via)
reference d = min(d, via)
rounds n until fixpoint
output d
"""
ERRORS = [  # (spec, old, new, message fragment, line, column)
    (GRID, "domain grid", "domain grids", "unknown domain 'grids'", 2, 8),
    (GRID, "state c[i, j]", "state c[i]", "a state on grid takes 2 index variables", 5, 7),
    (GRID, "view up = max over at : c[i - 1, j] default 0",
     "view up = max over at : c[i - 1, k] default 0", "unknown index 'k'", 7, 25),
    (GRID, "view up = max over at : c[i - 1, j] default 0",
     "view up = max over split k : c[i, k] default 0", "no relation 'split' on grid", 7, 11),
    (GRID, "view up = max over at : c[i - 1, j] default 0",
     "view up = max over at : c[j, i] default 0", "index 'j' runs along another axis", 7, 25),
    (GRID, "view up = max over at : c[i - 1, j] default 0",
     "view up = max over at : a[j] default 0", "runs along another sequence than 'a'", 7, 25),
    (GRID, "output c", "output o = c[i - 1, j]", "an offset index can leave the domain", 11, 12),
    (GRID, "init c = 0", "init c = id", "'id' is the node of a node spec", 6, 10),
    (GRID, "input b[j] : int 0..3", "input b[k] : int 0..3", "unknown index 'k'", 4, 9),
    (GRID, "input b[j] : int 0..3", "input node b : int", "a grid spec has no graph", 4, 1),
    (GRID, "transition c = unknown(c, up)", "transition c = unknown(c, up, a)", "is an input, which is not local",
     8, 31),
    (GRID + "state e[x, y] : int\ninit e = 0\ntransition e = unknown(e)\n", "", "", "mismatched index variables",
     12, 9),
    (PAIRS, "view via = min over split k : d[i, k] + d[k, j]",
     "view via = min over split k : d[i, k + 1] + d[k, j]", "pairs take no index offsets", 7, 31),
    (PAIRS, "view via = min over split k : d[i, k] + d[k, j]",
     "view via = min over split k : d[i, k] + d[k, j] default 0", "", 0, 0),  # default is fine on pairs
    (PAIRS, "view via = min over split k : d[i, k] + d[k, j]",
     "view via = min over in-edges u -> k : d[i, u] + w[u, k]", "the edge must end at an index variable", 7, 12),
    (PAIRS, "view via = min over split k : d[i, k] + d[k, j]",
     "view via = min over in-edges u -> j : d[i, u] + w[j, u]", "expected w[u, j]", 7, 49),
    (PAIRS, "view via = min over split k : d[i, k] + d[k, j]",
     "view via = min over split i : d[i, i]", "the bound variable 'i' is already a name", 7, 12),
    (PAIRS.replace("domain pairs\n", ""), "", "", "index variables need an index domain", 4, 9),
]


@pytest.mark.parametrize("case", ERRORS, ids=lambda c: c[3] or "ok")
def test_malformed_domain_constructs_point_at_line_and_column(case: tuple) -> None:
    from dpdsl.api import load_spec_text
    from dpdsl.errors import DslError

    text, old, new, msg, line, col = case
    text = text.replace(old, new) if old else text
    if not msg:
        load_spec_text(text, "x.dp")
        return
    with pytest.raises(DslError) as info:
        load_spec_text(text, "x.dp")
    err = info.value
    assert msg in err.message, err.message
    assert (err.line, err.column) == (line, col), (err.line, err.column, err.message)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dpdsl", *args], capture_output=True, text=True)


def test_cli_errors_exit_2_with_one_line_or_a_caret(tmp_path: Path) -> None:
    bad_spec = tmp_path / "g.dp"
    bad_spec.write_text(GRID.replace("c[i - 1, j]", "c[i - 1, k]"))
    proc = _cli("check", str(bad_spec))
    assert proc.returncode == 2 and "g.dp:7:25" in proc.stderr and "^" in proc.stderr, proc.stderr
    lcs = str(SPECS / "lcs_length.dp")
    for content, msg in [('{"inputs": {"a": [0, 7], "b": [1]}}', "a[1] = 7 is outside"),
                         ('{"inputs": {"a": [0, 1]}}', "missing input 'b'"),
                         ('{"inputs": {"a": "xy", "b": [1]}}', "must be a list"),
                         ('{"inputs": {"a": [], "b": [1]}}', "at least one position"),
                         ('{"inputs": {"a": [0], "b": [1], "c": [2]}}', "'c' is not an input"),
                         ("[1, 2", "not JSON")]:
        f = tmp_path / "i.json"
        f.write_text(content)
        proc = _cli("run", lcs, "--instance", str(f))
        assert proc.returncode == 2, (content, proc.stderr)
        assert msg in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    proc = _cli("run", lcs, "--graph", str(f))
    assert proc.returncode == 2 and "pass --instance FILE" in proc.stderr


def test_cli_run_prints_row_major_tables(tmp_path: Path) -> None:
    f = tmp_path / "i.json"
    f.write_text('{"inputs": {"a": [0, 1, 2, 1], "b": [1, 2, 1]}}')
    proc = _cli("run", str(SPECS / "lcs_length.dp"), "--instance", str(f), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)["outputs"]
    c, b = clrs_lcs_length(np.array([0, 1, 2, 1]), np.array([1, 2, 1]))
    assert out["c"] == c.astype(int).tolist() and out["arrow"] == b.astype(int).tolist()
    proc = _cli("run", str(SPECS / "floyd_warshall.dp"), "--sample", "1", "--json")
    dist = json.loads(proc.stdout)["outputs"]["dist"]
    assert proc.returncode == 0 and len(dist) == len(dist[0]) and dist[0][0] == 0.0
    assert all(v == "inf" or isinstance(v, float) for row in dist for v in row)


# ------------------------------------------------------------------------------------ laws


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(1, 7), st.integers(1, 7), st.integers(0, 2**31 - 1))
def test_lowered_grid_equals_a_direct_recurrence(n: int, m: int, seed: int) -> None:
    """edit_distance lowered to tuples and gather lists == the same Jacobi recurrence in Python."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 3, n), rng.integers(0, 3, m)
    res = run_reference(spec("edit_distance"), seq(a=a, b=b))
    d = np.zeros((n, m))

    def at(i: int, j: int, dflt: float) -> float:
        return d[i, j] if i >= 0 and j >= 0 else dflt

    for _ in range(n + m):
        d = np.array([[min(at(i - 1, j - 1, j if i == 0 else i) + (a[i] != b[j]), at(i - 1, j, j + 1) + 1,
                           at(i, j - 1, i + 1) + 1) for j in range(m)] for i in range(n)])
    np.testing.assert_array_equal(table(res, "d"), d)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_lowered_intervals_equal_a_direct_recurrence(n: int, seed: int) -> None:
    """matrix_chain_order's split relation (i <= k < j, reads (i, k), (k + 1, j), p[i - 1]) == Python."""
    p = np.random.default_rng(seed).random(n)
    res = run_reference(spec("matrix_chain_order"), seq(p=p))
    m = np.where(np.eye(n, dtype=bool), 0.0, np.inf)
    for _ in range(n):
        new = m.copy()
        for i in range(1, n):
            for j in range(i + 1, n):
                best = min(m[i, k] + m[k + 1, j] + p[i - 1] * p[k] * p[j] for k in range(i, j))
                new[i, j] = min(m[i, j], best)
        m = new
    np.testing.assert_array_equal(np.triu(table(res, "cost"))[1:, 1:], np.triu(m)[1:, 1:])
