"""Conjunctions of predicate literals and the LRH beam search over them (docs/architecture.md §6.5).

A conjunction ("path AND") is the indicator that a sample reaches a tree node: every predicate in
``pos`` is true and every predicate in ``neg`` is false. Masks are Python ints (arbitrary width, hashable,
O(1) child construction), so the search can deduplicate children reached along different orders.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import numpy as np

from dpdsl.distill.probes import PROBE_ALPHA, RidgeProbe
from dpdsl.tree import Split, Tree


class Conj(NamedTuple):
    """A conjunction: bit ``p`` of ``pos`` requires predicate p true, bit ``p`` of ``neg`` false."""

    pos: int
    neg: int

    @property
    def n_literals(self) -> int:
        """Depth of the tree node this conjunction describes (the root has 0 literals)."""
        return self.pos.bit_count() + self.neg.bit_count()

    @property
    def used(self) -> int:
        """Mask of the predicates mentioned (either sign)."""
        return self.pos | self.neg

    def extend(self, pred: int, value: bool) -> Conj:
        """The child conjunction adding literal ``pred == value``."""
        bit = 1 << pred
        return Conj(self.pos | bit, self.neg) if value else Conj(self.pos, self.neg | bit)

    def literals(self) -> list[tuple[int, bool]]:
        """``(pred, value)`` pairs in increasing predicate order."""
        out = []
        used = self.used
        while used:
            low = used & -used
            p = low.bit_length() - 1
            out.append((p, bool(self.pos & low)))
            used ^= low
        return out

    def describe(self, pred_names: Sequence[str] | None = None) -> str:
        """Readable form, e.g. ``best < dist & !(dist == inf)``; the root is ``true``."""
        if not self.used:
            return "true"
        parts = []
        for p, v in self.literals():
            name = pred_names[p] if pred_names is not None else f"p{p}"
            parts.append(name if v else f"!({name})")
        return " & ".join(parts)


ROOT = Conj(0, 0)
"""The empty conjunction (tree root): true everywhere."""


def literal_matrices(conjs: Sequence[Conj], n_preds: int) -> tuple[np.ndarray, np.ndarray]:
    """0/1 matrices ``(pos, neg)`` of shape ``[C, P]`` marking each conjunction's literals."""
    nbytes = max(1, (n_preds + 7) // 8)
    limit = 1 << n_preds
    out = []
    for attr in ("pos", "neg"):
        buf = bytearray()
        for c in conjs:
            mask = getattr(c, attr)
            if mask < 0 or mask >= limit:
                raise ValueError(f"conjunction {c} mentions a predicate >= {n_preds}")
            buf += mask.to_bytes(nbytes, "little")
        raw = np.frombuffer(bytes(buf), dtype=np.uint8).reshape(len(conjs), nbytes)
        out.append(np.unpackbits(raw, axis=1, bitorder="little")[:, :n_preds])
    return out[0], out[1]


def evaluate(X: np.ndarray, conjs: Sequence[Conj], chunk_size: int = 8192) -> np.ndarray:
    """Truth values ``bool[N, C]`` of conjunctions on boolean predicate rows ``X: bool[N, P]``.

    Bit-parallel: each literal's column is packed into 64-sample words once, and a conjunction is the
    AND of its (at most depth-many) literal rows, gathered for a whole chunk of conjunctions at a time;
    cost O(C * depth * N / 64) word ops plus unpacking, instead of a dense O(N * P * C) matmul. A
    conjunction requiring a predicate both true and false is never satisfied. The result is a
    transposed view (column-major); index it like any ``[N, C]`` array.
    """
    X = np.asarray(X, dtype=bool)
    if X.ndim != 2:
        raise ValueError(f"X must be bool[N, P], got shape {X.shape}")
    n, p = X.shape
    conjs = list(conjs)
    n_words = max(1, (n + 63) // 64)
    packed = np.zeros((2 * p + 1, n_words * 8), dtype=np.uint8)
    if n:
        bits = np.packbits(X.T, axis=1, bitorder="little")
        packed[:p, : bits.shape[1]] = bits
        packed[p : 2 * p, : bits.shape[1]] = ~bits
    packed[2 * p] = 0xFF  # padding literal: always true
    words = packed.view(np.uint64)
    out = np.empty((len(conjs), n), dtype=bool)
    for start in range(0, len(conjs), chunk_size):
        part = conjs[start : start + chunk_size]
        mpos, mneg = literal_matrices(part, p)
        lit = np.concatenate([mpos, mneg], axis=1).astype(bool)
        rows, cols = np.nonzero(lit)  # row-major: literals of one conjunction are contiguous
        counts = lit.sum(axis=1)
        width = int(counts.max()) if len(part) else 0
        idx = np.full((len(part), max(1, width)), 2 * p, dtype=np.int64)
        rank = np.arange(len(rows)) - np.repeat(np.cumsum(counts) - counts, counts)
        idx[rows, rank] = cols
        acc = words[idx[:, 0]].copy()
        for j in range(1, idx.shape[1]):
            acc &= words[idx[:, j]]
        out[start : start + len(part)] = np.unpackbits(acc.view(np.uint8), axis=1, bitorder="little")[:, :n]
    return out.T


class LRHSearch:
    """Level-wise beam search for linearly represented conjunctions (Boix-Adsera 2024, §3).

    Depth 0 is the root (constant, not probed). At each depth every one-literal extension of the kept
    conjunctions is probed with a ridge probe from the representation, scored by held-out 1 - R^2. A
    *split* (c, p) is ranked by ``max(score(c & p), score(c & !p))`` because a tree can only split c on p
    if both children are represented. ``beam`` counts **conjunctions**, as the paper's k does: the children
    of the best splits (optionally only those with split score <= ``tau``) are kept until ``beam``
    distinct conjunctions are, and expanded at the next depth (before issue 15 ``beam`` counted splits,
    each keeping two conjunctions, so the old ``beam=b`` is the new ``beam=2b``). Every probed
    conjunction is kept as a tree-selection candidate: the probe scores only decide what gets expanded
    (rank, not cut; the paper does the same).

    ``per_parent``: rank splits round-robin over parents (every kept parent's best split, then every
    parent's second best, ...; within a round by score) instead of one global ranking per depth, so a
    parent whose best split scores worse than the strong variants of shallower structure still gets
    expanded (issue 13 §1; measured in benchmarks/RESULTS.md §7).

    Conjunctions never true on the training split are skipped (a probe of an all-zero target says
    nothing) and listed in ``empty_``. ``alpha`` is the relative ridge penalty of
    :class:`~dpdsl.distill.probes.RidgeProbe`.

    Fitted attributes:

    - ``candidates_``: root first, then every probed conjunction, by depth;
    - ``scores_``: conj -> held-out 1 - R^2 (the root gets 0.0); ``depth_``: conj -> number of literals;
    - ``levels_[d]``: conjs probed at depth d; ``kept_[d]``: depth-d conjs expanded further;
    - ``splits_[d]``: the ranked ``(parent, pred, score)`` splits whose children have d literals;
    - ``empty_``: skipped conjunctions; ``n_probes_``: number of probes fitted (over every
      :meth:`widen`, each conjunction probed once);
    - ``literal_scores_``: ``float[2, P]``, depth-1 scores of ``p`` (row 0) and ``!p`` (row 1), NaN if
      empty; ``predicate_scores_``: ``float[P]``, their max (the split score of the root on p): the
      LRH-map row of this representation.
    """

    def __init__(
        self,
        beam: int = 20,
        max_depth: int = 3,
        tau: float | None = None,
        alpha: float = PROBE_ALPHA,
        val_fraction: float = 0.25,
        random_state: int | None = None,
        per_parent: bool = False,
    ) -> None:
        self.beam = beam
        self.max_depth = max_depth
        self.tau = tau
        self.alpha = alpha
        self.val_fraction = val_fraction
        self.random_state = random_state
        self.per_parent = per_parent

    def _split(self, n: int, split: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
        if split is not None:
            tr, va = (np.asarray(s, dtype=np.int64) for s in split)
            return tr, va
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        perm = np.random.default_rng(self.random_state).permutation(n)
        n_val = max(1, int(round(self.val_fraction * n)))
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])

    def fit(
        self, X: np.ndarray, Phi: np.ndarray, split: tuple[np.ndarray, np.ndarray] | None = None
    ) -> LRHSearch:
        """Search on predicates ``X: bool[N, P]`` and representation ``Phi: float[N, m]``.

        ``split`` gives explicit (train, val) row indices; otherwise a random ``val_fraction`` of rows
        (seeded by ``random_state``) is held out.
        """
        X = np.asarray(X, dtype=bool)
        Phi = np.asarray(Phi)
        if X.ndim != 2 or Phi.ndim != 2 or X.shape[0] != Phi.shape[0]:
            raise ValueError(f"X {X.shape} and Phi {Phi.shape} must be 2-D with the same rows")
        if self.beam < 1 or self.max_depth < 0:
            raise ValueError("beam must be >= 1 and max_depth >= 0")
        tr, va = self._split(X.shape[0], split)
        self._X_tr, self._X_va = X[tr], X[va]
        self._probe = RidgeProbe(Phi[tr], Phi[va], self.alpha)
        self.scores_: dict[Conj, float] = {ROOT: 0.0}
        self.depth_: dict[Conj, int] = {ROOT: 0}
        self._empty: set[Conj] = set()
        self.empty_: list[Conj] = []
        self.n_probes_ = 0
        return self._grow()

    def widen(self, beam: int) -> LRHSearch:
        """Re-run the search with a wider ``beam`` on the same data, probing only conjunctions not yet
        probed (iterative widening: start narrow, widen until the selected tree is good enough)."""
        if not hasattr(self, "_probe"):
            raise ValueError("widen() needs a fitted search")
        self.beam = beam
        return self._grow()

    def expand(self, parents: Sequence[Conj], per_node: int) -> list[Conj]:
        """Top-down growth below ``parents`` (e.g. the impure leaves of a selected tree): probe every
        one-literal extension, keep each node's ``per_node`` best splits (by probe score, as the beam
        does) and repeat down to ``max_depth``. Returns the newly probed conjunctions, which are also
        appended to ``candidates_``."""
        p = self._X_tr.shape[1]
        before = set(self.candidates_)
        frontier: dict[int, dict[Conj, None]] = {}
        for c in parents:
            if c.n_literals < self.max_depth:
                frontier.setdefault(c.n_literals, {})[c] = None
        for level in range(self.max_depth):
            keep = list(frontier.get(level, {}))
            if not keep:
                continue
            kids: dict[Conj, None] = {}
            for c in keep:
                for q in range(p):
                    if not c.used >> q & 1:
                        kids.setdefault(c.extend(q, True))
                        kids.setdefault(c.extend(q, False))
            self._probe_new(list(kids), level + 1)
            if level + 1 >= self.max_depth:
                break
            taken: dict[Conj, int] = {}
            for c, q, _ in self._rank_splits(keep, p):
                if taken.get(c, 0) < per_node:
                    taken[c] = taken.get(c, 0) + 1
                    for v in (True, False):
                        frontier.setdefault(level + 1, {})[c.extend(q, v)] = None
        new = [c for c in self.scores_ if c not in before]
        self.candidates_.extend(new)
        return new

    def _probe_new(self, conjs: list[Conj], depth: int) -> list[Conj]:
        """Probe the not-yet-probed, non-empty ``conjs``; returns the probed ones (all of ``conjs``'
        non-empty members, in order)."""
        new = [c for c in conjs if c not in self.scores_ and c not in self._empty]
        if new:
            Y_tr = evaluate(self._X_tr, new)
            nonempty = Y_tr.any(axis=0)
            for c, ok in zip(new, nonempty, strict=True):
                if not ok:
                    self._empty.add(c)
                    self.empty_.append(c)
            probed = [c for c, ok in zip(new, nonempty, strict=True) if ok]
            if probed:
                sc = self._probe.score(Y_tr[:, nonempty], evaluate(self._X_va, probed))
                for c, v in zip(probed, sc, strict=True):
                    self.scores_[c] = float(v)
                    self.depth_[c] = depth
                self.n_probes_ += len(probed)
        return [c for c in conjs if c in self.scores_]

    def _grow(self) -> LRHSearch:
        p = self._X_tr.shape[1]
        self.candidates_: list[Conj] = [ROOT]
        self.levels_: list[list[Conj]] = [[ROOT]]
        self.kept_: list[list[Conj]] = [[ROOT]]
        self.splits_: list[list[tuple[Conj, int, float]]] = [[]]
        keep = [ROOT]
        for depth in range(1, self.max_depth + 1):
            children: dict[Conj, None] = {}
            for c in keep:
                used = c.used
                for q in range(p):
                    if not used >> q & 1:
                        children.setdefault(c.extend(q, True))
                        children.setdefault(c.extend(q, False))
            probed = self._probe_new(list(children), depth)
            self.candidates_.extend(probed)
            self.levels_.append(probed)
            splits = self._rank_splits(keep, p)
            self.splits_.append(splits)
            if depth == self.max_depth:
                break
            keep = self._choose(splits)
            self.kept_.append(keep)
            if not keep:
                break
        self._literal_scores(p)
        return self

    def _choose(self, splits: list[tuple[Conj, int, float]]) -> list[Conj]:
        """Children of the best splits, until ``beam`` distinct conjunctions are kept."""
        ok = [s for s in splits if self.tau is None or s[2] <= self.tau]
        if self.per_parent:
            rank: dict[Conj, int] = {}
            order = []
            for i, s in enumerate(ok):
                r = rank.get(s[0], 0)
                rank[s[0]] = r + 1
                order.append((r, i))
            ok = [ok[i] for _, i in sorted(order)]
        nxt: dict[Conj, None] = {}
        for c, q, _ in ok:
            if len(nxt) >= self.beam:
                break
            nxt.setdefault(c.extend(q, True))
            nxt.setdefault(c.extend(q, False))
        return list(nxt)

    def _literal_scores(self, p: int) -> None:
        self.literal_scores_ = np.full((2, p), np.nan)
        for q in range(p):
            for row, v in enumerate((True, False)):
                s = self.scores_.get(ROOT.extend(q, v))
                if s is not None:
                    self.literal_scores_[row, q] = s
        with np.errstate(invalid="ignore"):
            self.predicate_scores_ = np.max(self.literal_scores_, axis=0)

    def _rank_splits(self, parents: list[Conj], p: int) -> list[tuple[Conj, int, float]]:
        """All splits of ``parents`` with both children probed, best (lowest max score) first.

        Ties keep generation order (parent order, then predicate index), so ranking is deterministic.
        """
        splits = []
        for c in parents:
            used = c.used
            for q in range(p):
                if used >> q & 1:
                    continue
                s_t = self.scores_.get(c.extend(q, True))
                s_f = self.scores_.get(c.extend(q, False))
                if s_t is not None and s_f is not None:
                    splits.append((c, q, max(s_t, s_f)))
        order = np.argsort(np.array([s[2] for s in splits], dtype=np.float64), kind="stable")
        return [splits[i] for i in order]


def candidate_set(conjs: Iterable[Conj]) -> list[Conj]:
    """Deduplicated candidates (first occurrence order) with the root first."""
    seen: dict[Conj, None] = {ROOT: None}
    for c in conjs:
        seen.setdefault(Conj(int(c[0]), int(c[1])))
    return list(seen)


def path_conjunctions(tree: Tree) -> list[Conj]:
    """The path AND of every node (preorder, root first): what the LRH says a teacher represents."""
    out: list[Conj] = []

    def go(t: Tree, c: Conj) -> None:
        out.append(c)
        if isinstance(t, Split):
            go(t.if_true, c.extend(t.pred, True))
            go(t.if_false, c.extend(t.pred, False))

    go(tree, ROOT)
    return out
