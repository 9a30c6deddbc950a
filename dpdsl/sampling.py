"""Draw problem instances from a spec's ``sample`` section (graph family + input distributions).

This is the bridge between the IR and ``dpdsl.graphs.generators``: the checker uses the static checks
here so a bad ``sample`` clause is a positioned ``DslError``; teachers and the distiller use
``sample_graphs`` to draw seeded instances.
"""

from __future__ import annotations

import numpy as np

from dpdsl import limits
from dpdsl.domains.instance import sample_instances
from dpdsl.errors import GraphError, UserError
from dpdsl.graphs import generators as G
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR
from dpdsl.types import BOOL, Type


def family_fits(fam: G.GraphFamily, kind: str) -> bool:
    """Whether a family can produce graphs of a spec's kind."""
    if kind == "undirected":
        return fam.undirected_ok
    if kind == "directed":
        return True
    if kind == "dag":
        return fam.kind in ("dag", "tree")
    return fam.kind == "tree"


def check_family_arg(fam: G.GraphFamily, name: str, value: float) -> str | None:
    """A one-line problem with ``name = value`` for a family, or None."""
    if name not in fam.params:
        return (f"graph family '{fam.name}' has no parameter '{name}' "
                f"(accepted: {', '.join(fam.params) or 'none'})")
    try:
        G.generate_graph(fam.name, 3, 0, directed=fam.kind != "undirected", **{name: value})
    except GraphError as err:
        return str(err)
    return None


def check_sampler(dist: str, args: tuple[float, ...], ty: Type, site: str) -> str | None:
    """A one-line problem with ``sample INPUT dist(args)`` for an input of type ``ty``, or None."""
    s = G.SAMPLERS.get(dist)
    if s is None:
        return f"unknown sampler '{dist}'; expected one of {', '.join(G.SAMPLERS)}"
    if dist == "one_hot" and site == "edge":
        return "one_hot picks one node per graph; it is not an edge distribution"
    try:
        values = G.sample_input(dist, args, 64, np.random.default_rng(0), dtype_kind=ty.kind)
    except GraphError as err:
        return str(err)
    if ty.kind != BOOL:
        ends = [float(a) for a in args[:2]] if dist in ("uniform", "randint") else []
        for v in [*ends, *values.tolist()]:
            if not ty.admits(v) and not (dist == "uniform" and ends and v == ends[-1] and ty.hi == v):
                return f"{dist}{tuple(args)} can draw {v:g}, outside the input's range {ty.describe_range()}"
    return None


def sample_graphs(
    spec: SpecIR,
    count: int,
    seed: int,
    *,
    nodes: tuple[int, int] | None = None,
    family: str | None = None,
    family_args: dict[str, float] | None = None,
) -> list[Graph]:
    """Draw ``count`` seeded instances; ``nodes``/``family`` override the spec's sample section.

    A spec on a sequence domain (§12) draws sequence instances (``dpdsl.domains.instance``) instead, with
    ``nodes`` as the range of total lengths."""
    if spec.domain.kind in ("sequence", "grid", "intervals"):
        return sample_instances(spec, count, seed, lengths=nodes)  # type: ignore[return-value]
    if spec.sample is None:
        raise UserError(f"spec '{spec.name}' has no sample section; cannot draw instances")
    limits.check("graphs", count, "the number of graphs to draw")
    lo, hi = nodes or spec.sample.nodes
    limits.check("nodes", hi, "the size of the graphs to draw")
    fam = family or spec.sample.family
    fargs = dict(spec.sample.family_args) if family is None else {}
    fargs.update(family_args or {})
    if fam not in G.FAMILIES:
        raise UserError(f"unknown graph family '{fam}' (known: {', '.join(G.FAMILIES)})")
    if not family_fits(G.FAMILIES[fam], spec.graph_kind):
        raise UserError(f"graph family '{fam}' does not produce {spec.graph_kind} graphs")
    if fam == "er" and "p" not in fargs and family is not None:
        fargs["p"] = 0.5
    rng = np.random.default_rng(seed)
    directed = spec.graph_kind != "undirected"
    samplers = {name: (dist, args) for name, dist, args in spec.sample.inputs}
    out = []
    for _ in range(count):
        n = int(rng.integers(lo, hi, endpoint=True))
        g = G.generate_graph(fam, n, rng, directed=directed, **fargs)
        for name, inp in spec.node_inputs.items():
            dist, args = samplers[name]
            g.node[name] = G.sample_input(dist, args, g.num_nodes, rng, dtype_kind=inp.type.kind)
        for name, inp in spec.edge_inputs.items():
            dist, args = samplers[name]
            g.edge[name] = G.sample_input(dist, args, g.num_edges, rng, dtype_kind=inp.type.kind)
        out.append(g)
    return out
