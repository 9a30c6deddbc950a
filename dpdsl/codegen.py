"""Skeleton compiler: a checked spec -> readable torch-geometric source (``dpdsl emit``).

One ``MessagePassing`` class per aggregate (every view, and every aggregate inside an output), with
``aggr`` taken from the aggregator registry and the registry's identity filled into empty
neighbourhoods (PyG itself leaves 0 there). Aggregators PyG has no ``aggr`` for (argmin/argmax,
plugin aggregators) call ``dpdsl.registry`` directly. The unknown transitions are a clearly marked slot:
``Skeleton(transitions={...})``. The emitted module runs one graph at a time.

Expressions are written by the expression core's source backend (``dpdsl.expr.source.SourceGen``); the
helpers they and the module call live in ``dpdsl.runtime``, imported under the names in
``RUNTIME_NAMES``, so the emitted file holds only what is specific to the spec.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from dpdsl.expr import nodes as N
from dpdsl.expr.source import SourceGen
from dpdsl.expr.unparse import unparse
from dpdsl.ir import SpecIR
from dpdsl.registry import AGGREGATORS, RELATIONS
from dpdsl.types import BOOL

RUNTIME_NAMES: dict[str, str] = {
    "INF": "INF",
    "_all_to_first": "all_to_first",
    "_everywhere": "everywhere",
    "_fill_empty": "fill_empty",
    "_floor_div": "floor_div",
    "_floor_mod": "floor_mod",
    "_fmax": "fmax",
    "_fmin": "fmin",
    "_full": "full",
    "_round_cap": "round_cap",
    "_same": "same",
    "_tree_height": "tree_height",
}
"""Name in the emitted module -> ``dpdsl.runtime`` attribute. The underscore names are the ones
``dpdsl.expr.source`` and the registry's function templates (``_fmin({args})``) write."""

_MESSAGE_SIZE = "edge_index_j.numel()"  # rows of a message body: one per edge
_BUILTINS = ("id", "n", "height")


def _doc(text: str) -> str:
    """``text`` as a triple-quoted docstring that compiles whatever it holds (paths, quotes).

    Backslashes (``C:\\Users``) are escaped, and so is every double quote followed by another quote or
    by the closing quotes (a lone ``"`` stays readable), and every control character but newline;
    ``__doc__`` reads back the original text.
    """
    out = []
    for i, ch in enumerate(text):
        if ch == "\\" or (ch == '"' and text[i + 1:i + 2] in ('"', "")):
            out.append("\\" + ch)
        elif ch != "\n" and not ch.isprintable():
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return '"""' + "".join(out) + '"""'


def _class_name(prefix: str, name: str) -> str:
    return prefix + "".join(p.capitalize() for p in name.split("_"))


@dataclass(frozen=True)
class _Aggregate:
    """One aggregate of the spec, the ``MessagePassing`` class computing it and its ``Skeleton`` attribute."""

    cls: str
    attr: str
    agg: N.Agg
    doc: str
    view: str = ""  # the view it computes; "" for an aggregate inside an output

    def node_reads(self) -> list[str]:
        """Node-level values the body reads (states, node inputs, builtins), passed to ``propagate``."""
        names = {x.name for x in self.body_nodes() if isinstance(x, N.Index) and x.site != "edge"}
        return sorted(names | self.builtins())

    def edge_reads(self) -> list[str]:
        return sorted({x.name for x in self.body_nodes() if isinstance(x, N.Index) and x.site == "edge"})

    def builtins(self) -> set[str]:
        """Builtins read bare in the body: the aggregating node's value, as in the executor."""
        return {x.name for x in self.body_nodes() if isinstance(x, N.Name) and x.kind == "builtin"}

    def body_nodes(self) -> list[N.Expr]:
        return list(N.walk(self.agg.body))

    def message_params(self) -> list[str]:
        """``message`` arguments in PyG's convention: ``x_j`` neighbour, ``x_i`` own node, edge inputs bare."""
        sites = {(x.name, x.site) for x in self.body_nodes() if isinstance(x, N.Index)}
        own = {(b, "self") for b in self.builtins()}
        suffix = {"nbr": "_j", "self": "_i", "edge": ""}
        return sorted(name + suffix[site] for name, site in sites | own)

    def call(self) -> str:
        """Source of the call computing this aggregate inside ``Skeleton.forward``."""
        kw = "".join(f", {x}={x}" for x in self.node_reads() + self.edge_reads())
        call = f"self.{self.attr}(_edges[{self.attr!r}], _N{kw})"
        return f"_everywhere({call})" if RELATIONS[self.agg.relation].over_all else call

    def edges(self) -> str:
        """Source of this aggregate's edge pairs (an aggregate over all nodes sends every node to node 0)."""
        if RELATIONS[self.agg.relation].over_all:
            return "_all_to_first(_N)"
        return f"self.relation_edges(edge_index, {self.agg.relation!r})"


