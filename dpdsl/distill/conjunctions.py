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

    @staticmethod
    def of(literals: Iterable[tuple[int, bool]]) -> Conj:
        """The conjunction of ``(pred, value)`` literals (a tree path): the inverse of ``literals``."""
        pos = neg = 0
        for q, v in literals:
            if v:
                pos |= 1 << q
            else:
                neg |= 1 << q
        return Conj(pos, neg)

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


RANKS = ("probe", "alternate", "regret")
"""How ``LRHSearch`` ranks splits when it has labels: probe scores only, probe and label rankings
taking turns, or cumulative regret (the default; benchmarks/RESULTS.md §7 compares them)."""


def as_bool_inputs(X: np.ndarray) -> np.ndarray:
    """Predicate rows as ``bool``: bools as given, numbers in {0, 1} or {-1, +1} as ``X > 0``."""
    X = np.asarray(X)
    if X.dtype == bool:
        return X
    vals = np.unique(X)
    if not (set(vals.tolist()) <= {0, 1} or set(vals.tolist()) <= {-1, 1}):
        raise ValueError(f"inputs must be bool, 0/1 or -1/+1; got values {vals[:6].tolist()}")
    return X > 0


def as_explains(E: np.ndarray) -> np.ndarray:
    """The explains matrix: ``bool[N, K]`` as given, or integer labels ``int[N]`` one-hot (K = max + 1;
    a negative label is a sample no class explains)."""
    E = np.asarray(E)
    if E.ndim == 2:
        return E.astype(bool)
    if E.ndim != 1 or not (np.issubdtype(E.dtype, np.integer) or E.dtype == bool):
        raise ValueError(f"labels must be a bool[N, K] explains matrix or int[N] labels, got {E.dtype}{E.shape}")
    y = E.astype(np.int64)
    k = max(1, int(y.max()) + 1) if len(y) else 1
    return (y[:, None] == np.arange(k)[None, :]) & (y[:, None] >= 0)


def _local_regret(ranked: list[tuple[Conj, int, float]], sign: float) -> dict[tuple[Conj, int], float]:
    """Per split (c, q): ``(best - own) / (best - median)`` of ``sign * value`` over c's splits
    (0 for c's best split, about 1 for a typical one)."""
    by: dict[Conj, list[tuple[int, float]]] = {}
    for c, q, v in ranked:
        by.setdefault(c, []).append((q, sign * v))
    out: dict[tuple[Conj, int], float] = {}
    for c, items in by.items():
        vals = np.array([v for _, v in items])
        best = float(vals.min())
        spread = max(float(np.median(vals)) - best, 1e-12)
        for q, v in items:
            out[c, q] = (v - best) / spread
    return out


def _counts_dtype(n: int) -> type:
    """float32 while every count (at most ``n``) is an exact float32 integer: BLAS is twice as fast."""
    return np.float32 if n < 2**24 else np.float64


def one_step_gains(X: np.ndarray, E: np.ndarray, cells: Sequence[Conj], chunk: int = 512) -> np.ndarray:
    """``float[len(cells), P]``: samples a split of each cell on each predicate explains beyond the
    cell as one leaf (both children labelled by their majority class); one matmul per chunk against the
    class-masked predicates ``X * E_k`` of every class at once (counts are exact integers)."""
    X = np.asarray(X, dtype=bool)
    E = np.asarray(E, dtype=bool)
    N, P = X.shape
    K = E.shape[1]
    dt = _counts_dtype(N)
    XE = (X[:, None, :] & E[:, :, None]).reshape(N, K * P).astype(dt)  # column k * P + q: q and class k
    Ef = E.astype(dt)
    out = np.empty((len(cells), P))
    for s in range(0, len(cells), chunk):
        Mt = evaluate(X, cells[s : s + chunk]).T.astype(dt)  # [c, N]
        t = (Mt @ XE).reshape(-1, K, P).transpose(1, 0, 2).astype(np.float64)  # [K, c, P]: counts of c & q
        tot = (Mt @ Ef).T.astype(np.float64)  # [K, c]
        out[s : s + Mt.shape[0]] = t.max(axis=0) + (tot[:, :, None] - t).max(axis=0) - tot.max(axis=0)[:, None]
    return out


