"""Seeded random graph families and input samplers: the spec's training distribution (docs/architecture.md §8).

Everything draws from a ``numpy.random.Generator`` passed in by the caller, so one seed fixes the data a
teacher was trained on and the samples a student was distilled from. Both registries are open:
plugins add families with ``register_family`` and input distributions with ``register_sampler``.

Graph kinds form a small lattice: a ``tree`` (edges parent -> child) is a ``dag``, a ``dag`` is
``directed``; ``undirected`` stands apart. A family declares the kind it guarantees when asked for a
directed graph; asked for an undirected one it produces ``undirected`` (or refuses, like ``dag``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from dpdsl import limits
from dpdsl.errors import GraphError
from dpdsl.graphs.core import KINDS, Graph
from dpdsl.types import BOOL, ENUM, INT, NODE

GenerateFn = Callable[..., Graph]
"""``fn(n, rng, *, directed, **params) -> Graph`` with ``params`` already defaulted and name-checked."""


@dataclass(frozen=True)
class GraphFamily:
    """A named random graph family.

    ``kind`` is what the family guarantees for ``directed=True``; ``undirected_ok`` says whether it can
    also produce undirected graphs. ``params`` maps each accepted parameter to its default, so unknown
    parameter names are caught before the generator runs.
    """

    name: str
    generate: GenerateFn
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    undirected_ok: bool = True
    doc: str = ""

    def kind_for(self, directed: bool) -> str:
        """The graph kind produced for a request (what a spec's ``graph`` line is checked against)."""
        return self.kind if directed else "undirected"


FAMILIES: dict[str, GraphFamily] = {}


def register_family(
    name: str,
    generate: GenerateFn,
    *,
    kind: str,
    params: dict[str, Any] | None = None,
    undirected_ok: bool = True,
    doc: str = "",
    replace: bool = False,
) -> GraphFamily:
    """Add a family to ``FAMILIES`` (plugins call this); re-registering a name needs ``replace=True``."""
    if kind not in KINDS:
        raise GraphError(f"graph family '{name}': unknown kind '{kind}' (expected one of {', '.join(KINDS)})")
    if name in FAMILIES and not replace:
        raise GraphError(f"graph family '{name}' is already registered")
    fam = GraphFamily(name, generate, kind, dict(params or {}), undirected_ok, doc)
    FAMILIES[name] = fam
    return fam


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """Accept a seed as a convenience; a Generator is used as-is so callers can share one stream."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def generate_graph(
    family: str, n: int, rng: np.random.Generator | int, *, directed: bool = True, **params: Any
) -> Graph:
    """Draw one graph with ``n`` nodes (``grid`` rounds to a lattice) and no inputs."""
    fam = FAMILIES.get(family)
    if fam is None:
        known = ", ".join(sorted(FAMILIES))
        raise GraphError(f"unknown graph family '{family}' (known: {known})")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise GraphError(f"graph family '{family}': n must be an integer >= 1, got {n!r}")
    unknown = sorted(set(params) - set(fam.params))
    if unknown:
        accepted = ", ".join(fam.params) or "none"
        raise GraphError(f"graph family '{family}': unknown parameter '{unknown[0]}' (accepted: {accepted})")
    if not directed and not fam.undirected_ok:
        raise GraphError(f"graph family '{family}' produces directed graphs only ({fam.kind})")
    if n > 2**31:  # keeps pair indices n(n-1) inside int64
        raise GraphError(f"graph family '{family}': n = {n} is too large (at most 2**31 nodes)")
    limits.check("nodes", int(n), f"graph family '{family}': n")
    full = {**fam.params, **params}
    return fam.generate(int(n), as_rng(rng), directed=directed, **full)


# --------------------------------------------------------------------------------------------- helpers


def _check_prob(family: str, p: Any) -> float:
    try:
        pf = float(p)
    except (TypeError, ValueError):
        raise GraphError(f"graph family '{family}': p must be a number in [0, 1], got {p!r}") from None
    if not 0.0 <= pf <= 1.0:  # also rejects NaN
        raise GraphError(f"graph family '{family}': p must be in [0, 1], got {p!r}")
    return pf


def _pair_sample(num_pairs: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of pairs kept by independent coin flips with probability ``p``.

    Drawing the count from Binomial(N, p) and then a uniform subset of that size has exactly the same
    distribution as N coin flips, but costs O(kept) instead of O(N), so sparse graphs with 10^5 nodes
    are cheap.
    """
    if num_pairs == 0:
        return np.zeros(0, dtype=np.int64)
    m = int(rng.binomial(num_pairs, p))
    limits.check("edges", m, "the number of edges drawn")  # before choice() allocates them
    idx = rng.choice(num_pairs, size=m, replace=False)
    return np.sort(idx).astype(np.int64)


def _triangle_pairs(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decode pair indices ``k = j(j-1)/2 + i`` (i < j) into ``(i, j)`` with exact integer arithmetic."""
    j = ((1.0 + np.sqrt(1.0 + 8.0 * k.astype(np.float64))) // 2).astype(np.int64)
    # float sqrt can be off by one for huge k; correct both ways.
    j = np.where(j * (j - 1) // 2 > k, j - 1, j)
    j = np.where((j + 1) * j // 2 <= k, j + 1, j)
    i = k - j * (j - 1) // 2
    return i, j


def _graph(n: int, src: np.ndarray, dst: np.ndarray, directed: bool) -> Graph:
    ei = torch.from_numpy(np.stack([np.asarray(src, np.int64), np.asarray(dst, np.int64)]).reshape(2, -1))
    return Graph(n, ei.contiguous(), directed)


# -------------------------------------------------------------------------------------------- families


def _er(n: int, rng: np.random.Generator, *, directed: bool, p: float, loops: float = 0) -> Graph:
    """Erdős–Rényi G(n, p): each ordered (directed) or unordered pair independently; with ``loops = 1``
    also each self loop with probability p (CLRS-30's ER graphs have them; Floyd-Warshall reads them)."""
    pf = _check_prob("er", p)
    if loops not in (0, 1):
        raise GraphError(f"graph family 'er': loops must be 0 or 1, got {loops!r}")
    if directed:
        k = _pair_sample(n * (n - 1), pf, rng)
        u = k // max(n - 1, 1)
        r = k % max(n - 1, 1)
        v = r + (r >= u)
    else:
        u, v = _triangle_pairs(_pair_sample(n * (n - 1) // 2, pf, rng))
    if loops:
        own = np.flatnonzero(rng.random(n) < pf)
        u, v = np.concatenate([np.asarray(u, np.int64), own]), np.concatenate([np.asarray(v, np.int64), own])
    return _graph(n, u, v, directed)


def _dag(n: int, rng: np.random.Generator, *, directed: bool, p: float) -> Graph:
    """Random topological order, then every forward pair with probability ``p``."""
    pf = _check_prob("dag", p)
    order = rng.permutation(n)
    i, j = _triangle_pairs(_pair_sample(n * (n - 1) // 2, pf, rng))
    return _graph(n, order[i], order[j], True)


def _tree(n: int, rng: np.random.Generator, *, directed: bool, branching: int = 0) -> Graph:
    """Random recursive tree (node i picks a parent among 0..i-1), relabelled by a random permutation.

    ``branching > 0`` caps the number of children per node (parents are drawn among nodes not yet
    full); the relabelling keeps the root from always being node 0.
    """
    try:
        ok = not isinstance(branching, bool) and float(branching).is_integer() and branching >= 0
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise GraphError(f"graph family 'tree': branching must be an integer >= 0, got {branching!r}")
    b = int(branching)
    if b == 0 or n <= 1:
        parent = (rng.random(n - 1) * np.arange(1, n)).astype(np.int64) if n > 1 else np.zeros(0, np.int64)
    else:
        parent = np.zeros(n - 1, dtype=np.int64)
        open_nodes = [0]  # nodes with fewer than b children
        children = np.zeros(n, dtype=np.int64)
        for i in range(1, n):
            slot = int(rng.integers(len(open_nodes)))
            par = open_nodes[slot]
            parent[i - 1] = par
            children[par] += 1
            if children[par] == b:
                open_nodes[slot] = open_nodes[-1]
                open_nodes.pop()
            open_nodes.append(i)
    perm = rng.permutation(n)
    return _graph(n, perm[parent], perm[np.arange(1, n)], directed)


def _path(n: int, rng: np.random.Generator, *, directed: bool) -> Graph:
    """A path through the nodes in random order (edges follow the path direction when directed)."""
    order = rng.permutation(n)
    return _graph(n, order[:-1], order[1:], directed)


def grid_shape(n: int, max_aspect: float = 2.0) -> tuple[int, int]:
    """Rows × cols (rows <= cols <= max_aspect·rows) with r·c closest to ``n``; ties go to the squarer.

    The aspect cap keeps prime ``n`` from degenerating into a 1 × n path; ``max_aspect=inf`` gives
    the exact size whenever any factorisation exists.
    """
    best: tuple[int, int, int, int] | None = None  # (|rc - n|, c - r, r, c)
    for r in range(1, math.isqrt(n) + 2):
        lo_c = r
        hi_c = max(r, math.floor(max_aspect * r)) if math.isfinite(max_aspect) else n
        for c in {min(max(lo_c, n // r), hi_c), min(max(lo_c, -(-n // r)), hi_c)}:
            cand = (abs(r * c - n), c - r, r, c)
            if best is None or cand < best:
                best = cand
    assert best is not None
    return best[2], best[3]


def _grid(n: int, rng: np.random.Generator, *, directed: bool, max_aspect: float = 2.0) -> Graph:
    """A rows × cols 4-neighbour lattice, node ``r * cols + c`` (row-major, not shuffled).

    Directed grids point right and down, so they are DAGs (the shape of edit-distance style DPs).
    """
    try:
        aspect = float(max_aspect)
    except (TypeError, ValueError):
        aspect = float("nan")
    if not aspect >= 1.0:
        raise GraphError(f"graph family 'grid': max_aspect must be a number >= 1, got {max_aspect!r}")
    rows, cols = grid_shape(n, min(aspect, float(n)))  # an aspect beyond n changes nothing (and overflows)
    ids = np.arange(rows * cols, dtype=np.int64).reshape(rows, cols)
    src = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    dst = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    return _graph(rows * cols, src, dst, directed)


register_family("er", _er, kind="directed", params={"p": 0.5, "loops": 0},
                doc="Erdős–Rényi G(n, p); self loops w.p. p with loops = 1")
register_family(
    "dag", _dag, kind="dag", params={"p": 0.5}, undirected_ok=False, doc="random order, forward edges w.p. p"
)
register_family(
    "tree", _tree, kind="tree", params={"branching": 0}, doc="random recursive tree, edges parent -> child"
)
register_family("path", _path, kind="tree", doc="a path through the nodes in random order")
register_family("grid", _grid, kind="dag", params={"max_aspect": 2.0}, doc="4-neighbour lattice near n nodes")


# -------------------------------------------------------------------------------------------- samplers

SampleFn = Callable[[tuple, int, np.random.Generator], np.ndarray]
"""``fn(args, size, rng) -> array`` of ``size`` values (bool or float64); ``args`` already arity-checked."""


@dataclass(frozen=True)
class Sampler:
    """A named input distribution; ``produces`` is 'bool', 'int' (integer-valued floats) or 'real'."""

    name: str
    fn: SampleFn
    produces: str
    arity: tuple[int, int]
    doc: str = ""


SAMPLERS: dict[str, Sampler] = {}


def register_sampler(
    name: str,
    fn: SampleFn,
    *,
    produces: str,
    arity: int | tuple[int, int],
    doc: str = "",
    replace: bool = False,
) -> Sampler:
    """Add an input distribution to ``SAMPLERS``; ``arity`` is a count or a (min, max) range."""
    if produces not in (BOOL, INT, "real", "any"):
        raise GraphError(f"sampler '{name}': produces must be bool, int, real or any, got '{produces}'")
    if name in SAMPLERS and not replace:
        raise GraphError(f"sampler '{name}' is already registered")
    ar = (arity, arity) if isinstance(arity, int) else (int(arity[0]), int(arity[1]))
    s = Sampler(name, fn, produces, ar, doc)
    SAMPLERS[name] = s
    return s


def _num(dist: str, x: Any, *, finite: bool = True) -> float:
    if isinstance(x, bool):
        return float(x)
    try:
        v = float(x)
    except (TypeError, ValueError, OverflowError):
        raise GraphError(f"sampler '{dist}': argument {str(x)[:40]} is not a float64 number") from None
    if math.isnan(v) or (finite and math.isinf(v)):
        raise GraphError(f"sampler '{dist}': argument {x!r} must be finite")
    return v


def _uniform(args: tuple, size: int, rng: np.random.Generator) -> np.ndarray:
    a, b = (_num("uniform", x) + 0.0 for x in args)  # + 0.0: numpy refuses uniform(0, -0) as "high - low < 0"
    if a > b:
        raise GraphError(f"sampler 'uniform': needs a <= b, got uniform({a:g}, {b:g})")
    if not math.isfinite(b - a):
        raise GraphError(f"sampler 'uniform': b - a must be finite, got uniform({a:g}, {b:g})")
    return rng.uniform(a, b, size)


def _randint(args: tuple, size: int, rng: np.random.Generator) -> np.ndarray:
    a, b = (_num("randint", x) for x in args)
    if not (a.is_integer() and b.is_integer()):
        raise GraphError(f"sampler 'randint': bounds must be integers, got randint({a:g}, {b:g})")
    if a > b:
        raise GraphError(f"sampler 'randint': needs a <= b, got randint({a:g}, {b:g})")
    if max(abs(a), abs(b)) > limits.RANDINT_MAX:
        raise GraphError(f"sampler 'randint': bounds must be within +-2**53 (exact in float64), "
                         f"got randint({a:g}, {b:g})")
    return rng.integers(int(a), int(b), size, endpoint=True).astype(np.float64)


def _bernoulli(args: tuple, size: int, rng: np.random.Generator) -> np.ndarray:
    p = _num("bernoulli", args[0])
    if not 0.0 <= p <= 1.0:
        raise GraphError(f"sampler 'bernoulli': p must be in [0, 1], got {p:g}")
    return rng.random(size) < p


def _one_hot(args: tuple, size: int, rng: np.random.Generator) -> np.ndarray:
    if size < 1:
        raise GraphError("sampler 'one_hot': needs at least one node or edge")
    out = np.zeros(size, dtype=bool)
    out[rng.integers(size)] = True
    return out


def _const(args: tuple, size: int, rng: np.random.Generator) -> np.ndarray:
    (c,) = args
    if isinstance(c, (bool, np.bool_)):
        return np.full(size, bool(c))
    return np.full(size, _num("const", c, finite=False), dtype=np.float64)


register_sampler("uniform", _uniform, produces="real", arity=2, doc="float64 in [a, b)")
register_sampler("randint", _randint, produces=INT, arity=2, doc="integers in [a, b] inclusive")
register_sampler("bernoulli", _bernoulli, produces=BOOL, arity=1, doc="True with probability p")
register_sampler("one_hot", _one_hot, produces=BOOL, arity=0, doc="exactly one True per graph")
register_sampler("const", _const, produces="any", arity=1, doc="the constant c (number, inf or bool)")


def sample_input(
    dist: str, args: tuple, size: int, rng: np.random.Generator | int, *, dtype_kind: str
) -> torch.Tensor:
    """Draw ``size`` values (one per node or edge of one graph) in the encoding of ``dtype_kind``.

    ``dtype_kind`` is a ``Type.kind``. Bool samples feed numeric inputs as exact 0/1; numeric samples
    feed bool inputs only if every value is exactly 0 or 1; real samples never feed int-like inputs.
    """
    s = SAMPLERS.get(dist)
    if s is None:
        raise GraphError(f"unknown sampler '{dist}' (known: {', '.join(sorted(SAMPLERS))})")
    args = tuple(args)
    lo, hi = s.arity
    if not lo <= len(args) <= hi:
        want = str(lo) if lo == hi else f"{lo} to {hi}"
        raise GraphError(f"sampler '{dist}' takes {want} argument(s), got {len(args)}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise GraphError(f"sampler '{dist}': size must be an integer >= 0, got {size!r}")
    if s.produces == "real" and dtype_kind in (INT, NODE, ENUM, BOOL):
        hint = "; use randint" if dtype_kind != BOOL else "; use bernoulli"
        raise GraphError(f"sampler '{dist}' gives real values but the input is {dtype_kind}{hint}")
    values = np.asarray(s.fn(args, int(size), as_rng(rng)))
    if values.shape != (size,):
        raise GraphError(f"sampler '{dist}' returned shape {values.shape}, expected ({size},)")
    if dtype_kind == BOOL:
        if values.dtype == np.bool_:
            return torch.from_numpy(values.copy())
        if not np.isin(values, (0.0, 1.0)).all():
            raise GraphError(f"sampler '{dist}' gives non-boolean values but the input is bool")
        return torch.from_numpy(values == 1.0)
    out = values.astype(np.float64)
    if np.isnan(out).any():
        raise GraphError(f"sampler '{dist}' produced NaN")
    if dtype_kind in (INT, NODE, ENUM):
        finite = out[np.isfinite(out)]
        if not np.all(finite == np.round(finite)):
            raise GraphError(f"sampler '{dist}' gives non-integer values but the input is {dtype_kind}")
    return torch.from_numpy(out)
