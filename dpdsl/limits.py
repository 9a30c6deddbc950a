"""Resource limits: every input that could make dpdsl recurse, allocate or loop without bound is checked
against an explicit cap *before* the work starts, and over a cap is a one-line ``LimitError`` (exit 2)
that names the limit and, where raising it is legitimate, the environment variable (or flag) that does.

The caps, and why they are what they are (README "Limits" repeats this table):

* ``expr_depth`` 100 (fixed): expressions are walked recursively by the parser's transformer, the
  checker, the executor, the code generator, ``unparse`` and the student's compiled closures. The
  worst of these spends 3 Python frames per nesting level (the checker on nested calls), so 100 levels
  stay under 300 of Python's 1000 frames, with room for the caller's stack (pytest, hypothesis, the CLI).
  Real transitions nest fewer than 15 levels. Enforced on lark's tree, before any recursive visitor.
* ``json_depth`` 64 (fixed): dpdsl's JSON files nest at most ~8 levels plus a student tree's depth
  (``tree_depth`` <= 8); Python's JSON decoder recurses and the tree loaders recurse per level.
* ``tree_depth`` 8 (fixed): ``--max-depth``; the exact tree DP does ``O(depth * 2**depth)`` vectorised
  steps, and 8 (256 leaves) keeps a compile within minutes. Students have depth 1-2.
* file sizes: spec 1 MiB, graph 64 MiB (~2M weighted edges, ~10 s to load), student.json / adapter
  JSON 64 MiB, checkpoint 1 GiB; every file is read whole, so its size bounds memory.
* ``nodes`` 10,000,000 and ``edges`` 20,000,000 per graph (file, sample or ``--nodes``/``--sizes``):
  the executor keeps ~90 bytes per node and ~50 per edge, so the caps bound a run to ~2 GB.
* ``graphs`` 10,000 per run (``--samples``, ``--graphs``, ``--sample``).
* ``rounds`` 1,000,000 for a spec without ``until fixpoint`` (with it, the fixpoint ends the run and
  the count is only a cap); ``--max-rounds N`` runs at most N rounds instead.
* sampler arguments: ``randint`` bounds within +-2**53 (float64 integers stay exact), ``uniform``
  bounds whose difference is finite.
* checkpoint tensors: the network a checkpoint's config describes is sized on torch's meta device
  (nothing allocated) and refused when its weights need more bytes than the file holds.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dpdsl.errors import UserError


class LimitError(UserError):
    """An input over one of dpdsl's resource limits (exit 2, one line naming the limit)."""


@dataclass(frozen=True)
class Limit:
    """One cap: its default, what it counts, and how to raise it (``env`` None = fixed)."""

    name: str
    default: int
    unit: str
    env: str | None = None
    how: str = ""  # extra advice, e.g. a flag

    def value(self) -> int:
        """The cap in force: the default or a positive integer from the environment variable."""
        if self.env is None or not os.environ.get(self.env, "").strip():
            return self.default
        raw = os.environ[self.env].strip()
        try:
            v = int(raw.replace("_", ""))
        except ValueError:
            raise UserError(f"{self.env} must be a positive integer, got {raw!r}") from None
        if v < 1:
            raise UserError(f"{self.env} must be a positive integer, got {raw!r}")
        return v

    def raise_hint(self) -> str:
        """How to get past the limit, for the error message."""
        parts = [self.how] if self.how else []
        parts.append(f"set {self.env}=N to raise it" if self.env else "the limit is fixed")
        return "; ".join(parts)


MiB = 2**20
LIMITS: dict[str, Limit] = {lim.name: lim for lim in (
    Limit("expr_depth", 100, "levels of expression nesting",
          how="split the expression with a view or a param"),
    Limit("json_depth", 64, "levels of JSON nesting"),
    Limit("tree_depth", 8, "levels of tree depth"),
    Limit("spec_bytes", 1 * MiB, "bytes of spec text", env="DPDSL_MAX_SPEC_BYTES"),
    Limit("graph_bytes", 64 * MiB, "bytes of graph file", env="DPDSL_MAX_GRAPH_BYTES"),
    Limit("artifact_bytes", 64 * MiB, "bytes of JSON artifact", env="DPDSL_MAX_ARTIFACT_BYTES"),
    Limit("checkpoint_bytes", 1024 * MiB, "bytes of checkpoint", env="DPDSL_MAX_CHECKPOINT_BYTES"),
    Limit("nodes", 10_000_000, "nodes per graph", env="DPDSL_MAX_NODES"),
    Limit("edges", 20_000_000, "edges per graph", env="DPDSL_MAX_EDGES"),
    Limit("graphs", 10_000, "graphs per run", env="DPDSL_MAX_GRAPHS"),
    Limit("rounds", 1_000_000, "rounds without 'until fixpoint'", env="DPDSL_MAX_ROUNDS",
          how="pass --max-rounds N to run at most N rounds"),
    Limit("chunk_messages", 1 << 20, "messages per chunk of an index-domain aggregate",
          env="DPDSL_CHUNK_MESSAGES"),
    Limit("tuples", 50_000_000, "tuples per index-domain run", env="DPDSL_MAX_TUPLES"),
)}

MESSAGE_BYTES = 160
"""Bytes one message of an index-domain aggregate holds at most while its chunk is processed: the
target and instance ids and up to three variables (5 x 8), one source id and one validity byte per
read (<= 4 reads: 36), and the body's float64 temporaries (<= 10: 80). A chunk is at most
``chunk_messages`` messages, so an aggregate's working memory is bounded by
``chunk_messages * MESSAGE_BYTES`` (1M x 160 B = 160 MiB by default) however large the split relation
(Floyd-Warshall at n = 512: 134M messages per round, 128 chunks); the state itself is 8 bytes per tuple
per field (docs/architecture.md §12)."""

