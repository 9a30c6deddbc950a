"""Graph families, samplers, graph files and spec validation (dpdsl.graphs)."""

from __future__ import annotations

import json
import math

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dpdsl.errors import GraphError
from dpdsl.graphs import (
    FAMILIES,
    SAMPLERS,
    Graph,
    generate_graph,
    graph_from_json,
    graph_to_json,
    grid_shape,
    kind_satisfies,
    load_graph,
    register_family,
    register_sampler,
    sample_input,
    save_graph,
    validate_graph,
)
from dpdsl.graphs.generators import _triangle_pairs
from dpdsl.types import T_BOOL, T_INT, T_REAL, Type

W_NONNEG = Type("real", lo=0.0)


def to_nx(g: Graph) -> nx.Graph:
    h = nx.DiGraph() if g.directed else nx.Graph()
    h.add_nodes_from(range(g.num_nodes))
    h.add_edges_from(g.edge_index.t().tolist())
    return h


def same_graph(a: Graph, b: Graph) -> bool:
    def same(x: dict, y: dict) -> bool:
        return x.keys() == y.keys() and all(x[k].dtype == y[k].dtype and torch.equal(x[k], y[k]) for k in x)

    return (
        a.num_nodes == b.num_nodes
        and a.directed == b.directed
        and torch.equal(a.edge_index, b.edge_index)
        and same(a.node, b.node)
        and same(a.edge, b.edge)
    )


def one_line_error(fn, *needles: str) -> str:
    """Run ``fn``, expect a GraphError whose message is one line containing every needle."""
    with pytest.raises(GraphError) as info:
        fn()
    msg = str(info.value)
    assert "\n" not in msg, msg
    for needle in needles:
        assert needle in msg, f"{needle!r} not in {msg!r}"
    return msg


# ------------------------------------------------------------------------------------------ generators

ALL_CASES = [
    ("er", True, {"p": 0.3}),
    ("er", False, {"p": 0.3}),
    ("dag", True, {"p": 0.3}),
    ("tree", True, {}),
    ("tree", False, {}),
    ("tree", True, {"branching": 2}),
    ("path", True, {}),
    ("path", False, {}),
    ("grid", True, {}),
    ("grid", False, {}),
]


@pytest.mark.parametrize("family,directed,params", ALL_CASES)
def test_generators_deterministic_and_valid_for_their_kind(family, directed, params):
    a = generate_graph(family, 12, np.random.default_rng(7), directed=directed, **params)
    b = generate_graph(family, 12, np.random.default_rng(7), directed=directed, **params)
    assert same_graph(a, b)
    assert a.directed == directed and a.edge_index.dtype == torch.long
    assert not bool((a.edge_index[0] == a.edge_index[1]).any()), "self loop"
    kind = FAMILIES[family].kind_for(directed)
    assert same_graph(validate_graph(a, kind=kind, node_inputs={}, edge_inputs={}), a)


def test_seeds_differ_and_int_seed_matches_generator():
    gs = [generate_graph("er", 10, seed, p=0.5) for seed in range(3)]
    assert not same_graph(gs[0], gs[1]) and not same_graph(gs[1], gs[2])
    assert same_graph(gs[0], generate_graph("er", 10, np.random.default_rng(0), p=0.5))


