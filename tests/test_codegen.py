"""The emitted skeleton (``dpdsl emit``) for every shipped spec: it compiles, it takes every helper from
``dpdsl.runtime`` (nothing pasted inline), and with the reference transitions it reproduces the
reference executor exactly. Spec paths and names in its docstrings cannot break the module.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dpdsl import runtime
from dpdsl.api import load_spec_text
from dpdsl.codegen import RUNTIME_NAMES, _doc, emit
from dpdsl.execute import reference_transitions, run_reference
from dpdsl.expr import nodes as N
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR
from dpdsl.registry import FUNCTIONS
from dpdsl.sampling import sample_graphs
from dpdsl.tolerances import exact_equal

# node specs here; index-domain skeletons (§12) are tested in test_emit_domains
SPECS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "specs").glob("*.dp")
               if "\ndomain " not in p.read_text())
CONSTANTS = {"GRAPH_KIND", "NODE_INPUTS", "EDGE_INPUTS", "STATES", "UNKNOWN_ARGS"}

# Every built-in function, and builtins read bare inside aggregates (the aggregating node's value).
FUNCTIONS_SPEC = """problem builtins_and_functions
graph directed
input node source : bool
input edge w      : real >= 0
state dist        : real
init  dist = if source then 0 else inf
view  best = min over in-edges u -> v : min(dist[u] + w[u, v], n + id)
view  far  = max over in-edges u -> v : max(dist[u], w[u, v], 1) - abs(0 - n)
transition dist = unknown(dist, best)
reference  dist = min(dist, best)
rounds n - 1 until fixpoint
output dist
output far_out = far
output spread = abs(dist - id) + min(n, id) + max(dist, id, 1)
output lowest = argmin over in-edges u -> v : w[u, v] + id
sample graph er(p = 0.5) nodes 4..16
sample w uniform(0, 1)
sample source one_hot
"""


@pytest.fixture(scope="module")
def modules() -> Iterator[dict[str, ModuleType]]:
    """Emitted modules, imported once each (and removed from ``sys.modules`` afterwards)."""
    loaded: dict[str, ModuleType] = {}
    yield loaded
    for mod in loaded.values():
        sys.modules.pop(mod.__name__, None)


def _import(source: str, key: str, cache: dict[str, ModuleType]) -> ModuleType:
    if key not in cache:
        name = f"dpdsl_test_codegen_{key}"
        spec = importlib.util.spec_from_loader(name, loader=None)
        assert spec is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod  # torch-geometric's inspector looks the module up while defining classes
        exec(compile(source, f"<{name}>", "exec"), mod.__dict__)
        cache[key] = mod
    return cache[key]


def _matches_reference(spec: SpecIR, mod: ModuleType, graphs: list[Graph]) -> None:
    model = mod.Skeleton(transitions=reference_transitions(spec))
    for g in graphs:
        d = g.directed_view()
        inputs = {k: d.node[k] for k in spec.node_inputs} | {k: d.edge[k] for k in spec.edge_inputs}
        outputs, rounds = model(d.edge_index, d.num_nodes, **inputs)
        ref = run_reference(spec, g)
        assert rounds == int(ref.rounds[0]), g.num_nodes
        assert outputs.keys() == ref.outputs.keys()
        for name, want in ref.outputs.items():
            assert outputs[name].dtype == want.dtype, name
            assert bool(exact_equal(outputs[name], want).all()), (name, outputs[name], want)


def _graphs(spec: SpecIR) -> list[Graph]:
    """Sampled graphs, a larger one, and one- and two-node graphs (empty neighbourhoods)."""
    return (sample_graphs(spec, 6, 0) + sample_graphs(spec, 1, 1, nodes=(40, 40))
            + sample_graphs(spec, 3, 2, nodes=(1, 2)))


@pytest.mark.parametrize("name", SPECS)
def test_emitted_skeleton_matches_reference(name: str, specs: dict[str, SpecIR],
                                            modules: dict[str, ModuleType]) -> None:
    spec = specs[name]
    _matches_reference(spec, _import(emit(spec), name, modules), _graphs(spec))


def test_functions_and_builtins_in_aggregates_match_reference(modules: dict[str, ModuleType]) -> None:
    """min/max/abs through the registry's source templates, and bare ``n``/``id`` inside aggregate bodies."""
    spec = load_spec_text(FUNCTIONS_SPEC, "builtins_and_functions.dp")
    used = {x.fn for x in _calls(spec)}
    assert used == set(FUNCTIONS), "the spec should exercise every built-in function"
    _matches_reference(spec, _import(emit(spec), "functions", modules), _graphs(spec))


