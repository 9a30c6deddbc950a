"""Skeleton compiler: a checked spec -> readable torch-geometric source (``dpdsl emit``).

One ``MessagePassing`` class per aggregate (every view, and every aggregate inside an output), with
``aggr`` taken from the aggregator registry and the registry's identity filled into empty
neighbourhoods (PyG itself leaves 0 there). Aggregators PyG has no ``aggr`` for (argmin/argmax,
plugin aggregators) call ``dpdsl.registry`` directly. The unknown transitions are a clearly marked slot:
``Skeleton(transitions={...})``. The emitted module runs one graph at a time.
"""

from __future__ import annotations

import math

from dpdsl.frontend import ast as A
from dpdsl.frontend.unparse import unparse
from dpdsl.ir import SpecIR
from dpdsl.registry import AGGREGATORS, FUNCTIONS, RELATIONS
from dpdsl.types import BOOL


def _lit(x: float | bool, size: str) -> str:
    if isinstance(x, bool):
        return f"_full({x}, {size})"
    if math.isinf(x):
        return f"_full({'INF' if x > 0 else '-INF'}, {size})"
    return f"_full({float(x)!r}, {size})"


class _ExprSource:
    """Typed expression -> Python source over tensors. Names map through ``names``."""

    def __init__(self, spec: SpecIR, size: str, names: dict[str, str], aggs: dict[int, str]) -> None:
        self.spec, self.size, self.names, self.aggs = spec, size, names, aggs

    def __call__(self, e: A.Expr) -> str:  # noqa: C901 - one branch per node type reads best
        if isinstance(e, A.Num):
            return _lit(e.value, self.size)
        if isinstance(e, A.Bool):
            return _lit(e.value, self.size)
        if isinstance(e, A.Name):
            if e.kind == "param":
                return _lit(self.spec.params[e.name].value, self.size)
            if e.kind == "label":
                return _lit(float(e.type.labels.index(e.name)), self.size)
            return self.names[e.name]
        if isinstance(e, A.Index):
            key = {"nbr": "_j", "self": "_i", "edge": ""}[e.site]
            return f"{e.name}{key}"
        if isinstance(e, A.Unary):
            x = self(e.x)
            return f"(~{x})" if e.op == "not" else f"(-{x})"
        if isinstance(e, A.Binary):
            op = {"and": "&", "or": "|"}.get(e.op, e.op)
            return f"({self(e.a)} {op} {self(e.b)})"
        if isinstance(e, A.Cond):
            return f"torch.where({self(e.cond)}, {self(e.then)}, {self(e.other)})"
        if isinstance(e, A.Call):
            fn = FUNCTIONS[e.fn]
            args = [self(a) for a in e.args]
            return fn.source.format(*args, args=", ".join(args))
        if isinstance(e, A.Agg):
            return self.aggs[id(e)]
        raise AssertionError(type(e).__name__)


def _collect_aggs(e: A.Expr, out: list[A.Agg]) -> None:
    if isinstance(e, A.Agg):
        out.append(e)
        return
    for child in _children(e):
        _collect_aggs(child, out)


def _children(e: A.Expr) -> list[A.Expr]:
    if isinstance(e, A.Unary):
        return [e.x]
    if isinstance(e, A.Binary):
        return [e.a, e.b]
    if isinstance(e, A.Cond):
        return [e.cond, e.then, e.other]
    if isinstance(e, A.Call):
        return list(e.args)
    if isinstance(e, A.Agg):
        return [e.body]
    return []


def _reads(e: A.Expr) -> tuple[set[str], set[str]]:
    """(node values, edge inputs) an aggregate body reads."""
    nodes: set[str] = set()
    edges: set[str] = set()
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, A.Index):
            (edges if x.site == "edge" else nodes).add(x.name)
        stack.extend(_children(x))
    return nodes, edges


def _class_name(prefix: str, name: str) -> str:
    return prefix + "".join(p.capitalize() for p in name.split("_"))


