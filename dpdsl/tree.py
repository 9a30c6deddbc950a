"""The decision-tree transition format (docs/architecture.md §5): predicates at splits, leaves.

A tree is built from frozen dataclasses (hashable, comparable, so identical subtrees are detected with
``==``). For evaluation it is flattened into arrays (preorder node ids, root 0) and run for ``depth``
vectorised gather steps in numpy (what fitting needs), never one Python step per sample; students
run trees compiled to ``torch.where`` (``dpdsl.student.compile_tree``). JSON is plain nested dicts
so artifacts need no pickle.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Leaf:
    """A leaf emitting leaf class ``cls`` (an index into the caller's class vocabulary)."""

    cls: int


@dataclass(frozen=True)
class Split:
    """Test predicate ``pred``; go to ``if_true`` when it holds, else ``if_false``."""

    pred: int
    if_true: Tree
    if_false: Tree


Tree = Leaf | Split


@dataclass(frozen=True)
class TreeArrays:
    """Array form of a tree. Node 0 is the root; ``feature[i] == -1`` marks a leaf.

    ``left`` is the child taken when the predicate is true, ``right`` when false (both -1 at leaves);
    ``value`` is the leaf class (-1 at splits). ``depth`` bounds the number of gather steps.
    """

    feature: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    depth: int


def size(tree: Tree) -> int:
    """Number of leaves (the DP's size measure; a tree has ``2 * size - 1`` nodes)."""
    if isinstance(tree, Leaf):
        return 1
    return size(tree.if_true) + size(tree.if_false)


def depth(tree: Tree) -> int:
    """Longest root-to-leaf path in splits (a single leaf has depth 0)."""
    if isinstance(tree, Leaf):
        return 0
    return 1 + max(depth(tree.if_true), depth(tree.if_false))


def simplify(tree: Tree) -> Tree:
    """An equivalent smaller tree: bottom-up, collapse splits whose two children are equal, and drop
    re-tests of a predicate already decided on the path (its other branch is unreachable)."""

    def go(t: Tree, decided: dict[int, bool]) -> Tree:
        if isinstance(t, Leaf):
            return t
        if t.pred in decided:
            return go(t.if_true if decided[t.pred] else t.if_false, decided)
        a = go(t.if_true, {**decided, t.pred: True})
        b = go(t.if_false, {**decided, t.pred: False})
        return a if a == b else Split(t.pred, a, b)

    return go(tree, {})


def to_arrays(tree: Tree) -> TreeArrays:
    """Flatten in preorder (root 0, then the true subtree, then the false subtree)."""
    feature: list[int] = []
    left: list[int] = []
    right: list[int] = []
    value: list[int] = []

    def add(t: Tree) -> int:
        i = len(feature)
        feature.append(-1)
        left.append(-1)
        right.append(-1)
        value.append(-1)
        if isinstance(t, Leaf):
            value[i] = t.cls
        else:
            feature[i] = t.pred
            left[i] = add(t.if_true)
            right[i] = add(t.if_false)
        return i

    add(tree)
    as_arr = lambda xs: np.asarray(xs, dtype=np.int64)  # noqa: E731
    return TreeArrays(as_arr(feature), as_arr(left), as_arr(right), as_arr(value), depth(tree))


def apply(tree: Tree | TreeArrays, X: np.ndarray) -> np.ndarray:
    """Index (in ``to_arrays`` preorder) of the leaf each row of ``X: bool[N, P]`` reaches (``int64[N]``)."""
    a = tree if isinstance(tree, TreeArrays) else to_arrays(tree)
    X = np.asarray(X, dtype=bool)
    if X.ndim != 2:
        raise ValueError(f"X must be bool[N, P], got shape {X.shape}")
    if a.feature.size and a.feature.max() >= X.shape[1]:
        raise ValueError(f"tree tests predicate {int(a.feature.max())} but X has {X.shape[1]} columns")
    rows = np.arange(X.shape[0])
    node = np.zeros(X.shape[0], dtype=np.int64)
    for _ in range(a.depth):
        f = a.feature[node]
        go_true = X[rows, np.maximum(f, 0)]
        node = np.where(f >= 0, np.where(go_true, a.left[node], a.right[node]), node)
    return node


def predict(tree: Tree | TreeArrays, X: np.ndarray) -> np.ndarray:
    """Leaf class per row of ``X: bool[N, P]`` (``int64[N]``)."""
    a = tree if isinstance(tree, TreeArrays) else to_arrays(tree)
    return a.value[apply(a, X)]


def leaf_paths(tree: Tree) -> dict[int, list[tuple[int, bool]]]:
    """Leaf index (as ``apply`` numbers it) -> the (predicate, value) tests on the way from the root."""
    out: dict[int, list[tuple[int, bool]]] = {}

    def go(t: Tree, i: int, path: list[tuple[int, bool]]) -> int:
        if isinstance(t, Leaf):
            out[i] = path
            return i + 1
        nxt = go(t.if_true, i + 1, [*path, (t.pred, True)])
        return go(t.if_false, nxt, [*path, (t.pred, False)])

    go(tree, 0, [])
    return out


def to_json(tree: Tree) -> dict[str, Any]:
    """Plain nested dicts: ``{"leaf": c}`` or ``{"pred": p, "if_true": ..., "if_false": ...}``."""
    if isinstance(tree, Leaf):
        return {"leaf": int(tree.cls)}
    return {"pred": int(tree.pred), "if_true": to_json(tree.if_true), "if_false": to_json(tree.if_false)}


def from_json(obj: Any) -> Tree:
    """Inverse of :func:`to_json`; raises ``ValueError`` on anything malformed."""
    if not isinstance(obj, dict):
        raise ValueError(f"tree node must be an object, got {type(obj).__name__}")
    if set(obj) == {"leaf"} and _is_int(obj["leaf"]):
        return Leaf(int(obj["leaf"]))
    if set(obj) == {"pred", "if_true", "if_false"} and _is_int(obj["pred"]) and obj["pred"] >= 0:
        return Split(int(obj["pred"]), from_json(obj["if_true"]), from_json(obj["if_false"]))
    raise ValueError(f"malformed tree node with keys {sorted(obj)}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def to_rules(
    tree: Tree, pred_names: Sequence[str] | None = None, class_names: Sequence[str] | None = None
) -> str:
    """Readable nested rules, e.g. ``if best < dist then best else dist``.

    A split with two leaf children stays on one line; deeper splits are written as an indented
    ``if ... then`` / ``else`` block (two spaces per level).
    """

    def pname(p: int) -> str:
        return pred_names[p] if pred_names is not None else f"p{p}"

    def cname(c: int) -> str:
        return class_names[c] if class_names is not None else f"c{c}"

    def lines(t: Tree) -> list[str]:
        if isinstance(t, Leaf):
            return [cname(t.cls)]
        if isinstance(t.if_true, Leaf) and isinstance(t.if_false, Leaf):
            return [f"if {pname(t.pred)} then {cname(t.if_true.cls)} else {cname(t.if_false.cls)}"]
        out = [f"if {pname(t.pred)} then"]
        out += ["  " + s for s in lines(t.if_true)]
        out.append("else")
        out += ["  " + s for s in lines(t.if_false)]
        return out

    return "\n".join(lines(tree))


def random_tree(
    n_preds: int, max_depth: int, n_classes: int, rng: np.random.Generator, distinct_siblings: bool = True
) -> Tree:
    """A complete random tree (planted benchmarks): each split tests a predicate unused on its path.

    With ``distinct_siblings`` two sibling leaves never share a class, so every bottom split changes the
    function (random labels otherwise make some planted splits redundant).
    """
    if n_preds < max_depth:
        raise ValueError("need at least max_depth predicates for distinct splits on a path")
    if distinct_siblings and max_depth > 0 and n_classes < 2:
        raise ValueError("distinct siblings need at least 2 classes")

    def go(d: int, used: frozenset[int]) -> Tree:
        if d == max_depth:
            return Leaf(int(rng.integers(n_classes)))
        free = [q for q in range(n_preds) if q not in used]
        q = int(free[rng.integers(len(free))])
        if distinct_siblings and d == max_depth - 1:
            a, b = rng.choice(n_classes, size=2, replace=False)
            return Split(q, Leaf(int(a)), Leaf(int(b)))
        return Split(q, go(d + 1, used | {q}), go(d + 1, used | {q}))

    return go(0, frozenset())