def _calls(spec: SpecIR) -> Iterator[N.Call]:
    roots = [v.agg for v in spec.views.values()] + [o.expr for o in spec.outputs.values()]
    for root in roots:
        yield from (x for x in N.walk(root) if isinstance(x, N.Call))


@pytest.mark.parametrize("name", [*SPECS, "functions"])
def test_emitted_source_takes_helpers_from_runtime(name: str, specs: dict[str, SpecIR],
                                                   modules: dict[str, ModuleType]) -> None:
    """No helper defined inline: top-level code is constants, classes and the transition stubs only, and
    every dpdsl name comes from ``dpdsl.runtime`` (``AGGREGATORS`` from the registry when needed)."""
    spec = specs[name] if name in specs else load_spec_text(FUNCTIONS_SPEC, "builtins_and_functions.dp")
    source = emit(spec)
    tree = ast.parse(source)
    funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert sorted(funcs) == sorted(f"transition_{k}" for k in spec.states)
    assigned = {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert assigned == CONSTANTS
    imported: dict[str, tuple[str, str]] = {}
    for n in tree.body:
        if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("dpdsl"):
            for alias in n.names:
                imported[alias.asname or alias.name] = (n.module, alias.name)
    runtime_names = {k for k, (m, _) in imported.items() if m == "dpdsl.runtime"}
    assert set(imported) - runtime_names <= {"AGGREGATORS"}
    assert runtime_names <= set(RUNTIME_NAMES)
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    assert set(imported) <= read, "an unused import"
    mod = _import(source, name, modules)
    for local, (module, attr) in imported.items():
        if module == "dpdsl.runtime":
            assert getattr(mod, local) is getattr(runtime, attr)


def test_function_templates_resolve_to_the_executor_functions(modules: dict[str, ModuleType]) -> None:
    """Each registry template, evaluated in an emitted module, is the function the executor calls."""
    mod = _import(emit(load_spec_text(FUNCTIONS_SPEC, "builtins_and_functions.dp")), "functions", modules)
    xs = [torch.tensor([1.0, -2.0, float("inf"), float("nan")]), torch.tensor([0.5, -3.0, 1.0, 2.0]),
          torch.tensor([2.0, 5.0, -1.0, 0.0])]
    for fn in FUNCTIONS.values():
        for k in range(fn.min_args, min(fn.max_args, len(xs)) + 1):
            names = [f"x{i}" for i in range(k)]
            src = fn.source.format(*names, args=", ".join(names))
            got = eval(src, dict(mod.__dict__) | dict(zip(names, xs, strict=False)))  # noqa: S307
            torch.testing.assert_close(got, fn.torch_fn(*xs[:k]), rtol=0, atol=0, equal_nan=True, msg=src)


@pytest.mark.parametrize("filename", [
    r"C:\Users\dev\specs\bellman_ford.dp",  # \U would start a unicode escape
    'we"""ird".dp',
    "trailing quote\"",
    "trailing backslash\\",
    "tab\tand \x1b escape \udcff.dp",  # control characters and an undecodable byte (os.fsdecode)
])
def test_spec_path_in_docstring_compiles(filename: str, spec_dir: Path) -> None:
    spec = load_spec_text((spec_dir / "bellman_ford.dp").read_text(), filename)
    source = emit(spec)
    source.encode()  # writable as UTF-8
    doc = ast.get_docstring(ast.parse(source), clean=False)
    assert doc is not None and filename in doc


def test_spec_name_with_triple_quotes_compiles(specs: dict[str, SpecIR]) -> None:
    name = 'bf"""\\N{x}"'
    tree = ast.parse(emit(replace(specs["bellman_ford"], name=name)))
    skeleton = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Skeleton")
    assert f"`{name}`" in (ast.get_docstring(tree) or "")
    assert f"`{name}`" in (ast.get_docstring(skeleton) or "")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.one_of(st.sampled_from('"\\\n\r\t'), st.characters(exclude_categories=()))))
def test_docstring_literal_reads_back_any_text(text: str) -> None:
    """Any text, quotes, backslashes, newlines, control characters and lone surrogates included."""
    literal = _doc(text)
    literal.encode()  # writable as UTF-8: lone surrogates are escaped
    assert ast.literal_eval(literal) == text
    assert ast.literal_eval(_doc(text + '"')) == text + '"'  # quotes and backslashes at the very end
    assert ast.literal_eval(_doc(text + "\\")) == text + "\\"
