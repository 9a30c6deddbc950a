"""The worked grammar extension in ``examples/grammar_extension/`` (issue 2, item 8).

With the plugin loaded, its specs check, run on random DAGs and equal independent computations (a
scalar topological-order soft-min DP with ``scipy.special.logsumexp``; exact path counts with Python
integers; scipy Dijkstra at temperature 0); the emitted skeleton reproduces the reference executor; the
CLI accepts the specs with ``--plugin`` and rejects them, positioned, without it.

Plugins register into process-wide tables, so in-process tests load the plugin through the ``plugin``
fixture, which restores the loaded-plugin list and the aggregator registry afterwards; the CLI runs
in subprocesses. While the plugin is loaded, every shipped spec must parse and run exactly as before.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.special import logsumexp

from dpdsl import plugins, registry
from dpdsl.api import load_spec, load_spec_text
from dpdsl.codegen import emit
from dpdsl.errors import DslError
from dpdsl.execute import reference_transitions, run_reference
from dpdsl.frontend.parser import GRAMMAR_LOADER, base_grammar_text, parse
from dpdsl.graphs.core import Graph, batch_graphs, unbatch_nodes
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs

ROOT = Path(__file__).resolve().parents[1]
# the base grammar as a plain file path (dpdsl is imported from the checkout or an editable install)
BASE_GRAMMAR_FILE = Path(str(resources.files("dpdsl").joinpath("grammars", "dp.lark")))
EXT = ROOT / "examples" / "grammar_extension"
PLUGIN = EXT / "plugin.py"
SOFT = EXT / "soft_shortest_paths.dp"
LOGCOUNT = EXT / "log_path_count.dp"
GAMMA = 0.5  # the temperature written in soft_shortest_paths.dp


@pytest.fixture(scope="module")
def plugin() -> Iterator[ModuleType]:
    """The plugin, loaded in-process for this module only (registries and plugin list restored after)."""
    saved_loaded = dict(plugins._LOADED)
    saved_aggs = dict(registry.AGGREGATORS)
    saved_modules = set(sys.modules)
    try:
        yield plugins.load_plugin(str(PLUGIN))
    finally:
        plugins._LOADED.clear()
        plugins._LOADED.update(saved_loaded)
        registry.AGGREGATORS.clear()
        registry.AGGREGATORS.update(saved_aggs)
        for name in set(sys.modules) - saved_modules:
            if name.startswith(("dpdsl_plugin_", "dpdsl_test_ext_")):  # the plugin and emitted skeletons
                del sys.modules[name]


@pytest.fixture(scope="module")
def soft(plugin: ModuleType) -> SpecIR:
    return load_spec(SOFT)


@pytest.fixture(scope="module")
def logcount(plugin: ModuleType) -> SpecIR:
    return load_spec(LOGCOUNT)


# ----------------------------------------------------------------------------------- oracles


def _topo_order(n: int, src: np.ndarray, dst: np.ndarray) -> list[int]:
    indeg = np.bincount(dst, minlength=n)
    out: list[list[int]] = [[] for _ in range(n)]
    for a, b in zip(src.tolist(), dst.tolist(), strict=True):
        out[a].append(b)
    order, stack = [], [v for v in range(n) if indeg[v] == 0]
    while stack:
        v = stack.pop()
        order.append(v)
        for b in out[v]:
            indeg[b] -= 1
            if indeg[b] == 0:
                stack.append(b)
    assert len(order) == n, "not a DAG"
    return order


def soft_dp(g: Graph, gamma: float) -> np.ndarray:
    """Soft shortest paths by the textbook sequential DP in topological order (scalar numpy/scipy)."""
    src, dst = g.edge_index.numpy()
    w = g.edge["w"].numpy()
    source = g.node["source"].numpy()
    preds: list[list[int]] = [[] for _ in range(g.num_nodes)]
    for e, b in enumerate(dst.tolist()):
        preds[b].append(e)
    dist = np.full(g.num_nodes, np.inf)
    for v in _topo_order(g.num_nodes, src, dst):
        if source[v]:
            dist[v] = 0.0
            continue
        terms = np.array([dist[src[e]] + w[e] for e in preds[v]])
        if terms.size and np.isfinite(terms).any():
            dist[v] = -gamma * logsumexp(-terms / gamma)
    return dist


def path_counts(g: Graph) -> list[int]:
    """Exact number of paths from the source to every node, in Python integers (no overflow)."""
    src, dst = g.edge_index.numpy()
    count = [0] * g.num_nodes
    for v in np.flatnonzero(g.node["source"].numpy()):
        count[int(v)] = 1
    preds: list[list[int]] = [[] for _ in range(g.num_nodes)]
    for a, b in zip(src.tolist(), dst.tolist(), strict=True):
        preds[b].append(a)
    for v in _topo_order(g.num_nodes, src, dst):
        if not g.node["source"][v]:
            count[v] = sum(count[u] for u in preds[v])
    return count


def _graph(n: int, edges: list[tuple[int, int]], source: int | None, w: list[float] | None = None) -> Graph:
    ei = torch.tensor(edges, dtype=torch.long).reshape(-1, 2).T.contiguous()
    g = Graph(n, ei, True)
    g.node["source"] = torch.zeros(n, dtype=torch.bool)
    if source is not None:
        g.node["source"][source] = True
    g.edge["w"] = torch.tensor(w if w is not None else [0.25 * (i % 4) for i in range(len(edges))],
                               dtype=torch.float64)
    return g


EDGE_CASES = [
    _graph(1, [], 0),  # a single node
    _graph(4, [], 2),  # no edges
    _graph(5, [(0, 1), (1, 2), (0, 2)], 0),  # nodes 3, 4 isolated
    _graph(4, [(1, 0), (0, 2), (1, 2), (2, 3)], 0),  # the source has an in-edge; node 1 unreachable
    _graph(3, [(0, 1), (1, 2)], None),  # no source at all
    _graph(3, [(0, 1), (0, 1), (1, 2)], 0, [0.0, 0.0, 1.0]),  # parallel edges, zero weights
]


def _random_graphs(spec: SpecIR, seed: int) -> list[Graph]:
    return sample_graphs(spec, 40, seed) + sample_graphs(spec, 10, seed + 1, nodes=(30, 60))


# ------------------------------------------------------------------------------ the soft spec


def test_soft_spec_matches_topological_soft_dp(soft: SpecIR) -> None:
    graphs = _random_graphs(soft, 0) + EDGE_CASES
    res = run_reference(soft, batch_graphs(graphs))
    got = unbatch_nodes(res.outputs["dist"], batch_graphs(graphs))
    for g, d in zip(graphs, got, strict=True):
        want = torch.from_numpy(soft_dp(g, GAMMA))
        assert torch.equal(torch.isinf(d), torch.isinf(want))
        assert torch.allclose(d, want, rtol=1e-12, atol=1e-12), (g.num_nodes, d, want)


def test_soft_is_a_lower_bound_within_gamma_log_paths(soft: SpecIR) -> None:
    """min_len - g log(#paths) <= softmin <= min_len: the soft DP is a log-sum-exp over all paths."""
    for g in _random_graphs(soft, 5):
        d = run_reference(soft, g).outputs["dist"].numpy()
        ei = g.edge_index.numpy()
        csr = csr_matrix((g.edge["w"].numpy(), (ei[0], ei[1])), shape=(g.num_nodes, g.num_nodes))
        hard = dijkstra(csr, directed=True, indices=int(np.flatnonzero(g.node["source"].numpy())[0]))
        paths = np.array([float(c) for c in path_counts(g)])
        reach = np.isfinite(hard)
        assert np.array_equal(np.isfinite(d), reach)
        assert np.all(d[reach] <= hard[reach] + 1e-12)
        assert np.all(d[reach] >= hard[reach] - GAMMA * np.log(paths[reach]) - 1e-9)


@pytest.mark.parametrize("gamma", ["0", "1e-3", "2.5"])
def test_temperature_is_part_of_the_aggregate(plugin: ModuleType, gamma: str) -> None:
    """softmin[0] is the hard min (scipy Dijkstra on a DAG); other temperatures match the oracle."""
    text = SOFT.read_text().replace("softmin[0.5]", f"softmin[{gamma}]")
    spec = load_spec_text(text, "soft_t.dp")
    assert spec.views["soft"].agg.agg == f"softmin[{plugin._fmt(float(gamma))}]"
    for g in _random_graphs(spec, 7)[:20]:
        d = run_reference(spec, g).outputs["dist"]
        if float(gamma) == 0.0:
            ei = g.edge_index.numpy()
            csr = csr_matrix((g.edge["w"].numpy(), (ei[0], ei[1])), shape=(g.num_nodes, g.num_nodes))
            want = dijkstra(csr, directed=True, indices=int(np.flatnonzero(g.node["source"].numpy())[0]))
        else:
            want = soft_dp(g, float(gamma))
        assert torch.allclose(d, torch.from_numpy(want), rtol=1e-12, atol=1e-12)


def test_aggregator_identity_and_limits(plugin: ModuleType) -> None:
    """Empty neighbourhoods give the identity; infinities behave as limits; grouped = torch.logsumexp."""
    smin = registry.AGGREGATORS[plugin.tempered("softmin", 0.5)]
    assert smin.identity == math.inf and smin.custom is not None
    values = torch.tensor([1.0, 2.0, math.inf, math.inf, -math.inf, 3.0, 4.0], dtype=torch.float64)
    me = torch.tensor([0, 0, 1, 1, 2, 2, 4])
    out = smin.aggregate(values, me, torch.zeros_like(me), 5)
    assert out[0].item() == pytest.approx(-0.5 * math.log(math.exp(-2) + math.exp(-4)), abs=1e-15)
    assert out[1].item() == math.inf  # only unreachable neighbours
    assert out[2].item() == -math.inf  # a neighbour at -inf absorbs
    assert out[3].item() == math.inf  # empty
    assert out[4].item() == 4.0  # one term: exact
    lse = registry.AGGREGATORS["logsumexp"]
    x = torch.randn(1000, dtype=torch.float64) * 50
    grp = torch.randint(0, 7, (1000,))
    got = lse.aggregate(x, grp, grp, 8)
    for k in range(7):
        assert got[k].item() == pytest.approx(torch.logsumexp(x[grp == k], 0).item(), rel=1e-13)
    assert got[7].item() == -math.inf


# --------------------------------------------------------------------------- the logsumexp spec


def test_log_path_count_matches_exact_counts(logcount: SpecIR) -> None:
    graphs = _random_graphs(logcount, 3) + EDGE_CASES
    batch = batch_graphs(graphs)
    got = unbatch_nodes(run_reference(logcount, batch).outputs["lcount"], batch)
    for g, lc in zip(graphs, got, strict=True):
        want = torch.tensor([math.log(c) if c else -math.inf for c in path_counts(g)], dtype=torch.float64)
        assert torch.allclose(lc, want, rtol=1e-12, atol=1e-12)


def test_log_path_count_beyond_float64(logcount: SpecIR) -> None:
    """4**513 = 2**1026 paths through 513 complete bipartite layers: the count overflows float64, its
    log does not."""
    width, layers = 4, 513
    layer = [[1 + i * width + j for j in range(width)] for i in range(layers)]
    sink = 1 + layers * width
    edges = [(0, v) for v in layer[0]] + [(v, sink) for v in layer[-1]]
    edges += [(a, b) for lo, hi in zip(layer[:-1], layer[1:], strict=True) for a in lo for b in hi]
    g = _graph(sink + 1, edges, 0)
    lc = run_reference(logcount, g).outputs["lcount"]
    assert lc[sink].item() == pytest.approx(layers * math.log(width), rel=1e-12)
    with pytest.raises(OverflowError):
        float(path_counts(g)[sink])


# ------------------------------------------------------------------------- emitted skeletons


def _import_source(source: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # torch-geometric's inspector looks the module up while defining classes
    exec(compile(source, f"<{name}>", "exec"), mod.__dict__)
    return mod


@pytest.mark.parametrize("which", ["soft", "logcount"])
def test_emitted_skeleton_reproduces_reference(which: str, request: pytest.FixtureRequest) -> None:
    spec: SpecIR = request.getfixturevalue(which)
    mod = _import_source(emit(spec), f"dpdsl_test_ext_skeleton_{which}")
    model = mod.Skeleton(transitions=reference_transitions(spec))
    graphs = _random_graphs(spec, 11)[:25] + EDGE_CASES
    for g in graphs:
        inputs = {k: g.node[k] for k in spec.node_inputs} | {k: g.edge[k] for k in spec.edge_inputs}
        outputs, rounds = model(g.edge_index, g.num_nodes, **inputs)
        ref = run_reference(spec, g)
        assert rounds == int(ref.rounds[0])
        for name, want in ref.outputs.items():
            assert torch.allclose(outputs[name], want, rtol=1e-12, atol=1e-12), name


# ----------------------------------------------------------------------- base behaviour intact


def test_shipped_specs_unchanged_with_plugin(plugin: ModuleType) -> None:
    """The extended grammar parses every shipped spec to the same AST, and it runs the same."""
    base = BASE_GRAMMAR_FILE
    for path in sorted((ROOT / "specs").glob("*.dp")):
        text = path.read_text()
        assert parse(text, path.name) == parse(text, path.name, grammar=base)
        spec = load_spec(path)
        drawn = sample_graphs(spec, 4, 0)  # index domains (§12) run on the list: sequence instances batch there
        batch = drawn if spec.domain.indexed else batch_graphs(drawn)
        with_plugin = run_reference(spec, batch)
        plugins._LOADED.pop(str(PLUGIN))
        try:
            without = run_reference(load_spec(path, grammar=base), batch)
        finally:
            plugins._LOADED[str(PLUGIN)] = plugin
        for name, want in without.outputs.items():
            assert torch.equal(with_plugin.outputs[name], want), (path.name, name)


def _lalr_conflicts(grammar: Path | None) -> list[str]:
    """Shift/reduce conflicts lark resolves silently (as shifts), with the ``dp__`` import prefix removed.

    ``None`` is the base grammar, read from the package as the parser reads it."""
    import logging

    import lark

    seen: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage().replace("dp__", ""))

    handler, level = _Collect(), lark.logger.level
    lark.logger.addHandler(handler)
    lark.logger.setLevel(logging.DEBUG)
    try:
        if grammar is None:
            lark.Lark(base_grammar_text(), parser="lalr", debug=True)
        else:
            lark.Lark(grammar.read_text(), parser="lalr", debug=True,
                      import_paths=[GRAMMAR_LOADER, str(grammar.parent)])
    finally:
        lark.logger.removeHandler(handler)
        lark.logger.setLevel(level)
    return sorted(m for m in seen if "conflict" in m.lower())


def test_extension_adds_no_parser_conflicts() -> None:
    """The base grammar's greedy aggregate bodies cause a few shift/reduce conflicts; the extension
    must not add any (lark would resolve a new one silently)."""
    assert _lalr_conflicts(PLUGIN.parent / "ext.lark") == _lalr_conflicts(None)


def test_bad_tempered_aggregates_are_positioned_errors(plugin: ModuleType) -> None:
    text = SOFT.read_text()
    line = text.splitlines().index(next(x for x in text.splitlines() if x.startswith("view"))) + 1
    bad = text.replace("softmin[0.5]", "softer[0.5]")
    with pytest.raises(DslError, match=r"unknown aggregator 'softer\[0.5\]'") as err:
        load_spec_text(bad, "bad.dp")
    assert (err.value.line, err.value.column) == (line, 14)
    with pytest.raises(DslError, match="expected a number") as err:
        load_spec_text(text.replace("softmin[0.5]", "softmin[-1]"), "bad.dp")
    assert (err.value.line, err.value.column) == (line, 22)
    with pytest.raises(DslError, match="aggregates int or real, got bool"):
        load_spec_text(text.replace("dist[u] + w[u, v]", "dist[u] < w[u, v]"), "bad.dp")


# ----------------------------------------------------------------------------------------- CLI


def _cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dpdsl", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_cli_check_with_plugin() -> None:
    rel = PLUGIN.relative_to(ROOT)
    for spec, shows in ((SOFT, "softmin[0.5] over in-edges u -> v"), (LOGCOUNT, "logsumexp over in-edges")):
        r = _cli("--plugin", rel, "check", spec.relative_to(ROOT))
        assert r.returncode == 0, r.stderr
        assert shows in r.stdout


def test_cli_emit_with_plugin(tmp_path: Path) -> None:
    out = tmp_path / "skel.py"
    r = _cli("--plugin", PLUGIN, "emit", SOFT, "-o", out)
    assert r.returncode == 0, r.stderr
    assert 'AGGREGATORS["softmin[0.5]"]' in out.read_text()


def test_cli_base_grammar_rejects_the_extension() -> None:
    r = _cli("check", SOFT.relative_to(ROOT))
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines[0].startswith(f"{SOFT.relative_to(ROOT)}:14:21: error: unexpected '['")
    assert lines[1].strip().startswith("view  soft = softmin[0.5]")
    assert lines[2].index("^") == lines[1].index("[")
    r = _cli("check", LOGCOUNT)
    assert r.returncode == 2
    assert ":9:13: error: unknown aggregator 'logsumexp'" in r.stderr
