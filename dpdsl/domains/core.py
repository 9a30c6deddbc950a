"""Index domains, shared by the checker and the lowering (docs/architecture.md §12).

Kept free of torch and of the checker so both sides can read it: how an index is written (``i``,
``i-1``), which axis each domain variable runs along, and what a relation binds.
"""

from __future__ import annotations

import re

NODE_AXIS = -1  # pairs: every variable is a node of the graph
_INDEX = re.compile(r"^([A-Za-z_][A-Za-z_0-9]*)([+-][0-9]+)?$")


def parse_index(arg: str) -> tuple[str, int]:
    """``"i"`` -> ``("i", 0)``, ``"k+1"`` -> ``("k", 1)``: how the parser keeps an offset index."""
    m = _INDEX.match(arg)
    if m is None:  # pragma: no cover - the grammar only produces these two shapes
        raise ValueError(f"bad index {arg!r}")
    return m.group(1), int(m.group(2) or 0)


def axes(kind: str) -> tuple[int, ...]:
    """The axis each position of a state's index runs along (pairs: nodes; intervals: one sequence)."""
    return {"pairs": (NODE_AXIS, NODE_AXIS), "sequence": (0,), "grid": (0, 1), "intervals": (0, 0)}[kind]


def bound_axis(kind: str) -> int:
    """The axis a relation's bound variable (``split k``, ``in-edges u -> j``, ``all k``) runs along."""
    return NODE_AXIS if kind == "pairs" else 0


def num_axes(kind: str) -> int:
    """How many sequences an instance of the domain has (pairs: none, they read a graph)."""
    return {"pairs": 0, "sequence": 1, "grid": 2, "intervals": 1}[kind]