def split_gains(X: np.ndarray, E: np.ndarray, parents: Sequence[Conj], lookahead: int = 2) -> np.ndarray:
    """``float[len(parents), P]``: how many more labelled samples a split of each parent on each predicate
    explains than the parent as one leaf, letting each child split once more when ``lookahead`` is 2.

    The label half of the beam's ranking (issue 13 §1): the last split of a planted tree separates two
    leaves of different class, so its gain stands out, and the two-step lookahead also sees an inner
    split whose children have the parent's class mix (zero one-step gain, the greedy learner's blind
    spot) by the splits below it. In units of samples, so splits of different parents compare (a
    sub-cell of a node gains less than the node). Vectorised per parent: the counts of every
    (q, q', value, value', class) cell are 4K Gram matrices ``(X^v * E_k)' X^v'``.
    """
    X = np.asarray(X, dtype=bool)
    E = np.asarray(E, dtype=bool)
    cells = evaluate(X, list(parents))
    out = np.zeros((len(parents), X.shape[1]))
    for i in range(len(parents)):
        rows = cells[:, i]
        if not rows.any():
            continue
        Xb, Eb = X[rows], E[rows]
        dt = _counts_dtype(int(rows.sum()))
        sides = (Xb.astype(dt), (~Xb).astype(dt))
        # grandchild counts (X^v * E_k)' X^v' = X^v' (E_k * X^v'): one matmul per (v, v') for every class
        masked = [(xb[:, None, :] & Eb[:, :, None]).reshape(len(Xb), -1).astype(dt) for xb in (Xb, ~Xb)]
        Ek = Eb.astype(dt)
        K, P = E.shape[1], X.shape[1]
        leaf = float(Ek.sum(axis=0).max())
        one = np.zeros(P)
        two = np.zeros(P)
        for Xv in sides:  # child c & (q == v), per q
            n1 = (Xv.T @ Ek).astype(np.float64)  # [P, K]
            one += n1.max(axis=1)
            if lookahead >= 2:
                # [P, K, P']: best class in each grandchild, summed over v'
                n2 = sum((Xv.T @ m).reshape(P, K, P).max(axis=1).astype(np.float64) for m in masked)
                two += np.maximum(n1.max(axis=1), n2.max(axis=1))
        out[i] = one - leaf if lookahead < 2 else (one - leaf) + (two - leaf)
    return out


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

    With the teacher's ``labels`` (issue 13 §1) two things change. The beam ranks splits by a
    cumulative *regret*: a split's local regret at its parent is the smaller of its probe regret and
    its label regret, each ``(best - own) / (best - median)`` over the parent's splits (probe: split
    score; label: :func:`split_gains`, two-step lookahead), and a conjunction's regret is its parent's
    plus the split's; the ``beam`` lowest are kept (ties in generation order, i.e. by probe score).
    Within a node both signals rank the planted split near the top (the probe from the
    representation, the labels where the split separates classes), but raw probe scores do not compare
    across parents. Then ``complete`` levels of *label completion*: every candidate at depth
    ``>= max_depth - complete`` the beam did not expand gets the children of its best one-step label
    split, recursively down to ``max_depth``, as unprobed candidates (the last splits of a planted
    tree separate leaves, so the labels find them where deep probes cannot). The tree built from them
    must still pass the representation test :func:`represented_pvalue`. Unprobed candidates have no
    ``scores_`` entry; ``probed_candidates_`` lists the probed ones.

    Conjunctions never true on the training split are skipped (a probe of an all-zero target says
    nothing) and listed in ``empty_``. ``alpha`` is the relative ridge penalty of
    :class:`~dpdsl.distill.probes.RidgeProbe`.

    Fitted attributes:

    - ``candidates_``: root first, then every probed conjunction, by depth, then the label
      completions (unprobed);
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
        rank: str = "regret",
        complete: int = 2,
    ) -> None:
        if rank not in RANKS:
            raise ValueError(f"rank must be one of {RANKS}, got {rank!r}")
        self.rank = rank
        self.complete = complete
        self.beam = beam
        self.max_depth = max_depth
        self.tau = tau
        self.alpha = alpha
        self.val_fraction = val_fraction
        self.random_state = random_state
        self.per_parent = per_parent

    @property
    def probed_candidates_(self) -> list[Conj]:
        """The candidates with a probe score (all but the label completions)."""
        return [c for c in self.candidates_ if c in self.scores_]

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
        self, X: np.ndarray, Phi: np.ndarray, split: tuple[np.ndarray, np.ndarray] | None = None,
        labels: np.ndarray | None = None, X_labels: np.ndarray | None = None,
    ) -> LRHSearch:
        """Search on predicates ``X: bool[N, P]`` and representation ``Phi: float[N, m]``.

        ``split`` gives explicit (train, val) row indices; otherwise a random ``val_fraction`` of rows
        (seeded by ``random_state``) is held out. ``labels`` (the teacher's: an explains matrix or int
        labels, on the rows ``X_labels``, default ``X``) turn on the label-aware beam (``rank``) and
        the label completion (``complete``); without them the search ranks by probe scores only.
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
        self._labels: tuple[np.ndarray, np.ndarray] | None = None
        if labels is not None:
            XL = X if X_labels is None else as_bool_inputs(X_labels)
            EL = as_explains(labels)
            if XL.shape != (EL.shape[0], X.shape[1]):
                raise ValueError(f"X_labels {XL.shape} and labels {EL.shape} do not match X {X.shape}")
            self._labels = (XL, EL)
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
        self._regret: dict[Conj, float] = {ROOT: 0.0}
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
            keep = self._choose(splits, self._gain_ranked(keep, p))
            self.kept_.append(keep)
            if not keep:
                break
        self._literal_scores(p)
        self._complete(p)
        return self

    def _complete(self, p: int) -> None:
        """Label completion (see the class docstring): unprobed candidates below unexpanded ones."""
        if self._labels is None or self.complete < 1 or self.max_depth < 1:
            return
        have = set(self.candidates_)
        frontier: list[Conj] = []
        for d in range(max(0, self.max_depth - self.complete), min(self.max_depth, len(self.levels_))):
            expanded = set(self.kept_[d]) if d < len(self.kept_) else set()
            frontier += [c for c in self.levels_[d] if c not in expanded]
            if not frontier:
                continue
            pos, neg = literal_matrices(frontier, p)
            g = np.where((pos | neg).astype(bool), -np.inf, one_step_gains(*self._labels, frontier))
            best = g.argmax(axis=1)
            useful = g[np.arange(len(frontier)), best] > 0
            nxt = []
            for c, q, ok in zip(frontier, best.tolist(), useful.tolist(), strict=True):  # masks: Python ints
                if ok:
                    for ch in (c.extend(q, True), c.extend(q, False)):
                        if ch not in have:
                            have.add(ch)
                            self.candidates_.append(ch)
                            nxt.append(ch)
            frontier = nxt

    def _gain_ranked(self, parents: list[Conj], p: int) -> list[tuple[Conj, int, float]]:
        """The splits of ``parents`` ranked by :func:`split_gains` on the labels (empty without labels)."""
        if self._labels is None or not parents:
            return []
        g = split_gains(*self._labels, parents)
        for i, c in enumerate(parents):
            g[i, [q for q in range(p) if c.used >> q & 1]] = -np.inf
        flat = np.argsort(-g, axis=None, kind="stable")
        flat = flat[np.isfinite(g.ravel()[flat])]
        return [(parents[i // p], int(i % p), float(g.ravel()[i])) for i in flat]

    def _choose(self, splits: list[tuple[Conj, int, float]],
                by_gain: list[tuple[Conj, int, float]] | None = None) -> list[Conj]:
        """Children of the best splits, until ``beam`` distinct conjunctions are kept (with labels:
        the probe and label rankings take turns, or the lowest cumulative regret)."""
        ok = [s for s in splits if self.tau is None or s[2] <= self.tau]
        if by_gain and self.rank != "probe":
            probed = {(c, q) for c, q, _ in ok}
            gain = [s for s in by_gain if (s[0], s[1]) in probed]
            if self.rank == "regret":
                return self._choose_by_regret(ok, gain)
            ok = [s for pair in zip(ok, gain, strict=False) for s in pair] + ok[len(gain):] + gain[len(ok):]
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

    def _choose_by_regret(self, ok: list[tuple[Conj, int, float]],
                          gain: list[tuple[Conj, int, float]]) -> list[Conj]:
        """The ``beam`` conjunctions of lowest cumulative regret (class docstring); ``ok`` is ranked by
        probe score (lower is better), ``gain`` by label gain (higher is better)."""
        local = _local_regret(ok, 1.0)
        for key, r in _local_regret(gain, -1.0).items():
            local[key] = min(local.get(key, np.inf), r)
        cost = self._regret
        order = sorted(range(len(ok)), key=lambda i: (cost[ok[i][0]] + local[ok[i][0], ok[i][1]], i))
        nxt: dict[Conj, None] = {}
        for i in order:
            if len(nxt) >= self.beam:
                break
            c, q, _ = ok[i]
            v = cost[c] + local[c, q]
            for ch in (c.extend(q, True), c.extend(q, False)):
                nxt.setdefault(ch)
                cost[ch] = min(cost.get(ch, v), v)
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


def tree_splits(tree: Tree) -> list[tuple[Conj, int]]:
    """``(node conjunction, predicate)`` of every split of ``tree`` (preorder)."""
    out: list[tuple[Conj, int]] = []

    def go(t: Tree, c: Conj) -> None:
        if isinstance(t, Split):
            out.append((c, t.pred))
            go(t.if_true, c.extend(t.pred, True))
            go(t.if_false, c.extend(t.pred, False))

    go(tree, ROOT)
    return out


def split_rank_pvalues(search: LRHSearch, tree: Tree) -> np.ndarray:
    """Per split (c, p) of ``tree``: ``(1 + #q scoring better) / (1 + #alternatives)``, where the
    alternatives are every other split (c, q) of the same node, all probed (missing probes are run).

    The LRH half of the verdict when labels steer the search (issue 13 §1): labels alone can rebuild
    the tree from a teacher that does not represent it, but only a teacher that represents it scores
    its splits better than the alternatives at the same node; under "phi does not single out the
    tree's splits" each value is uniform on (0, 1].
    """
    p = search._X_tr.shape[1]
    out = []
    for c, q in tree_splits(tree):
        if c.pos & c.neg or c.used >> q & 1:
            continue
        alts = [r for r in range(p) if not c.used >> r & 1]
        search._probe_new([c.extend(r, v) for r in alts for v in (True, False)], c.n_literals + 1)
        sc = np.array([max(search.scores_.get(c.extend(r, True), np.inf),
                           search.scores_.get(c.extend(r, False), np.inf)) for r in alts])
        mine = sc[alts.index(q)]
        out.append((1 + np.sum(sc < mine)) / len(alts))
    return np.array(out, dtype=np.float64)


REPRESENTED_ALPHA = 0.01
"""A tree counts as represented by phi when :func:`represented_pvalue` is at most this (one split
ranked first among 100 alternatives is exactly 0.01)."""


def represented_pvalue(pvalues: np.ndarray) -> float:
    """Fisher's combination of :func:`split_rank_pvalues`: the probability, if phi did not single out
    the tree's splits, of ranks at least this good (1.0 for a tree without splits)."""
    import scipy.stats

    if len(pvalues) == 0:
        return 1.0
    return float(scipy.stats.chi2.sf(-2.0 * np.sum(np.log(pvalues)), 2 * len(pvalues)))