def _aggregates(spec: SpecIR) -> list[_Aggregate]:
    """Every view's aggregate, then every aggregate inside each output, in spec order."""
    out = [_Aggregate(_class_name("View", name), f"view_{name}", v.agg, f"view {name} = {unparse(v.agg)}", name)
           for name, v in spec.views.items()]
    for name, o in spec.outputs.items():
        inner = [x for x in N.walk(o.expr) if isinstance(x, N.Agg)]
        out += [_Aggregate(_class_name("Output", f"{name}_{i}"), f"out_{name}_{i}", a,
                           f"in output {name}: {unparse(a)}") for i, a in enumerate(inner)]
    return out


def _header(spec: SpecIR, body: str) -> list[str]:
    """Module docstring, imports (only the runtime helpers ``body`` uses) and the spec's constants."""
    doc = (f"Skeleton of `{spec.name}`, generated by dpdsl from {spec.filename} (sha256 {spec.hash[:16]}).\n\n"
           "Message passing mirrors the DP: one MessagePassing per aggregate, aggregation and empty-\n"
           "neighbourhood identity from dpdsl's aggregator registry. The unknown transitions are the slot:\n"
           "pass `transitions={field: fn}` where fn maps the keyword arguments listed in UNKNOWN_ARGS to the\n"
           "field's new value. Runs one graph at a time; `edge_index` holds directed edges (for an\n"
           "undirected graph, both directions).\n")
    used = [k for k in RUNTIME_NAMES if re.search(rf"(?<![\w.]){re.escape(k)}\b", body)]
    plain = [k for k in used if RUNTIME_NAMES[k] == k]
    imports = ["import torch", "from torch_geometric.nn import MessagePassing", ""]
    if "AGGREGATORS[" in body:
        imports.append("from dpdsl.registry import AGGREGATORS")
    if plain:
        imports.append(f"from dpdsl.runtime import {', '.join(plain)}")
    # one aliased import a line, as isort (ruff) writes them
    imports += [f"from dpdsl.runtime import {RUNTIME_NAMES[k]} as {k}" for k in used if k not in plain]
    return [
        _doc(doc), "", "from __future__ import annotations", "", *imports, "",
        f"GRAPH_KIND = {spec.graph_kind!r}",
        f"NODE_INPUTS = {list(spec.node_inputs)!r}",
        f"EDGE_INPUTS = {list(spec.edge_inputs)!r}",
        f"STATES = {list(spec.states)!r}",
        "UNKNOWN_ARGS = {", *[f"    {k!r}: {list(st.args)!r}," for k, st in spec.states.items()], "}",
    ]


def _identity_source(identity: float | bool | str) -> str:
    if isinstance(identity, float) and math.isinf(identity):
        return "INF" if identity > 0 else "-INF"
    return repr(float(identity))