def _agg_class(spec: SpecIR, cls: str, agg: A.Agg, text: str) -> str:
    reg = AGGREGATORS[agg.agg]
    nodes, edges = _reads(agg.body)
    uses_nbr = any(_has_site(agg.body, n, "nbr") for n in nodes)
    uses_me = any(_has_site(agg.body, n, "self") for n in nodes)
    node_params = sorted(nodes)
    msg_params = sorted(
        [f"{n}_j" for n in nodes if _has_site(agg.body, n, "nbr")]
        + [f"{n}_i" for n in nodes if _has_site(agg.body, n, "self")]
        + sorted(edges)
    )
    del uses_nbr, uses_me
    body = _ExprSource(spec, "edge_index_j.numel()", {}, {})(agg.body)
    if agg.body.type.kind == BOOL:
        body = f"({body}).to(torch.float64)"
    rel = RELATIONS[agg.relation]
    kw = ", ".join(f"{n}={n}" for n in node_params + sorted(edges))
    sig = ", ".join(["self", "edge_index", "num_nodes", *node_params, *sorted(edges)])
    lines = [f"class {cls}(MessagePassing):", f'    """{text}"""', ""]
    if reg.pyg_aggr is not None and reg.custom is None:
        ident = reg.identity
        ident_src = (("INF" if ident > 0 else "-INF") if isinstance(ident, float) and math.isinf(ident)
                     else repr(float(ident)))
        lines += [
            f"    IDENTITY = {ident_src}  # what an empty neighbourhood yields (dpdsl.registry: {reg.name})",
            "",
            "    def __init__(self) -> None:",
            f'        super().__init__(aggr="{reg.pyg_aggr}", flow="source_to_target", node_dim=0)',
            "",
            f"    def forward({sig}):",
            f"        out = self.propagate(edge_index, size=(num_nodes, num_nodes), {kw})",
            "        # PyG leaves 0 in empty neighbourhoods; the DP needs the aggregator's identity there.",
            "        deg = torch.zeros(num_nodes, dtype=torch.long).index_add_(",
            "            0, edge_index[1], torch.ones_like(edge_index[1]))",
            "        out = torch.where(deg > 0, out, _full(self.IDENTITY, num_nodes))",
        ]
        lines.append("        return out > 0.5" if reg.returns_bool else "        return out")
    else:
        lines += [
            f'    AGG = AGGREGATORS["{reg.name}"]  # no PyG aggr for this one: use dpdsl\'s registry',
            "",
            "    def __init__(self) -> None:",
            '        super().__init__(aggr=None, flow="source_to_target", node_dim=0)',
            "",
            f"    def forward({sig}):",
            f"        return self.propagate(edge_index, size=(num_nodes, num_nodes), {kw})",
            "",
            "    def aggregate(self, inputs, index, edge_index_j, dim_size):",
            "        return self.AGG.aggregate(inputs, index, edge_index_j, dim_size)",
        ]
    lines += [
        "",
        f"    def message(self, {', '.join([*msg_params, 'edge_index_j'])}):",
        f"        return {body}",
    ]
    del rel
    return "\n".join(lines)


def _has_site(e: A.Expr, name: str, site: str) -> bool:
    stack = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, A.Index) and x.name == name and x.site == site:
            return True
        stack.extend(_children(x))
    return False


def _doc_text(text: str) -> str:
    """``text`` escaped for a docstring: a Windows path (backslash-U) or triple quotes in a file name
    must not break the generated module; the docstring still reads as the original text."""
    return text.encode("unicode_escape").decode("ascii").replace('"', '\\"')


