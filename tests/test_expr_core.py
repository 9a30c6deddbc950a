"""The expression core: every node kind is handled by every backend, and the backends agree.

Random typed expressions over a transition's local arguments (hypothesis, written as spec text and
typed by the checker) are run through the torch backend, the Python-source backend (the code
``dpdsl emit`` writes), unparsing (round trip through the parser and checker) and constant folding;
all must give the torch backend's values bit for bit. Aggregates and indices only live on graphs: the
emitted skeleton of every shipped spec is run against the reference executor.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from types import ModuleType

import torch
from bits import same_bits
from hypothesis import given, settings
from hypothesis import strategies as st

from dpdsl import runtime
from dpdsl.api import load_spec_text
from dpdsl.codegen import RUNTIME_NAMES, emit
from dpdsl.execute import EdgeEvaluator, NodeEvaluator, reference_transitions, run_reference
from dpdsl.expr import nodes as N
from dpdsl.expr.fold import ConstFolder, fold
from dpdsl.expr.source import SourceGen
from dpdsl.expr.torch_eval import LocalEvaluator, TorchEvaluator, compile_local
from dpdsl.expr.unparse import Unparser, unparse
from dpdsl.features import typed_features
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs

SPEC = """problem core
graph directed
param k : real = 2.5
param m : int = 3
input node x : real
input node b : bool
state c : {red, green, blue}
state y : real
init c = if b then green else red
init y = x
view lo = min over in-edges u -> v : y[u] + x[v]
transition c = unknown(c, b, lo)
reference c = if lo < 1 then blue else c
transition y = unknown(y, lo, x, b, c)
reference y = min(y, lo)
rounds n until fixpoint
output c
output y
sample graph er(p = 0.4) nodes 3..12
sample x uniform(-1, 2)
sample b bernoulli(0.3)
"""

BACKENDS: tuple[type[N.Visitor], ...] = (TorchEvaluator, LocalEvaluator, NodeEvaluator, EdgeEvaluator,
                                         SourceGen, ConstFolder, Unparser)
SPECIALS = torch.tensor([0.0, -0.0, 1.0, -1.0, 2.5, 3.0, float("inf"), float("-inf"), float("nan")],
                        dtype=torch.float64)


def all_node_classes() -> set[type[N.Expr]]:
    """Every concrete ``Expr`` subclass defined by the core (so a new kind cannot hide from the test)."""
    out, todo = set(), [N.Expr]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__ == N.__name__:
                out.add(sub)
    return out


def test_every_backend_has_a_method_for_every_node_kind() -> None:
    assert set(N.NODE_KINDS) == all_node_classes()
    for backend in BACKENDS:
        for kind in N.NODE_KINDS:
            method = getattr(backend, "visit_" + kind.__name__, None)
            assert callable(method), f"{backend.__name__} lacks visit_{kind.__name__}"
    # and the children protocol: rebuilding from one's own children is the identity
    e = typed(["if b and not (y < lo) then -y + abs(lo) else max(y, x, k)"], kind="term")[0]
    for x in N.walk(e):
        assert x.with_children(x.children()) == x
    assert {type(x) for x in N.walk(e)} >= {N.Cond, N.Binary, N.Unary, N.Call, N.Name}


# --------------------------------------------------------------------------- random expressions

NUM_LEAVES = ["x", "y", "lo", "k", "m", "0", "1", "2.5", "inf", "-inf"]
BOOL_LEAVES = ["b", "true", "false", "c == red", "c != blue"]


def num_expr(depth: int) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(NUM_LEAVES)
    if depth == 0:
        return leaf
    sub, cond = num_expr(depth - 1), bool_expr(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda a, op, b: f"({a} {op} {b})", sub, st.sampled_from(["+", "-", "*", "/", "//", "%"]), sub),
        st.builds(lambda a: f"-({a})", sub),
        st.builds(lambda f, a, b: f"{f}({a}, {b})", st.sampled_from(["min", "max"]), sub, sub),
        st.builds(lambda a: f"abs({a})", sub),
        st.builds(lambda c, a, b: f"(if {c} then {a} else {b})", cond, sub, sub),
    )


def bool_expr(depth: int) -> st.SearchStrategy[str]:
    leaf = st.sampled_from(BOOL_LEAVES)
    if depth == 0:
        return leaf
    sub, num = bool_expr(depth - 1), num_expr(depth - 1)
    return st.one_of(
        leaf,
        st.builds(lambda a, op, b: f"({a} {op} {b})", num, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), num),
        st.builds(lambda a, op, b: f"({a} {op} {b})", sub, st.sampled_from(["and", "or"]), sub),
        st.builds(lambda a: f"not ({a})", sub),
        st.builds(lambda c, a, b: f"(if {c} then {a} else {b})", sub, sub, sub),
    )


_SPEC: SpecIR | None = None


def spec() -> SpecIR:
    global _SPEC
    if _SPEC is None:
        _SPEC = load_spec_text(SPEC, "core.dp")
    return _SPEC


def typed(texts: list[str], kind: str) -> tuple[N.Expr, ...]:
    """Type expression texts over ``y``'s arguments, as predicates (bool) or terms (real)."""
    fs = typed_features(spec(), "y", texts if kind == "pred" else [], texts if kind == "term" else [])
    return fs.predicates if kind == "pred" else fs.terms