def _message_class(spec: SpecIR, a: _Aggregate) -> list[str]:
    """The ``MessagePassing`` class of one aggregate: PyG's ``aggr`` where it has one, else the registry."""
    reg = AGGREGATORS[a.agg.agg]
    names = {b: f"{b}_i" for b in a.builtins()}
    body = SourceGen(spec.param_values, _MESSAGE_SIZE, names).visit(a.agg.body)
    if a.agg.body.type is not None and a.agg.body.type.kind == BOOL:
        body = f"({body}).to(torch.float64)"
    kw = ", ".join(f"{x}={x}" for x in a.node_reads() + a.edge_reads())
    sig = ", ".join(["self", "edge_index", "num_nodes", *a.node_reads(), *a.edge_reads()])
    propagate = f"self.propagate(edge_index, size=(num_nodes, num_nodes), {kw})"
    lines = [f"class {a.cls}(MessagePassing):", f"    {_doc(a.doc)}", ""]
    if reg.pyg_aggr is not None and reg.custom is None:
        result = "out > 0.5" if reg.returns_bool else "out"
        lines += [
            f"    IDENTITY = {_identity_source(reg.identity)}"
            f"  # what an empty neighbourhood yields (dpdsl.registry: {reg.name})",
            "",
            "    def __init__(self) -> None:",
            f'        super().__init__(aggr="{reg.pyg_aggr}", flow="source_to_target", node_dim=0)',
            "",
            f"    def forward({sig}):",
            f"        out = {propagate}",
            "        # PyG leaves 0 in empty neighbourhoods; the DP needs the aggregator's identity there.",
            "        out = _fill_empty(out, edge_index, num_nodes, self.IDENTITY)",
            f"        return {result}",
        ]
    else:
        lines += [
            f'    AGG = AGGREGATORS["{reg.name}"]  # no PyG aggr for this one: use dpdsl\'s registry',
            "",
            "    def __init__(self) -> None:",
            '        super().__init__(aggr=None, flow="source_to_target", node_dim=0)',
            "",
            f"    def forward({sig}):",
            f"        return {propagate}",
            "",
            "    def aggregate(self, inputs, index, edge_index_j, dim_size):",
            "        return self.AGG.aggregate(inputs, index, edge_index_j, dim_size)",
        ]
    params = ", ".join([*a.message_params(), "edge_index_j"])
    return lines + ["", f"    def message(self, {params}):", f"        return {body}"]


def _transition_slot(spec: SpecIR) -> list[str]:
    """One stub per state field: the part ``dpdsl compile`` fills with a decision tree."""
    rule = "# " + "=" * 96
    lines = [rule, "# THE TRANSITION SLOT: the unknown part of the DP. dpdsl compile fills it with a decision tree.",
             rule, ""]
    for k, st in spec.states.items():
        args = ", ".join(st.args)
        doc = f'New value of {k} from unknown({args}). Replace me, or pass transitions={{"{k}": fn}}.'
        lines += [f"def transition_{k}({args}):", f"    {_doc(doc)}",
                  f'    raise NotImplementedError("fill the transition slot for {k}")', "", ""]
    return lines


def _skeleton_class(spec: SpecIR, aggs: list[_Aggregate]) -> list[str]:
    """``class Skeleton``: its aggregate modules, the transition slot, the relations, then ``forward``."""
    relations = sorted({a.agg.relation for a in aggs if not RELATIONS[a.agg.relation].over_all})
    doc = f"The DP `{spec.name}` as a GNN: init, rounds of views + transitions, outputs."
    return [
        "class Skeleton(torch.nn.Module):",
        f"    {_doc(doc)}",
        "",
        "    def __init__(self, transitions=None):",
        "        super().__init__()",
        *[f"        self.{a.attr} = {a.cls}()" for a in aggs],
        "        self.transitions = {",
        *[f"            {k!r}: transition_{k}," for k in spec.states],
        "        }",
        "        self.transitions.update(transitions or {})",
        "",
        "    @staticmethod",
        "    def relation_edges(edge_index, relation):",
        '        """Edges as (neighbour, node) pairs: messages flow neighbour -> node."""',
        "        src, dst = edge_index[0], edge_index[1]",
        "        return {",
        *[f"            {r!r}: torch.stack([{'dst, src' if RELATIONS[r].reverse else 'src, dst'}]),"
          for r in relations],
        "        }[relation]",
        "",
        *_forward(spec, aggs),
    ]


def _forward(spec: SpecIR, aggs: list[_Aggregate]) -> list[str]:
    """``Skeleton.forward``: init, the rounds loop, the outputs."""
    inputs = list(spec.node_inputs) + list(spec.edge_inputs)
    env = {x: x for x in [*spec.states, *spec.node_inputs, *_BUILTINS]}
    lines = [
        f"    def forward(self, edge_index, num_nodes, {', '.join(inputs) if inputs else '**_'}):",
        '        """Run the DP on one graph. Returns (outputs dict, rounds until the fixpoint or cap)."""',
        *_init(spec, aggs, SourceGen(spec.param_values, "_N", env)),
        *_rounds_loop(spec, aggs),
    ]
    outputs = SourceGen(spec.param_values, "_N", env | {v: v for v in spec.views},
                        {id(a.agg): a.call() for a in aggs if not a.view})
    lines += [f"        {a.view} = {a.call()}" for a in aggs if a.view]
    return lines + [
        "        outputs = {",
        *[f"            {name!r}: {outputs.visit(o.expr)}," for name, o in spec.outputs.items()],
        "        }",
        "        return outputs, _rounds",
    ]