def test_er_no_duplicates_and_edge_count_close_to_expectation():
    n, p = 60, 0.3
    for directed, pairs in ((True, n * (n - 1)), (False, n * (n - 1) // 2)):
        for seed in range(3):
            g = generate_graph("er", n, seed, directed=directed, p=p)
            h = to_nx(g)
            assert h.number_of_edges() == g.num_edges  # no parallel edges
            assert nx.number_of_selfloops(h) == 0
            sd = math.sqrt(pairs * p * (1 - p))
            assert abs(g.num_edges - p * pairs) < 5 * sd
    assert generate_graph("er", 9, 0, p=0.0).num_edges == 0
    assert generate_graph("er", 9, 0, p=1.0).num_edges == 72
    assert generate_graph("er", 9, 0, directed=False, p=1.0).num_edges == 36


def test_large_sparse_er_is_cheap():
    g = generate_graph("er", 100_000, 0, p=2e-5)
    assert abs(g.num_edges - 2e-5 * 100_000 * 99_999) < 5 * math.sqrt(2e5)
    assert int(g.edge_index.max()) < 100_000 and not bool((g.edge_index[0] == g.edge_index[1]).any())


def test_triangle_decoding_is_exact_for_large_indices():
    j = np.array([2, 3, 10, 3_000_000_000, 1_000_000_007], dtype=np.int64)
    i = np.array([0, 2, 7, 2_999_999_999, 12345], dtype=np.int64)
    k = j * (j - 1) // 2 + i
    di, dj = _triangle_pairs(k)
    assert (di == i).all() and (dj == j).all()


def test_dag_is_acyclic_with_shuffled_order():
    for seed in range(5):
        g = generate_graph("dag", 20, seed, p=0.4)
        h = to_nx(g)
        assert nx.is_directed_acyclic_graph(h)
        assert abs(g.num_edges - 0.4 * 190) < 5 * math.sqrt(190 * 0.24)
    # the topological order is random, not 0..n-1: some edges point from a larger to a smaller id
    ei = generate_graph("dag", 10, 0, p=0.5).edge_index
    assert bool((ei[0] > ei[1]).any())


def test_tree_is_a_rooted_arborescence_with_random_root():
    roots = set()
    for seed in range(10):
        g = generate_graph("tree", 15, seed)
        h = to_nx(g)
        assert nx.is_arborescence(h)
        roots.add(next(v for v, d in h.in_degree() if d == 0))
    assert len(roots) > 1
    for seed in range(5):
        h = to_nx(generate_graph("tree", 30, seed, branching=2))
        assert nx.is_arborescence(h) and max(d for _, d in h.out_degree()) <= 2
    assert generate_graph("tree", 1, 0).num_edges == 0
    assert nx.is_tree(to_nx(generate_graph("tree", 15, 0, directed=False)))


def test_path_and_grid_shapes():
    h = to_nx(generate_graph("path", 9, 3))
    assert nx.is_arborescence(h) and max(d for _, d in h.out_degree()) == 1
    for n in range(1, 40):
        r, c = grid_shape(n)
        assert r <= c <= max(2 * r, 2) and abs(r * c - n) <= max(r, 1)
    assert grid_shape(12) == (3, 4) and grid_shape(16) == (4, 4) and grid_shape(7, math.inf) == (1, 7)
    for directed in (True, False):
        g = generate_graph("grid", 20, 0, directed=directed)
        h = to_nx(g)
        assert g.num_nodes == 20 and g.num_edges == 4 * 4 + 3 * 5
        deg = [d for _, d in (h.to_undirected().degree())]
        assert max(deg) <= 4 and nx.is_connected(h.to_undirected())
    assert nx.is_directed_acyclic_graph(to_nx(generate_graph("grid", 20, 0)))


@pytest.mark.parametrize(
    "call,needle",
    [
        (lambda: generate_graph("nope", 5, 0), "unknown graph family 'nope'"),
        (lambda: generate_graph("er", 5, 0, p=1.5), "p must be in [0, 1]"),
        (lambda: generate_graph("er", 5, 0, p=-0.1), "p must be in [0, 1]"),
        (lambda: generate_graph("dag", 5, 0, p=float("nan")), "p must be in [0, 1]"),
        (lambda: generate_graph("er", 0, 0), "n must be an integer >= 1"),
        (lambda: generate_graph("er", 5, 0, q=0.1), "unknown parameter 'q'"),
        (lambda: generate_graph("dag", 5, 0, directed=False), "directed graphs only"),
        (lambda: generate_graph("tree", 5, 0, branching=-1), "branching"),
        (lambda: generate_graph("grid", 5, 0, max_aspect=0.5), "max_aspect"),
    ],
)
def test_generator_errors(call, needle):
    one_line_error(call, needle)


def test_kind_lattice():
    assert kind_satisfies("tree", "dag") and kind_satisfies("dag", "directed")
    assert kind_satisfies("undirected", "directed") and not kind_satisfies("directed", "dag")
    assert not kind_satisfies("directed", "undirected") and not kind_satisfies("undirected", "tree")
    assert FAMILIES["er"].kind_for(False) == "undirected" and FAMILIES["tree"].kind_for(True) == "tree"


def test_plugin_family_and_sampler():
    def star(n, rng, *, directed, hub=0):
        src = torch.full((n - 1,), int(hub))
        dst = torch.tensor([v for v in range(n) if v != hub])
        return Graph(n, torch.stack([src, dst]), directed)

    try:
        register_family("star", star, kind="tree", params={"hub": 0})
        one_line_error(lambda: register_family("star", star, kind="tree"), "already registered")
        g = generate_graph("star", 5, 0, hub=2)
        assert nx.is_arborescence(to_nx(g)) and g.edge_index[0].tolist() == [2] * 4
        register_sampler("twos", lambda args, size, rng: np.full(size, 2.0), produces="int", arity=0)
        assert sample_input("twos", (), 3, 0, dtype_kind="int").tolist() == [2.0, 2.0, 2.0]
    finally:
        FAMILIES.pop("star", None)
        SAMPLERS.pop("twos", None)


# -------------------------------------------------------------------------------------------- samplers


def test_samplers():
    u = sample_input("uniform", (2, 3), 1000, 0, dtype_kind="real")
    assert u.dtype == torch.float64 and bool(((u >= 2) & (u < 3)).all())
    assert torch.equal(u, sample_input("uniform", (2, 3), 1000, np.random.default_rng(0), dtype_kind="real"))
    r = sample_input("randint", (1, 3), 1000, 0, dtype_kind="int")
    assert r.dtype == torch.float64 and set(r.tolist()) == {1.0, 2.0, 3.0}
    b = sample_input("bernoulli", (0.5,), 1000, 0, dtype_kind="bool")
    assert b.dtype == torch.bool and 400 < int(b.sum()) < 600
    for seed in range(5):
        oh = sample_input("one_hot", (), 7, seed, dtype_kind="bool")
        assert oh.dtype == torch.bool and int(oh.sum()) == 1
    assert sample_input("one_hot", (), 4, 0, dtype_kind="real").sum().item() == 1.0
    assert sample_input("const", (math.inf,), 3, 0, dtype_kind="real").tolist() == [math.inf] * 3
    assert sample_input("const", (True,), 2, 0, dtype_kind="bool").tolist() == [True, True]
    assert sample_input("randint", (0, 1), 5, 0, dtype_kind="bool").dtype == torch.bool


@pytest.mark.parametrize(
    "dist,args,kind,needle",
    [
        ("gauss", (0, 1), "real", "unknown sampler 'gauss'"),
        ("uniform", (3, 2), "real", "a <= b"),
        ("randint", (5, 1), "int", "a <= b"),
        ("randint", (0.5, 2), "int", "integers"),
        ("bernoulli", (1.5,), "bool", "p must be in [0, 1]"),
        ("uniform", (0,), "real", "takes 2 argument(s), got 1"),
        ("uniform", (0, 1), "int", "gives real values but the input is int"),
        ("const", (0.5,), "bool", "non-boolean"),
        ("uniform", (0, math.inf), "real", "must be finite"),
    ],
)
def test_sampler_errors(dist, args, kind, needle):
    one_line_error(lambda: sample_input(dist, args, 5, 0, dtype_kind=kind), needle)


# ------------------------------------------------------------------------------------------------- JSON

_vals = st.one_of(
    st.floats(allow_nan=False, width=64), st.sampled_from([math.inf, -math.inf, 0.0, 1.0, -2.5, 1e300])
)


@st.composite
def small_graphs(draw) -> Graph:
    n = draw(st.integers(1, 6))
    e = draw(st.integers(0, 8))
    ends = draw(st.lists(st.integers(0, n - 1), min_size=2 * e, max_size=2 * e))
    ei = torch.tensor(ends, dtype=torch.long).reshape(2, e)

    def inputs(count: int) -> dict[str, torch.Tensor]:
        out = {}
        for name in draw(st.lists(st.sampled_from(["a", "b", "w", "src"]), unique=True, max_size=3)):
            if draw(st.booleans()):
                out[name] = torch.tensor(
                    draw(st.lists(st.booleans(), min_size=count, max_size=count)), dtype=torch.bool
                )
            else:
                out[name] = torch.tensor(
                    draw(st.lists(_vals, min_size=count, max_size=count)), dtype=torch.float64
                )
        return out

    return Graph(n, ei, draw(st.booleans()), inputs(n), inputs(e))


@settings(max_examples=150, deadline=None)
@given(small_graphs())
def test_json_round_trip_is_exact(g):
    text = json.dumps(graph_to_json(g), allow_nan=False)
    back = graph_from_json(json.loads(text))
    # empty bool inputs come back as float64 (an empty JSON list has no type); everything else is exact
    for section in ("node", "edge"):
        for k, t in getattr(back, section).items():
            if t.numel() == 0:
                getattr(back, section)[k] = t.to(getattr(g, section)[k].dtype)
    assert same_graph(g, back)


def test_json_file_round_trip_and_inf_encoding(tmp_path):
    g = Graph(
        3,
        torch.tensor([[0, 1], [1, 2]]),
        True,
        {"source": torch.tensor([True, False, False])},
        {"w": torch.tensor([math.inf, -math.inf], dtype=torch.float64)},
    )
    obj = graph_to_json(g)
    assert obj["edge"]["w"] == ["inf", "-inf"] and obj["edges"] == [[0, 1], [1, 2]]
    save_graph(g, tmp_path / "g.json")
    assert same_graph(load_graph(tmp_path / "g.json"), g)
    # JavaScript-style Infinity literals are accepted on input too
    (tmp_path / "h.json").write_text(
        '{"num_nodes": 2, "directed": false, "edges": [[0, 1]], "edge": {"w": [-Infinity]}}'
    )
    assert load_graph(tmp_path / "h.json").edge["w"].tolist() == [-math.inf]


GOOD = {
    "num_nodes": 5,
    "directed": True,
    "edges": [[0, 1], [1, 2]],
    "node": {"s": [1, 0, 0, 0, 0]},
    "edge": {"w": [0.5, 0.25]},
}


def _variant(**changes):
    obj = json.loads(json.dumps(GOOD))
    for k, v in changes.items():
        if v is None:
            del obj[k]
        else:
            obj[k] = v
    return json.dumps(obj)


@pytest.mark.parametrize(
    "text,needles",
    [
        ('{"num_nodes": 5, "directed": true,', ["invalid JSON at line 1"]),
        (_variant(edges=None), ["missing key 'edges'"]),
        (_variant(directed=None), ["missing key 'directed'"]),
        (_variant(edges=[[0, 1], [1, 2], [3, 4], [2, 9]]), ["edge 3 has endpoint 9 but num_nodes is 5"]),
        (_variant(edges=[[0, 1], [1, 2], [2, 9]], edge={}), ["edge 2 has endpoint 9 but num_nodes is 5"]),
        (_variant(edges=[[0, 1], [-1, 2]]), ["edge 1 has endpoint -1"]),
        (_variant(edges=[[0, 1.5], [1, 2]]), ["edge 0 endpoint is 1.5", "integer"]),
        (_variant(edges=[[0, "a"], [1, 2]]), ["edge 0 endpoint is 'a'"]),
        (_variant(edges=[[0, 1, 2], [1, 2]]), ["edge 0 is [0, 1, 2]"]),
        (_variant(edge={"w": [0.5]}), ["edge input 'w' has 1 values but the graph has 2 edges"]),
        (_variant(node={"s": [1, 0, 0]}), ["node input 's' has 3 values but the graph has 5 nodes"]),
        (_variant(edge={"w": [0.5, "nan"]}), ["edge input 'w' at edge 1 is NaN"]),
        (_variant(edge={"w": ["x", 1]}), ["edge input 'w' at edge 0 is 'x'"]),
        (_variant(node={"s": [True, 0, 0, 0, 0]}), ["mixes booleans and numbers"]),
        (_variant(num_nodes=0), ["num_nodes must be an integer >= 1"]),
        (_variant(nodes={"s": [1]}), ["unknown key 'nodes'"]),
        (_variant(directed="yes"), ["directed must be true or false"]),
        ("[1, 2]", ["expected a JSON object"]),
        (_variant(edge=None).replace('"node"', '"edge": {"w": [NaN, 1]}, "node"'), ["NaN"]),
    ],
)
def test_malformed_json_files(tmp_path, text, needles):
    p = tmp_path / "g.json"
    p.write_text(text)
    one_line_error(lambda: load_graph(p), str(p), *needles)


def test_load_errors(tmp_path):
    one_line_error(lambda: load_graph(tmp_path / "missing.json"), "missing.json: no such file")
    one_line_error(lambda: load_graph(tmp_path / "g.csv"), "cannot tell the graph format")
    (tmp_path / "g.dat").write_text(_variant())
    assert load_graph(tmp_path / "g.dat", fmt="json").num_nodes == 5


def test_save_refuses_overwrite_and_is_atomic(tmp_path):
    g = generate_graph("path", 4, 0)
    p = tmp_path / "g.json"
    save_graph(g, p)
    before = p.read_text()
    one_line_error(lambda: save_graph(generate_graph("path", 6, 0), p), "g.json: file exists", "overwrite")
    assert p.read_text() == before
    save_graph(generate_graph("path", 6, 0), p, overwrite=True)
    assert load_graph(p).num_nodes == 6
    assert sorted(x.name for x in tmp_path.iterdir()) == ["g.json"]  # no temp files left behind
    one_line_error(lambda: save_graph(g, tmp_path / "g.graphml"), "writes JSON")
    bad = Graph(2, torch.tensor([[0], [1]]), True, {}, {"w": torch.tensor([math.nan], dtype=torch.float64)})
    one_line_error(lambda: save_graph(bad, tmp_path / "nan.json"), "NaN")
    assert not (tmp_path / "nan.json").exists()


# ------------------------------------------------------------------------------------ edge lists/GraphML


def test_edge_list_formats(tmp_path):
    p = tmp_path / "g.edges"
    p.write_text(
        "# a weighted example\n# undirected\n# num_nodes: 5\n# node source: true false false false false\n"
        "0 1 0.5   # bare third value is w\n\n1 2 w=inf\n2 3 -inf\n"
    )
    g = load_graph(p)
    assert not g.directed and g.num_nodes == 5
    assert g.edge_index.tolist() == [[0, 1, 2], [1, 2, 3]]
    assert g.edge["w"].tolist() == [0.5, math.inf, -math.inf]
    assert g.node["source"].tolist() == [True, False, False, False, False]
    q = tmp_path / "h.txt"
    q.write_text("0 1 w=1 cap=2\n1 3 w=2 cap=3\n")
    h = load_graph(q)
    assert h.directed and h.num_nodes == 4 and h.edge["w"].tolist() == [1.0, 2.0]
    q.write_text("0 1 w=1 cap=2\n1 3 w=2\n")
    one_line_error(lambda: load_graph(q), "h.txt:2", "inputs ['w'] but line 1 has ['cap', 'w']")
    q.write_text("0 x\n")
    one_line_error(lambda: load_graph(q), "h.txt:1", "endpoint 'x' is not an integer")
    q.write_text("# num_nodes: 3\n0 7\n")
    one_line_error(lambda: load_graph(q), "edge 0 has endpoint 7 but num_nodes is 3")
    q.write_text("0 1 nan\n")
    one_line_error(lambda: load_graph(q), "h.txt:1", "NaN")


def test_edge_list_mixed_bool_number_input_is_an_error(tmp_path):
    q = tmp_path / "h.edgelist"
    q.write_text("0 1 w=1 cap=2\n1 3 w=2 cap=true\n")
    one_line_error(lambda: load_graph(q), "edge input 'cap' mixes booleans and numbers")


def test_graphml_loading(tmp_path):
    h = nx.DiGraph()
    h.add_node("10", source=False, label="c")
    h.add_node("2", source=True, label="a")
    h.add_node("7", source=False, label="b")
    h.add_edge("2", "7", w=0.5)
    h.add_edge("7", "10", w=math.inf)
    p = tmp_path / "g.graphml"
    nx.write_graphml(h, p)
    g = load_graph(p)
    # integer ids: numeric order 2, 7, 10 -> 0, 1, 2; the string label is not an input
    assert g.directed and g.num_nodes == 3 and g.edge_index.tolist() == [[0, 1], [1, 2]]
    assert g.node == {"source": g.node["source"]} and g.node["source"].tolist() == [True, False, False]
    assert g.edge["w"].tolist() == [0.5, math.inf]

    u = nx.Graph()
    u.add_edge("b", "a", w=1)
    u.add_edge("a", "c", w=2)
    nx.write_graphml(u, tmp_path / "u.graphml")
    g = load_graph(tmp_path / "u.graphml")
    # non-integer ids: document order b, a, c
    assert not g.directed and g.edge_index.tolist() == [[0, 1], [1, 2]] and g.edge["w"].tolist() == [1.0, 2.0]

    u.add_edge("c", "d", w=math.nan)
    nx.write_graphml(u, tmp_path / "n.graphml")
    one_line_error(lambda: load_graph(tmp_path / "n.graphml"), "n.graphml", "'w' is NaN")
    (tmp_path / "bad.graphml").write_text("<graphml><graph>")
    one_line_error(lambda: load_graph(tmp_path / "bad.graphml"), "bad.graphml: cannot read GraphML")


# -------------------------------------------------------------------------------------------- validate


def bf_graph(**edge) -> Graph:
    return Graph(
        4,
        torch.tensor([[0, 1, 2], [1, 2, 3]]),
        True,
        {"source": torch.tensor([1.0, 0.0, 0.0, 0.0]), "extra": torch.tensor([math.nan] * 4)},
        edge or {"w": torch.tensor([0.5, 0.0, 2.0], dtype=torch.float32)},
    )


def bf_validate(g: Graph, kind: str = "directed", **kw) -> Graph:
    return validate_graph(
        g, kind=kind, node_inputs={"source": T_BOOL}, edge_inputs={"w": W_NONNEG}, name="g.json", **kw
    )


def test_validate_converts_exactly_and_drops_extra_fields():
    g = bf_validate(bf_graph())
    assert g.node["source"].dtype == torch.bool and g.node["source"].tolist() == [True, False, False, False]
    assert g.edge["w"].dtype == torch.float64 and "extra" not in g.node
    g = validate_graph(
        bf_graph(w=torch.tensor([True, False, True])), kind="dag", node_inputs={}, edge_inputs={"w": T_INT}
    )
    assert g.edge["w"].tolist() == [1.0, 0.0, 1.0] and g.edge["w"].dtype == torch.float64
    inf = bf_graph(w=torch.tensor([math.inf, 1.0, 2.0]))
    assert validate_graph(inf, kind="tree", node_inputs={}, edge_inputs={"w": T_INT}).edge["w"][0] == math.inf


def _g(n, edges, directed=True, **edge) -> Graph:
    return Graph(n, torch.tensor(edges, dtype=torch.long).reshape(-1, 2).t(), directed, {}, edge)


@pytest.mark.parametrize(
    "make,kw,needles",
    [
        (
            lambda: bf_graph(w=torch.tensor([0.5, math.nan, 1.0])),
            {},
            ["edge input 'w' is NaN at edge 1 (1 -> 2)"],
        ),
        (
            lambda: bf_graph(w=torch.tensor([0.5, -0.5, 1.0])),
            {},
            ["edge input 'w' must be >= 0", "edge 1 (1 -> 2) has -0.5"],
        ),
        (
            lambda: bf_graph(w=torch.tensor([0.5, 1.0])),
            {},
            ["edge input 'w' has 2 values but the graph has 3 edges"],
        ),
        (lambda: bf_graph(x=torch.tensor([0.5, 1.0, 1.0])), {}, ["missing edge input 'w'", "x"]),
        (
            lambda: Graph(
                4, torch.tensor([[0], [9]]), True, {"source": torch.zeros(4)}, {"w": torch.ones(1)}
            ),
            {},
            ["edge 0 has endpoint 9 but num_nodes is 4"],
        ),
        (
            lambda: Graph(
                4, torch.tensor([[0.0], [1.5]]), True, {"source": torch.zeros(4)}, {"w": torch.ones(1)}
            ),
            {},
            ["endpoint 1.5", "integer"],
        ),
        (
            lambda: Graph(
                4,
                torch.tensor([[0, 1, 2], [1, 2, 0]]),
                True,
                {"source": torch.tensor([1.0, 0.5, 0, 0])},
                {"w": torch.ones(3)},
            ),
            {},
            ["node input 'source' is bool", "node 1 has 0.5"],
        ),
        (
            lambda: Graph(
                4,
                torch.tensor([[0, 1, 2], [1, 2, 0]]),
                True,
                {"source": torch.tensor([1.0, 0, 0, 0])},
                {"w": torch.ones(3)},
            ),
            {"kind": "dag"},
            ["needs a DAG", "cycle 0 -> 1 -> 2 -> 0"],
        ),
        (
            lambda: Graph(
                3, torch.tensor([[1], [1]]), True, {"source": torch.zeros(3)}, {"w": torch.ones(1)}
            ),
            {"kind": "dag"},
            ["cycle 1 -> 1 (self loop)"],
        ),
        (
            lambda: Graph(
                3, torch.tensor([[0, 1], [2, 2]]), True, {"source": torch.zeros(3)}, {"w": torch.ones(2)}
            ),
            {"kind": "tree"},
            ["rooted tree", "node 2 has 2 parents (0, 1)"],
        ),
        (
            lambda: Graph(
                4,
                torch.tensor([[1, 2, 3], [2, 3, 1]]),
                True,
                {"source": torch.zeros(4)},
                {"w": torch.ones(3)},
            ),
            {"kind": "tree"},
            ["rooted tree", "cycle"],
        ),
        (
            lambda: bf_graph(),
            {"kind": "undirected"},
            ["undirected graphs but the graph is directed", "symmetrize"],
        ),
        (
            lambda: Graph(
                2, torch.tensor([[0], [1]]), False, {"source": torch.zeros(2)}, {"w": torch.ones(1)}
            ),
            {"kind": "dag"},
            ["needs a DAG but the graph is undirected"],
        ),
        (
            lambda: Graph(
                2,
                torch.tensor([[0, 1], [1, 0]]),
                True,
                {"source": torch.zeros(2)},
                {"w": torch.tensor([1.0, 2.0])},
            ),
            {"kind": "undirected", "symmetrize": True},
            ["cannot symmetrize", "w = 1", "w = 2"],
        ),
    ],
)
def test_bad_graphs_raise_one_line_errors(make, kw, needles):
    kind = kw.pop("kind", "directed")
    one_line_error(lambda: bf_validate(make(), kind=kind, **kw), "g.json: ", *needles)


def test_int_node_enum_and_strict_ranges():
    g = _g(3, [[0, 1], [1, 2]], w=torch.tensor([1.0, 1.5]))
    one_line_error(
        lambda: validate_graph(g, kind="directed", node_inputs={}, edge_inputs={"w": T_INT}),
        "must be an integer (int)",
        "edge 1 (1 -> 2) has 1.5",
    )
    pos = Type("real", lo=0.0, lo_strict=True, hi=1.5)
    g = _g(3, [[0, 1], [1, 2]], w=torch.tensor([0.0, 1.0]))
    one_line_error(
        lambda: validate_graph(g, kind="directed", node_inputs={}, edge_inputs={"w": pos}), "> 0", "has 0"
    )
    g = _g(3, [[0, 1], [1, 2]], w=torch.tensor([1.0, 2.0]))
    one_line_error(
        lambda: validate_graph(g, kind="directed", node_inputs={}, edge_inputs={"w": pos}), "<= 1.5", "has 2"
    )
    g = Graph(3, torch.zeros(2, 0, dtype=torch.long), True, {"p": torch.tensor([0.0, 2.0, 3.0])})
    one_line_error(
        lambda: validate_graph(g, kind="dag", node_inputs={"p": Type("node")}, edge_inputs={}),
        "node id in 0..2",
        "node 2 has 3",
    )
    g = Graph(3, torch.zeros(2, 0, dtype=torch.long), True, {"c": torch.tensor([0.0, 1.0, 2.0])})
    one_line_error(
        lambda: validate_graph(
            g, kind="dag", node_inputs={"c": Type("enum", labels=("a", "b"))}, edge_inputs={}
        ),
        "enum index in 0..1",
    )
    one_line_error(
        lambda: validate_graph(g, kind="forest", node_inputs={}, edge_inputs={}), "unknown graph kind"
    )


def test_symmetrize_and_directed_view():
    d = _g(3, [[0, 1], [1, 0], [2, 1], [1, 2], [0, 2]], w=torch.tensor([1.0, 1.0, 3.0, 3.0, math.inf]))
    u = validate_graph(d, kind="undirected", node_inputs={}, edge_inputs={"w": T_REAL}, symmetrize=True)
    assert (
        not u.directed
        and u.edge_index.tolist() == [[0, 2, 0], [1, 1, 2]]
        and u.edge["w"].tolist() == [1, 3, math.inf]
    )
    same = validate_graph(u, kind="undirected", node_inputs={}, edge_inputs={"w": T_REAL})
    assert same_graph(same, u)
    v = validate_graph(u, kind="directed", node_inputs={}, edge_inputs={"w": T_REAL})
    assert v.directed and v.num_edges == 6 and v.edge["w"].tolist() == [1, 3, math.inf, 1, 3, math.inf]


def test_validation_is_vectorised_on_large_graphs():
    g = generate_graph("dag", 200_000, 0, p=5e-5)  # ~1M edges
    w = sample_input("uniform", (0, 1), g.num_edges, 0, dtype_kind="real")
    g.edge["w"] = w
    out = validate_graph(g, kind="dag", node_inputs={}, edge_inputs={"w": W_NONNEG})
    assert out.num_edges == g.num_edges
    t = generate_graph("tree", 200_000, 1)
    validate_graph(t, kind="tree", node_inputs={}, edge_inputs={})
