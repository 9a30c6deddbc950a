"""Graphs: the shared container, random families and input samplers, graph files, spec validation."""

from dpdsl.graphs.core import Graph, batch_graphs, unbatch_nodes
from dpdsl.graphs.generators import (
    FAMILIES,
    KINDS,
    SAMPLERS,
    GraphFamily,
    Sampler,
    as_rng,
    generate_graph,
    grid_shape,
    register_family,
    register_sampler,
    sample_input,
)
from dpdsl.graphs.io import graph_from_json, graph_to_json, load_graph, save_graph
from dpdsl.graphs.validate import kind_satisfies, validate_graph

__all__ = [
    "FAMILIES",
    "KINDS",
    "SAMPLERS",
    "Graph",
    "GraphFamily",
    "Sampler",
    "as_rng",
    "batch_graphs",
    "generate_graph",
    "graph_from_json",
    "graph_to_json",
    "grid_shape",
    "kind_satisfies",
    "load_graph",
    "register_family",
    "register_sampler",
    "sample_input",
    "save_graph",
    "unbatch_nodes",
    "validate_graph",
]