def _init(spec: SpecIR, aggs: list[_Aggregate], src: SourceGen) -> list[str]:
    """Builtins, initial states, each aggregate's edges and the round cap."""
    lines = [
        "        _N = num_nodes",
        "        id = torch.arange(_N, dtype=torch.float64)  # noqa: A001",
        "        n = _full(float(_N), _N)",
    ]
    if spec.graph_kind == "tree":
        lines.append("        height = _full(_tree_height(edge_index, _N), _N)")
    lines += [f"        {k} = ({src.visit(st.init)}){_cast(st.type.kind)}" for k, st in spec.states.items()]
    lines += [
        "        _edges = {",
        *[f"            {a.attr!r}: {a.edges()}," for a in aggs],
        "        }",
        f"        _cap = _round_cap({_bare(src.visit(spec.rounds.expr))})",
    ]
    return lines


def _bare(src: str) -> str:
    """``src`` without the parentheses around it, if they enclose all of it (for a call's sole argument)."""
    if not (src.startswith("(") and src.endswith(")")):
        return src
    depth = 0
    for i, ch in enumerate(src):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and i < len(src) - 1:
            return src  # "(a) + (b)": the first parenthesis closes early
    return src[1:-1]


def _cast(kind: str) -> str:
    return ".to(torch.bool)" if kind == BOOL else ".to(torch.float64)"


def _rounds_loop(spec: SpecIR, aggs: list[_Aggregate]) -> list[str]:
    """Rounds of views then transitions; stops at the cap, or at the fixpoint with ``until fixpoint``."""
    lines = ["        _rounds = 0", "        for _t in range(1, _cap + 1):"]
    lines += [f"            {a.view} = {a.call()}" for a in aggs if a.view]
    for k, st in spec.states.items():
        kw = ", ".join(f"{x}={x}" for x in st.args)
        lines.append(f"            _new_{k} = self.transitions[{k!r}]({kw}){_cast(st.type.kind)}")
    lines.append("            _changed = " + " or ".join(f"not _same(_new_{k}, {k})" for k in spec.states))
    lines += [f"            {k} = _new_{k}" for k in spec.states]
    lines += ["            if _changed:", "                _rounds = _t"]
    if spec.rounds.fixpoint:
        return lines + ["            else:", "                break"]
    return lines + ["        _rounds = _cap"]


def emit(spec: SpecIR) -> str:
    """Python source of the skeleton module for ``spec``."""
    if spec.domain.indexed:
        return _emit_domain(spec)
    aggs = _aggregates(spec)
    parts: list[str] = []
    for a in aggs:
        parts += ["", "", *_message_class(spec, a)]
    parts += ["", "", *_transition_slot(spec), *_skeleton_class(spec, aggs)]
    body = "\n".join(parts) + "\n"
    return "\n".join(_header(spec, body)) + "\n" + body


# --------------------------------------------------------------------------- index domains (§12)


class _DomainSource(SourceGen):
    """Expressions of an index-domain spec. In a message body the i-th indexed read is ``r<i>_j`` (the
    value its gather list names for each message) and index variables and ``n`` are per message
    (``k_j``); at tuple level a read gathers at the ids ``dpdsl.domains.engine.gather_lists`` gives."""

    def __init__(self, params, size: str, names, aggs=None, body: bool = False) -> None:  # noqa: ANN001
        super().__init__(params, size, names, aggs)
        self.body, self.reads = body, 0

    def visit_Index(self, e: N.Index) -> str:
        if self.body:
            self.reads += 1
            return f"r{self.reads - 1}_j"
        from dpdsl.domains.engine import read_key

        return f"{e.name}[_at[{read_key(e)!r}]]"


