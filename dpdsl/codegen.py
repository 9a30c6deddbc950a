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

from dpdsl.errors import UserError
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
        raise UserError(f"{spec.filename}: dpdsl emit does not write skeletons for index domains "
                        f"({spec.domain.kind}) yet; run the spec with dpdsl run (docs/architecture.md §12)")
    aggs = _aggregates(spec)
    parts: list[str] = []
    for a in aggs:
        parts += ["", "", *_message_class(spec, a)]
    parts += ["", "", *_transition_slot(spec), *_skeleton_class(spec, aggs)]
    body = "\n".join(parts) + "\n"
    return "\n".join(_header(spec, body)) + "\n" + body
