"""What an emitted skeleton calls at run time (``dpdsl emit`` writes ``from dpdsl.runtime import ...``).

These helpers used to be pasted into every emitted module as source text; as a module they are typed,
tested and shared: the registry's ``min``/``max`` functions *are* :func:`fmin`/:func:`fmax`, the
executor's tree heights and change test are :func:`tree_depths` and :func:`differs`, and the round cap
is ``dpdsl.tolerances.round_caps``, so an emitted skeleton cannot drift from the executor on them.
It needs only torch and ``dpdsl.tolerances``: it sits below the registry and the executor.

Encoding as in ``dpdsl.types``: bools are ``torch.bool``, every other value float64 (so ``inf`` is legal).
"""

from __future__ import annotations

import torch

from dpdsl.tolerances import round_caps

__all__ = ["INF", "all_to_first", "differs", "everywhere", "fill_empty", "floor_div", "floor_mod", "fmax", "fmin",
           "full", "round_cap", "same", "tree_depths", "tree_height"]

INF = float("inf")


def full(value: float | bool, size: int) -> torch.Tensor:
    """A constant as a column of ``size`` rows: bool stays bool, numbers become float64."""
    if isinstance(value, bool):
        return torch.full((size,), value, dtype=torch.bool)
    return torch.full((size,), float(value), dtype=torch.float64)


def all_to_first(num_nodes: int) -> torch.Tensor:
    """The edges of an aggregate over all nodes in an emitted skeleton (one graph): every node -> node 0,
    so message passing reduces the whole graph onto node 0 (:func:`everywhere` then broadcasts it)."""
    return torch.stack([torch.arange(num_nodes), torch.zeros(num_nodes, dtype=torch.long)])


def everywhere(x: torch.Tensor) -> torch.Tensor:
    """Node 0's aggregate (over all nodes, :func:`all_to_first`) as every node's value."""
    return x[:1].expand(x.shape[0]).clone()


def floor_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The language's ``a // b``: ``floor(a / b)`` of the float64 quotient (two correctly rounded IEEE
    operations, so every backend computes the same bits; exact for integers below 2^53). Hence
    ``x // 0`` is ``inf``/``-inf`` by the signs (``0 // 0`` NaN), ``inf // 2`` is ``inf``, ``5 // inf`` is 0,
    and NaN propagates (``dpdsl.expr.ops``)."""
    return torch.floor(a / b)


def floor_mod(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The language's ``a % b``: ``a - b * floor(a / b)``, so the result has the divisor's sign
    (``-7 % 3 == 2``) and ``a == b * (a // b) + a % b`` for integers. ``x % 0``, ``inf % b`` and
    ``x % inf`` are NaN (``inf - inf``, ``0 * inf``), NaN propagates."""
    return a - b * torch.floor(a / b)


def fmin(*xs: torch.Tensor) -> torch.Tensor:
    """Elementwise minimum of two or more tensors (the language's ``min(a, b, ...)``; NaN propagates)."""
    out = xs[0]
    for x in xs[1:]:
        out = torch.minimum(out, x)
    return out


def fmax(*xs: torch.Tensor) -> torch.Tensor:
    """Elementwise maximum of two or more tensors (the language's ``max(a, b, ...)``; NaN propagates)."""
    out = xs[0]
    for x in xs[1:]:
        out = torch.maximum(out, x)
    return out


def fill_empty(out: torch.Tensor, edge_index: torch.Tensor, num_nodes: int, identity: float) -> torch.Tensor:
    """``out`` with the aggregator's identity at nodes that receive no edge (``edge_index[1]``).

    PyG's aggregations leave 0 in an empty neighbourhood; the DP needs ``+inf`` for min, ``-inf`` for
    max, and so on (``dpdsl.registry``), exactly as the executor's ``Aggregator.aggregate`` gives.
    """
    deg = torch.zeros(num_nodes, dtype=torch.long).index_add_(0, edge_index[1], torch.ones_like(edge_index[1]))
    return torch.where(deg > 0, out, full(identity, num_nodes))


def tree_depths(edge_index: torch.Tensor, num_nodes: int) -> torch.Tensor:
    """Depth of every node of a rooted forest (edges parent -> child), by vectorised relaxation.

    At most ``num_nodes`` passes; each pushes depths one level down, and the loop stops at the fixpoint.
    """
    depth = torch.zeros(num_nodes, dtype=torch.float64)
    src, dst = edge_index[0], edge_index[1]
    for _ in range(num_nodes):
        new = torch.zeros(num_nodes, dtype=torch.float64).scatter_reduce(0, dst, depth[src] + 1, "amax")
        if torch.equal(new, depth):
            break
        depth = new
    return depth


def tree_height(edge_index: torch.Tensor, num_nodes: int) -> float:
    """Height of one rooted tree or forest (edges on its longest root-to-leaf path); 0 for no nodes."""
    return float(tree_depths(edge_index, num_nodes).max()) if num_nodes else 0.0


def round_cap(raw: torch.Tensor) -> int:
    """Rounds one graph may run, from its evaluated ``rounds`` expression (``tolerances.round_caps``)."""
    return int(round_caps(raw).max()) if raw.numel() else 0


def differs(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per element: did the value change? Exact, with NaN equal to NaN (the fixpoint rule)."""
    if a.dtype == torch.bool:
        return a != b
    return ~((a == b) | (torch.isnan(a) & torch.isnan(b)))


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """No element changed (see :func:`differs`): the emitted skeleton's fixpoint test."""
    return not bool(differs(a, b).any())