@dataclass(frozen=True)
class _DomainAggregate:
    """One aggregate of an index-domain spec: its ``MessagePassing`` over the gather lists."""

    cls: str
    attr: str
    agg: N.Agg
    doc: str
    view: str = ""

    def sources(self) -> list[str]:
        """The states and inputs its body reads, in reading order, once each."""
        return list(dict.fromkeys(x.name for x in N.walk(self.agg.body) if isinstance(x, N.Index)))

    def call(self, default: str = "") -> str:
        kw = "".join(f", {x}={x}" for x in self.sources())
        return f"self.{self.attr}(_g[{self.attr!r}], _T{kw}{', default=' + default if default else ''})"


def _domain_aggregates(spec: SpecIR) -> list[_DomainAggregate]:
    from dpdsl.domains.engine import spec_aggregates

    out = []
    for key, a in spec_aggregates(spec):
        view = key[len("view_"):] if key.startswith("view_") else ""
        where = f"view {view} = " if view else f"in output {key[4:].rsplit('_', 1)[0]}: "
        out.append(_DomainAggregate(_class_name("View" if view else "Output", key.split("_", 1)[1]), key, a,
                                    where + unparse(a), view))
    return out


def _domain_message_class(spec: SpecIR, a: _DomainAggregate) -> list[str]:
    """A ``MessagePassing`` whose source side is the messages themselves: message m reads
    ``r<i> = source[g["reads"][i][m]]`` and goes to tuple ``g["target"][m]``."""
    reg = AGGREGATORS[a.agg.agg]
    body_gen = _DomainSource(spec.param_values, _MESSAGE_SIZE, {v: f"{v}_j" for v in (*spec.domain.vars, "n")},
                             body=True)
    if a.agg.nbr:
        body_gen.names[a.agg.nbr] = f"{a.agg.nbr}_j"
    body = body_gen.visit(a.agg.body)
    reads = [x.name for x in N.walk(a.agg.body) if isinstance(x, N.Index)]
    if a.agg.body.type is not None and a.agg.body.type.kind == BOOL:
        body = f"({body}).to(torch.float64)"
    used = sorted({v for v in (*spec.domain.vars, "n", a.agg.nbr) if v and re.search(rf"\b{v}_j\b", body)})
    sig = ", ".join(["self", "g", "num_tuples", *a.sources(), *(["default"] if a.agg.default is not None else [])])
    kw = [f"r{i}={name}[g['reads'][{i}]]" for i, name in enumerate(reads)]
    kw += [f"{v}=g['n']" if v == "n" else f"{v}=g['vars'][{v!r}]" for v in used]
    lines = [f"class {a.cls}(MessagePassing):", f"    {_doc(a.doc)}", ""]
    pyg = reg.pyg_aggr is not None and reg.custom is None
    if pyg:
        lines += [f"    IDENTITY = {_identity_source(reg.identity)}  # an empty target (dpdsl.registry: {reg.name})",
                  "", "    def __init__(self) -> None:",
                  f'        super().__init__(aggr="{reg.pyg_aggr}", flow="source_to_target", node_dim=0)']
    else:
        kw += ["bound=g['bound']", "own=g['own']"]
        lines += [f'    AGG = AGGREGATORS["{reg.name}"]  # no PyG aggr for this one: use dpdsl\'s registry', "",
                  "    def __init__(self) -> None:",
                  '        super().__init__(aggr=None, flow="source_to_target", node_dim=0)']
    lines += ["", f"    def forward({sig}):",
              "        edge_index = torch.stack([torch.arange(g['target'].shape[0]), g['target']])",
              f"        out = self.propagate(edge_index, size=(edge_index.shape[1], num_tuples), {', '.join(kw)})"]
    if pyg:
        lines.append("        out = _fill_empty(out, edge_index, num_tuples, self.IDENTITY)")
    if a.agg.default is not None:
        lines += ["        empty = torch.bincount(g['target'], minlength=num_tuples) == 0",
                  "        out = torch.where(empty, default.to(out.dtype), out)"]
    lines.append(f"        return {'out > 0.5' if pyg and reg.returns_bool else 'out'}")
    if not pyg:
        lines += ["", "    def aggregate(self, inputs, index, dim_size, bound_j, own):",
                  "        return self.AGG.aggregate(inputs, index, bound_j, dim_size, own=own)"]
    params = ", ".join([*(f"r{i}_j" for i in range(len(reads))), *(f"{v}_j" for v in used), "edge_index_j"])
    return lines + ["", f"    def message(self, {params}):", f"        return {body}"]