SEED_MAX = 2**32 - 1
"""Seeds are 0..2**32-1: numpy and torch accept them, and derived seeds (seed + 2000 + scale) stay exact."""
RANDINT_MAX = 2**53
"""``randint`` bounds beyond this are not exact in float64, the encoding of every numeric input."""


def cap(name: str) -> int:
    """The value in force of limit ``name``."""
    return LIMITS[name].value()


def _show(x: float) -> str:
    """A number for a message: digits grouped, huge integers (even beyond float64) abbreviated."""
    if isinstance(x, int):
        digits = str(abs(x))
        if len(digits) <= 18:
            return f"{x:,}"
        return f"{'-' if x < 0 else ''}{digits[0]}.{digits[1:4]}e+{len(digits) - 1}"
    if x.is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:g}"


def exceeded(name: str, got: float, what: str) -> LimitError:
    """The one-line error for ``what`` being ``got``, over limit ``name``."""
    lim = LIMITS[name]
    return LimitError(f"{what} is {_show(got)}, over the limit of {lim.value():,} {lim.unit} "
                      f"(limit '{name}'; {lim.raise_hint()})")


def check(name: str, got: float, what: str) -> None:
    """Raise ``LimitError`` when ``got`` exceeds limit ``name``."""
    if got > cap(name):
        raise exceeded(name, got, what)


def check_file_size(path: Any, name: str, what: str) -> None:
    """Refuse a file over its size cap before reading it (missing files are the reader's business)."""
    try:
        size = os.stat(path).st_size
    except OSError:
        return
    check(name, size, what)


# --------------------------------------------------------------------------------------------- JSON

_ESCAPE = re.compile(r"\\.", re.S)
_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_PAIR = re.compile(r"\[\]|\{\}")


def json_depth_over(text: str, limit: int) -> bool:
    """Whether JSON ``text`` nests deeper than ``limit``, without recursion and in C-speed passes.

    Escapes, then strings, then everything but brackets are deleted; each pass then deletes the
    innermost bracket pairs, so balanced text of depth d is gone after d passes (invalid text is left
    to the decoder, whose own RecursionError is caught by :func:`loads_json`).
    """
    s = _NOT_BRACKET.sub("", _STRING.sub("", _ESCAPE.sub("", text)))
    for _ in range(limit):
        if not s:
            return False
        t = _PAIR.sub("", s)
        if t == s:
            return False
        s = t
    return bool(s) and _PAIR.search(s) is not None


def loads_json(text: str | bytes, what: str, **kwargs: Any) -> Any:
    """``json.loads`` behind the ``json_depth`` cap; decoding errors propagate for the caller to word.

    ``what`` names the file in the ``LimitError``.
    """
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("utf-8")  # UnicodeDecodeError: the caller's "not UTF-8"
    limit = cap("json_depth")
    if json_depth_over(text, limit):
        raise LimitError(f"{what} nests deeper than {limit} levels of JSON (limit 'json_depth'; "
                         "the limit is fixed)")
    try:
        return json.loads(text, **kwargs)
    except RecursionError:
        raise LimitError(f"{what} nests too deeply to decode (limit 'json_depth' is {limit})") from None


# ----------------------------------------------------------------------------------- expressions


def tree_too_deep(root: Any, limit: int, children: Callable[[Any], list]) -> Any | None:
    """The first node deeper than ``limit`` levels below ``root`` (iterative DFS), or None."""
    stack = [(root, 1)]
    while stack:
        node, d = stack.pop()
        if d > limit:
            return node
        stack.extend((c, d + 1) for c in children(node))
    return None


# ---------------------------------------------------------------------------------------- rounds


def check_round_counts(raw: Any, sizes: Any, *, fixpoint: bool, max_rounds: int | None) -> None:
    """Validate a spec's evaluated per-node round counts before ``tolerances.round_caps`` uses them.

    A NaN, infinite or negative count is an error (it used to run 0 rounds silently). Without
    ``until fixpoint`` a count over the ``rounds`` limit needs an explicit ``max_rounds`` (which then
    bounds the run); with it the fixpoint ends the run, so the count is only a cap and is left alone.
    """
    import numpy as np
    import torch

    caps = raw.to(torch.float64).reshape(-1)
    if caps.numel() == 0:
        return
    sizes = sizes.reshape(-1)
    c = caps.numpy()  # numpy's bool reductions: ~10x cheaper than torch's at 10k nodes
    if not (np.isfinite(c).all() and bool((c >= 0).all())):
        bad = ~torch.isfinite(caps) | (caps < 0)
        i = int(bad.nonzero()[0])
        n = int(sizes[min(i, sizes.numel() - 1)].item())
        raise UserError(f"the rounds expression evaluates to {caps[i].item():g} on a graph with n = {n}; "
                        "a round count must be a finite number >= 0")
    if max_rounds is not None:
        if max_rounds < 0:
            raise UserError(f"--max-rounds must be >= 0, got {max_rounds}")
        return
    top = float(c.max())
    if not fixpoint and top > cap("rounds"):
        i = int(caps.argmax())
        n = int(sizes[min(i, sizes.numel() - 1)].item())
        raise exceeded("rounds", top, f"the round count (on a graph with n = {n})")