def emit(spec: SpecIR) -> str:
    """Python source of the skeleton module for ``spec``."""
    aggs: list[tuple[str, A.Agg, str, str]] = []  # (class, agg, text, attr)
    agg_attr: dict[int, str] = {}
    for name, v in spec.views.items():
        cls = _class_name("View", name)
        aggs.append((cls, v.agg, f"view {name} = {unparse(v.agg)}", f"view_{name}"))
    for name, o in spec.outputs.items():
        inner: list[A.Agg] = []
        _collect_aggs(o.expr, inner)
        for i, a in enumerate(inner):
            attr = f"out_{name}_{i}"
            aggs.append((_class_name("Output", f"{name}_{i}"), a, f"in output {name}: {unparse(a)}",
                         attr))
            agg_attr[id(a)] = attr

    node_inputs = list(spec.node_inputs)
    edge_inputs = list(spec.edge_inputs)
    states = list(spec.states)
    src: list[str] = [
        f'"""Skeleton of `{spec.name}`, generated by dpdsl from {_doc_text(spec.filename)} '
        f'(sha256 {spec.hash[:16]}).',
        "",
        "Message passing mirrors the DP: one MessagePassing per aggregate, aggregation and empty-",
        "neighbourhood identity from dpdsl's aggregator registry. The unknown transitions are the slot:",
        "pass `transitions={field: fn}` where fn maps the keyword arguments listed in UNKNOWN_ARGS to the",
        "field's new value. Runs one graph at a time; `edge_index` holds directed edges (for an",
        "undirected graph, both directions).",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import torch",
        "from torch_geometric.nn import MessagePassing",
        "",
        "from dpdsl.registry import AGGREGATORS  # noqa: F401  (used by aggregators PyG lacks)",
        "",
        'INF = float("inf")',
        "",
        f"GRAPH_KIND = {spec.graph_kind!r}",
        f"NODE_INPUTS = {node_inputs!r}",
        f"EDGE_INPUTS = {edge_inputs!r}",
        f"STATES = {states!r}",
        "UNKNOWN_ARGS = {",
        *[f"    {k!r}: {list(st.args)!r}," for k, st in spec.states.items()],
        "}",
        "",
        "",
        "def _full(value, size):",
        '    """A constant as a tensor (bool stays bool; numbers are float64 so inf is legal)."""',
        "    if isinstance(value, bool):",
        "        return torch.full((size,), value, dtype=torch.bool)",
        "    return torch.full((size,), float(value), dtype=torch.float64)",
        "",
        "",
        "def _fmin(*xs):",
        "    out = xs[0]",
        "    for x in xs[1:]:",
        "        out = torch.minimum(out, x)",
        "    return out",
        "",
        "",
        "def _fmax(*xs):",
        "    out = xs[0]",
        "    for x in xs[1:]:",
        "        out = torch.maximum(out, x)",
        "    return out",
        "",
        "",
        "def tree_height(edge_index, num_nodes):",
        '    """Longest root-to-leaf path (in edges) of a rooted forest with edges parent -> child."""',
        "    depth = torch.zeros(num_nodes, dtype=torch.float64)",
        "    for _ in range(num_nodes):",
        "        new = torch.zeros(num_nodes, dtype=torch.float64).scatter_reduce(",
        '            0, edge_index[1], depth[edge_index[0]] + 1, "amax")',
        "        if torch.equal(new, depth):",
        "            break",
        "        depth = new",
        "    return float(depth.max()) if num_nodes else 0.0",
        "",
    ]
    for cls, a, text, _ in aggs:
        src += ["", _agg_class(spec, cls, a, text), ""]

    # the transition slot
    rule = "# " + "=" * 96
    src += ["", rule, "# THE TRANSITION SLOT: the unknown part of the DP. dpdsl compile fills it with a decision tree.",
            rule, ""]
    for k, st in spec.states.items():
        args = ", ".join(st.args)
        src += [
            f"def transition_{k}({args}):",
            f'    """New value of {k} from unknown({args}). Replace me, or pass transitions={{"{k}": fn}}."""',
            f'    raise NotImplementedError("fill the transition slot for {k}")',
            "",
            "",
        ]

    # the module
    rel_of = {a[3]: a[1].relation for a in aggs}
    node_names = {s: s for s in states} | {i: i for i in node_inputs}
    src += [
        "class Skeleton(torch.nn.Module):",
        f'    """The DP `{spec.name}` as a GNN: init, rounds of views + transitions, outputs."""',
        "",
        "    def __init__(self, transitions=None):",
        "        super().__init__()",
        *[f"        self.{attr} = {cls}()" for cls, _, _, attr in aggs],
        "        self.transitions = {",
        *[f"            {k!r}: transition_{k}," for k in states],
        "        }",
        "        self.transitions.update(transitions or {})",
        "",
        "    @staticmethod",
        "    def relation_edges(edge_index, relation):",
        '        """Edges as (neighbour, node) pairs: messages flow neighbour -> node."""',
        "        src, dst = edge_index[0], edge_index[1]",
        "        return {",
        *[f"            {r!r}: torch.stack([{'dst, src' if RELATIONS[r].reverse else 'src, dst'}]),"
          for r in sorted({a[1].relation for a in aggs})],
        "        }[relation]",
        "",
        "    def forward(self, edge_index, num_nodes, "
        + (", ".join(node_inputs + edge_inputs) if node_inputs + edge_inputs else "**_") + "):",
        '        """Run the DP on one graph. Returns (outputs dict, rounds until the fixpoint or cap)."""',
        "        _N = num_nodes",
        "        id = torch.arange(_N, dtype=torch.float64)  # noqa: A001",
        "        n = _full(float(_N), _N)",
    ]
    if spec.graph_kind == "tree":
        src.append("        height = _full(tree_height(edge_index, _N), _N)")
    env = dict(node_names) | {"id": "id", "n": "n", "height": "height"}
    node_src = _ExprSource(spec, "_N", env, agg_attr)
    for k, st in spec.states.items():
        cast = ".to(torch.bool)" if st.type.kind == BOOL else ".to(torch.float64)"
        src.append(f"        {k} = ({node_src(st.init)}){cast}")
    src.append("        _edges = {")
    for *_, attr in aggs:
        src.append(f"            {attr!r}: self.relation_edges(edge_index, {rel_of[attr]!r}),")
    src.append("        }")
    rounds = node_src(spec.rounds.expr)
    src += [
        f"        _cap = int(torch.nan_to_num({rounds}, posinf=0.0).clamp(min=0).max()) if _N else 0",
        "        _rounds = 0",
        "        for _t in range(1, _cap + 1):",
    ]

    def view_call(attr: str, a: A.Agg) -> str:
        nodes, edges_ = _reads(a.body)
        kw = ", ".join([f"{x}={x}" for x in sorted(nodes)] + [f"{x}={x}" for x in sorted(edges_)])
        return f"self.{attr}(_edges[{attr!r}], _N{', ' if kw else ''}{kw})"

    for name, v in spec.views.items():
        src.append(f"            {name} = {view_call(f'view_{name}', v.agg)}")
    for k, st in spec.states.items():
        kw = ", ".join(f"{a}={a}" for a in st.args)
        cast = ".to(torch.bool)" if st.type.kind == BOOL else ".to(torch.float64)"
        src.append(f"            _new_{k} = self.transitions[{k!r}]({kw}){cast}")
    changed = " or ".join(f"not _same(_new_{k}, {k})" for k in states)
    src += [f"            _changed = {changed}"]
    for k in states:
        src.append(f"            {k} = _new_{k}")
    src += ["            if _changed:", "                _rounds = _t"]
    if spec.rounds.fixpoint:
        src += ["            else:", "                break"]
    else:
        src += ["        _rounds = _cap"]
    for name, v in spec.views.items():
        src.append(f"        {name} = {view_call(f'view_{name}', v.agg)}")
    out_src = _ExprSource(spec, "_N", env | {v: v for v in spec.views}, {})
    for _, a, _, attr in aggs:
        if attr.startswith("out_"):
            out_src.aggs[id(a)] = view_call(attr, a)
    src.append("        outputs = {")
    for name, o in spec.outputs.items():
        src.append(f"            {name!r}: {out_src(o.expr)},")
    src += [
        "        }",
        "        return outputs, _rounds",
        "",
        "",
        "def _same(a, b):",
        "    return bool(((a == b) | (torch.isnan(a) & torch.isnan(b)) if a.is_floating_point() else a == b).all())",
        "",
    ]
    return "\n".join(src)