def _emit_domain(spec: SpecIR) -> str:
    """The skeleton of an index-domain spec: the same rounds as a node spec's, over tuples, with one
    ``MessagePassing`` per aggregate over the lowered gather lists (``gather_lists``)."""
    aggs = _domain_aggregates(spec)
    parts: list[str] = []
    for a in aggs:
        parts += ["", "", *_domain_message_class(spec, a)]
    parts += ["", "", *_transition_slot(spec), *_domain_skeleton(spec, aggs)]
    body = "\n".join(parts) + "\n"
    head = _header(spec, body)
    doc = (f"Skeleton of `{spec.name}` on the {spec.domain.kind} domain, generated by dpdsl from {spec.filename} "
           f"(sha256 {spec.hash[:16]}).\n\n"
           "It runs on the lowered tuples: `Skeleton()(dpdsl.domains.engine.gather_lists(spec, instance))`.\n"
           "Each aggregate is a MessagePassing whose messages are the gather lists' entries: message m\n"
           "reads its body's i-th read at `g['reads'][i][m]` and goes to tuple `g['target'][m]`, reduced\n"
           "by the aggregator (identity, or the declared default, where a tuple gets none). The unknown\n"
           "transitions are the slot: pass `transitions={field: fn}` (keyword arguments: UNKNOWN_ARGS).\n"
           "Outputs are per tuple (`layout.unflatten` of the gather lists' layout gives the tables).\n")
    head[0] = _doc(doc)
    return "\n".join(head) + "\n" + body


def _domain_skeleton(spec: SpecIR, aggs: list[_DomainAggregate]) -> list[str]:
    env = {x: x for x in [*spec.states, *spec.domain.vars, "n", *spec.domain.inputs, *spec.node_inputs,
                          *spec.edge_inputs]}
    src = _DomainSource(spec.param_values, "_T", env)
    defaults = {a.attr: _DomainSource(spec.param_values, "_T", env).visit(a.agg.default)
                for a in aggs if a.agg.default is not None}

    class _Call:  # what the node spec's rounds loop reads of an aggregate
        def __init__(self, a: _DomainAggregate) -> None:
            self.view, self._src = a.view, a.call(defaults.get(a.attr, ""))

        def call(self) -> str:
            return self._src

    calls = [_Call(a) for a in aggs]
    inputs = [*spec.domain.inputs, *spec.node_inputs, *spec.edge_inputs]
    outputs = _DomainSource(spec.param_values, "_T", env | {v: v for v in spec.views},
                            {id(a.agg): a.call(defaults.get(a.attr, "")) for a in aggs if not a.view})
    lines = [
        "class Skeleton(torch.nn.Module):",
        f"    {_doc(f'The DP `{spec.name}` as a GNN over its lowered tuples: init, rounds, outputs.')}",
        "", "    def __init__(self, transitions=None):", "        super().__init__()",
        *[f"        self.{a.attr} = {a.cls}()" for a in aggs],
        "        self.transitions = {", *[f"            {k!r}: transition_{k}," for k in spec.states], "        }",
        "        self.transitions.update(transitions or {})", "",
        "    def forward(self, lowered):",
        '        """Run the DP on lowered tuples. Returns (outputs per tuple, rounds until the fixpoint or cap)."""',
        "        _T, _at, _g = lowered['num_tuples'], lowered['at'], lowered['aggs']",
        *[f"        {v} = lowered['builtins'][{v!r}]" for v in (*spec.domain.vars, "n")],
        *[f"        {x} = lowered['inputs'][{x!r}]" for x in inputs],
        *[f"        {k} = ({src.visit(st.init)}){_cast(st.type.kind)}" for k, st in spec.states.items()],
        f"        _cap = _round_cap({_bare(src.visit(spec.rounds.expr))})",
        *_rounds_loop(spec, calls),  # type: ignore[arg-type]
        *[f"        {a.view} = {a.call()}" for a in calls if a.view],
        "        outputs = {", *[f"            {name!r}: {outputs.visit(o.expr)}," for name, o in spec.outputs.items()],
        "        }", "        return outputs, _rounds",
    ]
    return lines
