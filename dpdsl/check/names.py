"""Names pass: duplicate declarations, the graph kind, the global namespace, declared types and enum
labels, and the inputs.

It runs first because every later pass resolves names against ``CheckState.names`` and ``labels``.
"""

from __future__ import annotations

from dpdsl.check.state import CheckState, did_you_mean
from dpdsl.frontend import ast as A
from dpdsl.graphs.core import GRAPH_KINDS
from dpdsl.ir import InputIR
from dpdsl.registry import BUILTINS, FUNCTIONS
from dpdsl.types import BOOL, ENUM, INT, REAL

SCALAR_KINDS = (BOOL, INT, REAL)
GLOBAL_KINDS = (A.InputDecl, A.ParamDecl, A.StateDecl, A.ViewDecl)  # what shares the one namespace
TYPED_KINDS = (A.InputDecl, A.ParamDecl, A.StateDecl)  # declarations that carry a written type


def _unique_key(d: A.Decl) -> tuple[tuple[str, str], str] | None:
    """How a declaration must be unique (key, description for messages), or None if it may repeat."""
    if isinstance(d, (A.PredicateDecl, A.TermDecl, A.AssumeDecl)):
        return None  # several features (or invariants) per state field
    if isinstance(d, A.GraphDecl):
        return ("graph", d.kind), f"graph {d.kind}"  # two different kinds: see check_graph
    if isinstance(d, A.RoundsDecl):
        return ("rounds", ""), "rounds"
    if isinstance(d, A.SampleGraphDecl):
        return ("sample_graph", ""), "sample graph"
    if isinstance(d, A.SampleLengthDecl):
        return ("sample_length", ""), "sample length"
    if isinstance(d, A.NamedDecl):
        return (d.KEYWORD, d.name), f"{d.KEYWORD} {d.name}"
    return None


def check_duplicates(st: CheckState) -> None:
    """At most one declaration per (kind, name): a second ``init dist`` is an error at the second."""
    seen: dict[tuple[str, str], A.Decl] = {}
    for d in st.ast.decls:
        key = _unique_key(d)
        if key is None:
            continue
        if key[0] in seen:
            first = seen[key[0]].pos
            raise st.err(f"duplicate {key[1]}; first declared at line {first.line}", d.pos)
        seen[key[0]] = d


def check_graph(st: CheckState) -> None:
    """Exactly one known graph kind; relations, built-ins and sample families depend on it."""
    graph = st.take(A.GraphDecl)
    if st.domain not in ("nodes", "pairs"):  # sequence domains read instances, not graphs (§12)
        if graph:
            raise st.err(f"a {st.domain} spec has no graph; remove this line", graph[0].pos)
        return
    if not graph:
        raise st.err("missing 'graph' declaration (one of: " + ", ".join(GRAPH_KINDS) + ")", st.ast.problem_pos)
    if len(graph) > 1:
        raise st.err(f"duplicate graph declaration; first at line {graph[0].pos.line}", graph[1].pos)
    st.kind = graph[0].kind
    if st.kind not in GRAPH_KINDS:
        raise st.err(f"unknown graph kind '{st.kind}'; expected one of {', '.join(GRAPH_KINDS)}"
                     + did_you_mean(st.kind, GRAPH_KINDS), graph[0].kind_pos)


def declare_names(st: CheckState) -> None:
    """Inputs, params, states and views share one namespace that built-ins and functions own already."""
    for d in st.peek(GLOBAL_KINDS):
        if d.name in st.names:
            other = st.names[d.name]
            raise st.err(f"name '{d.name}' already declared as {other.KEYWORD} at line {other.pos.line}",
                         d.name_pos)
        if d.name in BUILTINS or d.name in FUNCTIONS:
            raise st.err(f"'{d.name}' is a built-in name and cannot be redeclared", d.name_pos)
        st.names[d.name] = d


def check_type_decls(st: CheckState) -> None:
    """Every written type is well formed; enum labels become names (``CheckState.labels``)."""
    for d in st.peek(TYPED_KINDS):
        t = d.type
        if t.kind == ENUM:
            if len(set(t.labels)) != len(t.labels):
                raise st.err("enum labels must be distinct", d.type_pos)
            for lab in t.labels:
                if lab in st.names or lab in BUILTINS:
                    raise st.err(f"enum label '{lab}' clashes with a declared name", d.type_pos)
                prev = st.labels.get(lab)
                if prev is not None and prev != t:
                    raise st.err(f"enum label '{lab}' is already used by another enum type", d.type_pos)
                st.labels[lab] = t
            continue
        if t.kind not in SCALAR_KINDS:
            raise st.err(f"unknown type '{t.kind}'; expected bool, int, real or {{label, ...}}"
                         + did_you_mean(t.kind, SCALAR_KINDS), d.type_pos)
        if t.kind == BOOL and (t.lo is not None or t.hi is not None):
            raise st.err("bool takes no range", d.type_pos)
        if t.lo is not None and t.hi is not None and t.lo > t.hi:
            raise st.err(f"empty range: {t.lo:g} > {t.hi:g}", d.type_pos)


def declare_inputs(st: CheckState) -> None:
    """The inputs' IR: expressions need each input's site (node or edge) to type its reads."""
    st.inputs = {d.name: InputIR(d.name, d.site, d.type) for d in st.take(A.InputDecl)}