def local_args(seed: int, n: int = 64) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pick = lambda: SPECIALS[torch.randint(0, len(SPECIALS), (n,), generator=g)]  # noqa: E731
    return {"y": pick(), "lo": pick(), "x": pick(), "b": torch.rand(n, generator=g) < 0.5,
            "c": torch.randint(0, 3, (n,), generator=g).to(torch.float64)}




def run_source(e: N.Expr, args: dict[str, torch.Tensor]) -> torch.Tensor:
    """The Python-source backend's text, executed the way the emitted skeleton executes it."""
    n = int(next(iter(args.values())).shape[0])
    src = SourceGen(spec().param_values, "_N", {a: a for a in args}).visit(e)
    namespace = {alias: getattr(runtime, name) for alias, name in RUNTIME_NAMES.items()}
    namespace |= {"torch": torch, "_N": n} | dict(args)
    return eval(compile(src, "<expr>", "eval"), namespace)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(num_expr(3), min_size=1, max_size=4), st.lists(bool_expr(3), min_size=1, max_size=4),
       st.integers(0, 2**31 - 1))
def test_backends_agree_with_torch_on_random_expressions(terms: list[str], preds: list[str], seed: int) -> None:
    args = local_args(seed)
    ts, ps = typed(terms, "term"), typed(preds, "pred")
    again = typed([unparse(e) for e in ts], "term") + typed([unparse(e) for e in ps], "pred")
    for e, e2 in zip(ts + ps, again, strict=True):
        want = compile_local(spec().param_values, e)(args, 64)
        assert same_bits(run_source(e, args), want), unparse(e)
        assert e2 == e and e2.type == e.type, unparse(e)  # unparse -> parse -> check is the identity
        const = fold(e, spec().param_values)
        if const is not None:  # constant subtrees fold to the value torch computes on every row
            got = torch.full((64,), const, dtype=want.dtype)
            assert same_bits(got, want), unparse(e)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(num_expr(3))
def test_fold_equals_torch_on_constant_expressions(text: str) -> None:
    """Replace every argument by a param so the expression is constant, then fold == torch."""
    for name, value in (("lo", "m"), ("y", "k"), ("x", "2.5")):
        text = _replace_word(text, name, value)
    text = _replace_word(text.replace("c == red", "true").replace("c != blue", "false"), "b", "true")
    (e,) = typed([text], "term")
    const = fold(e, spec().param_values)
    assert const is not None, text
    want = compile_local(spec().param_values, e)({"y": torch.zeros(1)}, 1)
    assert same_bits(torch.tensor([const], dtype=torch.float64), want), text


def _replace_word(text: str, word: str, by: str) -> str:
    return re.sub(rf"\b{word}\b", by, text)


# --------------------------------------------------------------------------- graphs: Agg and Index


_MODULES: dict[str, ModuleType] = {}


def emitted_module(s: SpecIR, name: str) -> ModuleType:
    if name not in _MODULES:
        mod_spec = importlib.util.spec_from_loader(name, loader=None)
        assert mod_spec is not None
        mod = importlib.util.module_from_spec(mod_spec)
        sys.modules[name] = mod  # torch-geometric's inspector looks the module up while defining classes
        exec(compile(emit(s), f"<{name}>", "exec"), mod.__dict__)
        _MODULES[name] = mod
    return _MODULES[name]


def test_emitted_skeletons_equal_the_executor_on_every_shipped_spec(node_specs: dict[str, SpecIR]) -> None:
    """Views and output aggregates (``Agg``, ``Index``) through the source backend == the torch backend
    (index-domain skeletons: tests/test_emit_domains.py)."""
    for name, s in [*node_specs.items(), ("core", spec())]:
        mod = emitted_module(s, f"dpdsl_test_core_{name}")
        model = mod.Skeleton(transitions=reference_transitions(s))
        for g in sample_graphs(s, 12, 3):
            g = g.directed_view()  # the emitted module takes both directions of an undirected graph
            inputs = {k: g.node[k] for k in s.node_inputs} | {k: g.edge[k] for k in s.edge_inputs}
            outputs, rounds = model(g.edge_index, g.num_nodes, **inputs)
            ref = run_reference(s, g)
            assert rounds == int(ref.rounds[0]), name
            for out, want in ref.outputs.items():
                assert same_bits(outputs[out].to(want.dtype), want), (name, out)


def test_visitor_names_the_missing_method() -> None:
    class Partial(N.Visitor[str]):
        def visit_Num(self, e: N.Num) -> str:
            return "num"

    assert Partial().visit(N.Num(value=1.0)) == "num"
    try:
        Partial().visit(N.Bool(value=True))
    except NotImplementedError as err:
        assert "Partial does not handle Bool" in str(err)
    else:
        raise AssertionError("a missing visit method must raise")
