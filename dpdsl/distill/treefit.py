"""Fitting the tree transition (docs/architecture.md §6.6): exact DP over probed conjunctions, or pruned CART.

Targets are an *explains matrix* ``E: bool[N, K]``: ``E[i, k]`` is True when leaf class k gives the right
answer on sample i (several classes may, e.g. ``best`` and ``dist`` when they are equal). A leaf's class
is the one explaining most samples in its cell (ties -> smallest index); agreement is the fraction of
all samples explained by their leaf's class (samples no class explains count against every tree).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from dpdsl.distill.conjunctions import (
    REPRESENTED_ALPHA,
    ROOT,
    Conj,
    LRHSearch,
    as_bool_inputs,
    as_explains,
    candidate_set,
    evaluate,
    represented_pvalue,
    split_rank_pvalues,
)
from dpdsl.distill.probes import PROBE_ALPHA
from dpdsl.tree import Leaf, Split, Tree, predict, simplify

_NEG = np.iinfo(np.int64).min // 4
"""-inf for integer agreement counts (safe to add twice)."""

_CELL_BYTES = 64 * 2**20
"""Memory budget for one chunk of float64 cell indicators."""

if TYPE_CHECKING:  # scikit-learn is imported only when CART runs: it costs ~1 s, and LRH never needs it
    from sklearn.tree import DecisionTreeClassifier


def _check_xe(X: np.ndarray, E: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = as_bool_inputs(X)
    E = as_explains(E)
    if X.ndim != 2 or E.ndim != 2 or X.shape[0] != E.shape[0]:
        raise ValueError(f"X {X.shape} and E {E.shape} must be 2-D with the same rows")
    if X.shape[0] == 0 or E.shape[1] == 0:
        raise ValueError("need at least one sample and one leaf class")
    return X, E


def agreement(tree: Tree, X: np.ndarray, E: np.ndarray) -> float:
    """Fraction of samples whose predicted leaf class explains them."""
    X, E = _check_xe(X, E)
    cls = predict(tree, X)
    ok = (cls >= 0) & (cls < E.shape[1])
    return float(np.mean(ok & E[np.arange(len(cls)), np.clip(cls, 0, E.shape[1] - 1)]))


def leaf_counts(X: np.ndarray, E: np.ndarray, conjs: Sequence[Conj]) -> np.ndarray:
    """``int64[C, K]``: per conjunction cell, how many of its samples each class explains.

    One matmul of the cell indicators against ``E`` per chunk of conjunctions (float64, exact for
    counts < 2^53).
    """
    X, E = _check_xe(X, E)
    Ef = E.astype(np.float64)
    chunk = max(1, _CELL_BYTES // (8 * X.shape[0]))
    out = np.empty((len(conjs), E.shape[1]), dtype=np.int64)
    for s in range(0, len(conjs), chunk):
        part = conjs[s : s + chunk]
        M = evaluate(X, part).astype(np.float64)
        out[s : s + len(part)] = np.rint(M.T @ Ef).astype(np.int64)
    return out


class DPTreeSelector:
    """Exact depth- and size-budgeted tree selection over candidate conjunctions (Boix-Adsera 2024).

    ``best(c, d, s)`` = the most samples of cell c a tree of depth <= d with <= s leaves can agree with:
    ``max(leaf(c), max over splits (c, p) and s1 + s2 = s of best(c&p, d-1, s1) + best(c&!p, d-1, s2))``,
    where split (c, p) exists when c&p and c&!p are both candidates. The root is always a candidate.
    The returned tree is the one with the fewest leaves whose agreement is within ``tolerance`` of the
    best achievable with ``max_depth`` and ``max_size`` leaves (default ``2**max_depth``). A split only
    replaces a leaf when strictly better, and ties go to the earliest edge and smallest left size, so the
    result is deterministic.

    Vectorised: leaf values (one matmul), the max-plus over sizes (all edges at once) and the reduction
    of edges into parents (sorted group reductions). Python loops remain over (a) candidates x their
    positive literals to build the edge list via dict lookups, O(C * depth), and (b) depth x size
    budgets, O(max_depth * max_size) vectorised steps.

    Fitted: ``tree_``, ``agreement_`` (of ``tree_`` on the fit data), ``heldout_agreement_`` and
    ``faithful_`` (see :meth:`fit`), ``best_agreement_``, ``agreement_by_size_`` (``float[max_size + 1]``,
    index = leaf budget, entry 0 unused = NaN), ``n_candidates_``, ``n_splits_``.
    """

    def __init__(
        self,
        max_depth: int = 3,
        max_size: int | None = None,
        tolerance: float = 0.0,
        val_fraction: float = 0.25,
        fidelity: float = 0.99,
        random_state: int | None = 0,
    ) -> None:
        self.max_depth = max_depth
        self.max_size = max_size
        self.tolerance = tolerance
        self.val_fraction = val_fraction
        self.fidelity = fidelity
        self.random_state = random_state

    def fit(self, X: np.ndarray, E: np.ndarray, candidates: Iterable[Conj]) -> DPTreeSelector:
        """Select the tree on ``X`` (bool, 0/1 or +-1 rows) and ``E`` (explains matrix or int labels).

        ``tree_`` is selected on all rows. The held-out estimate repeats the selection on a seeded
        ``1 - val_fraction`` of the rows and scores that tree on the rest: ``heldout_agreement_`` (the
        in-sample ``agreement_`` is optimistic: up to +0.11 in a control teacher, issue 15), and
        ``faithful_ = heldout_agreement_ >= fidelity`` (False when there are too few rows to hold any
        out, with ``heldout_agreement_`` NaN).
        """
        X, E = _check_xe(X, E)
        if self.max_depth < 0:
            raise ValueError("max_depth must be >= 0")
        n_leaves = self.max_size if self.max_size is not None else 2**self.max_depth
        if n_leaves < 1:
            raise ValueError("max_size must be >= 1")
        n = X.shape[0]
        cands = [c for c in candidate_set(candidates) if not c.pos & c.neg]
        index = {c: i for i, c in enumerate(cands)}
        edges = self._edges(cands, index)
        self.n_candidates_ = len(cands)
        self.n_splits_ = len(edges[0])
        va = self._val_rows(n)
        counts_va = leaf_counts(X[va], E[va], cands) if len(va) else np.zeros((len(cands), E.shape[1]), np.int64)
        counts = leaf_counts(X, E, cands)
        tree, by_size = self._dp(counts, n, index[ROOT], edges, n_leaves)
        self.tree_ = tree
        self.best_agreement_ = float(by_size[n_leaves]) / n
        self.agreement_by_size_ = np.r_[np.nan, by_size[1:] / n]
        self.agreement_ = agreement(self.tree_, X, E)
        if len(va) and len(va) < n:
            held_tree, _ = self._dp(counts - counts_va, n - len(va), index[ROOT], edges, n_leaves)
            self.heldout_agreement_ = agreement(held_tree, X[va], E[va])
        else:
            self.heldout_agreement_ = float("nan")
        self.faithful_ = bool(self.heldout_agreement_ >= self.fidelity)
        return self

    def _val_rows(self, n: int) -> np.ndarray:
        if not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        n_val = int(round(self.val_fraction * n))
        if n_val < 1 or n - n_val < 1:
            return np.zeros(0, dtype=np.int64)
        return np.sort(np.random.default_rng(self.random_state).permutation(n)[:n_val])

    def _dp(
        self, counts: np.ndarray, n: int, root: int, edges: tuple[np.ndarray, ...], S: int
    ) -> tuple[Tree, np.ndarray]:
        """The budgeted DP on per-cell class counts; returns the chosen tree and best count per size."""
        par, lc, rc, prd = edges
        leaf_val = counts.max(axis=1)
        leaf_cls = counts.argmax(axis=1)
        C = len(counts)
        prev = np.full((C, S + 1), _NEG, dtype=np.int64)
        prev[:, 1:] = leaf_val[:, None]
        # choice[d][c, s]: edge used at depth budget d (-1 = leaf); left[d][c, s]: leaves given to c&p.
        choice = [np.full((C, S + 1), -1, dtype=np.int64)]
        left = [np.zeros((C, S + 1), dtype=np.int64)]
        starts = np.flatnonzero(np.r_[True, par[1:] != par[:-1]]) if len(par) else np.zeros(0, np.int64)
        group_par = par[starts] if len(par) else par
        group_of_edge = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(par)]))
        for _ in range(1, self.max_depth + 1):
            cur = np.full_like(prev, _NEG)
            cur[:, 1:] = leaf_val[:, None]
            ch = np.full_like(prev, -1)
            lf = np.zeros_like(prev)
            if len(par):
                L, R = prev[lc], prev[rc]
                edge_val = np.full((len(par), S + 1), _NEG, dtype=np.int64)
                edge_left = np.zeros((len(par), S + 1), dtype=np.int64)
                for s in range(2, S + 1):
                    tot = L[:, 1:s] + R[:, s - 1 : 0 : -1]  # left gets s1 = 1..s-1, right s - s1
                    am = tot.argmax(axis=1)
                    edge_val[:, s] = tot[np.arange(len(par)), am]
                    edge_left[:, s] = am + 1
                gmax = np.maximum.reduceat(edge_val, starts, axis=0)
                eidx = np.where(edge_val == gmax[group_of_edge], np.arange(len(par))[:, None], len(par))
                gbest = np.minimum.reduceat(eidx, starts, axis=0)
                better = gmax > cur[group_par]
                rows, cols = np.nonzero(better)
                pc = group_par[rows]
                cur[pc, cols] = gmax[rows, cols]
                ch[pc, cols] = gbest[rows, cols]
                lf[pc, cols] = edge_left[gbest[rows, cols], cols]
            choice.append(ch)
            left.append(lf)
            prev = cur

        by_size = prev[root]
        best = int(by_size[S])
        slack = int(np.floor(self.tolerance * n + 1e-9))
        s_star = int(np.flatnonzero(by_size[1:] >= best - slack)[0]) + 1

        def build(c: int, d: int, s: int) -> Tree:
            e = int(choice[d][c, s])
            if e < 0:
                return Leaf(int(leaf_cls[c]))
            s1 = int(left[d][c, s])
            return Split(int(prd[e]), build(int(lc[e]), d - 1, s1), build(int(rc[e]), d - 1, s - s1))

        return simplify(build(root, self.max_depth, s_star)), by_size

    @staticmethod
    def _edges(
        cands: list[Conj], index: dict[Conj, int]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Split edges (parent, true child, false child, predicate), sorted by parent then predicate.

        Every split is found from its true child: drop one positive literal to get the parent, flip it
        to get the sibling, and keep the edge if both are candidates.
        """
        edges = []
        for ci, c in enumerate(cands):
            pos = c.pos
            while pos:
                low = pos & -pos
                pos ^= low
                pi = index.get(Conj(c.pos ^ low, c.neg))
                fi = index.get(Conj(c.pos ^ low, c.neg | low))
                if pi is not None and fi is not None:
                    edges.append((pi, low.bit_length() - 1, ci, fi))
        if not edges:
            z = np.zeros(0, dtype=np.int64)
            return z, z, z, z
        arr = np.array(sorted(edges), dtype=np.int64)
        return arr[:, 0], arr[:, 2], arr[:, 3], arr[:, 1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return predict(self.tree_, X)


def _impure_leaves(tree: Tree, X: np.ndarray, E: np.ndarray) -> list[Conj]:
    """Path conjunctions of the leaves whose class does not explain every sample reaching them."""
    out = []
    for path, cls in _leaf_cubes(tree):
        c = Conj.of(path.items())
        cell = evaluate(X, [c])[:, 0]
        if cell.any() and not E[cell, cls].all():
            out.append(c)
    return out


def widening_schedule(start: int, beam: int) -> list[int]:
    """Beams ``start, 2 start, 4 start, ...`` below ``beam``, then ``beam`` itself."""
    out, b = [], max(1, min(start, beam))
    while b < beam:
        out.append(b)
        b *= 2
    return [*out, beam]


class LRHTreeDistiller:
    """LRH search + exact tree selection with iterative widening: the low-level distiller (issue 13 §1).

    Probes the representation with :class:`LRHSearch` at ``start_beam`` conjunctions per depth, selects
    the tree with :class:`DPTreeSelector` on the teacher's labels, and widens the beam (doubling, up to
    ``beam``; already-probed conjunctions are not probed again) only while the selected tree's held-out
    agreement is below ``stop_at``. The search uses the labels too (``rank``, ``complete``: see
    :class:`LRHSearch`; ``rank="probe", complete=0`` is the probe-only search). The verdict:
    ``faithful_`` when the held-out agreement reaches ``fidelity`` and, when labels steered the search,
    the tree is *represented* (``represented_pvalue_ <= REPRESENTED_ALPHA``: its splits' probes rank
    better than the other splits of the same nodes, :func:`split_rank_pvalues`), because labels alone
    rebuild the tree from a teacher whose representation does not hold it.

    Fitted: ``tree_``, ``agreement_`` (in-sample), ``heldout_agreement_``, ``faithful_``, ``represented_``,
    ``represented_pvalue_``, ``split_pvalues_``, ``beam_`` (the beam it stopped at), ``n_probes_``
    (including the representation test's), ``search_``, ``selector_``.
    """

    def __init__(
        self,
        beam: int = 50,
        max_depth: int = 3,
        start_beam: int = 10,
        stop_at: float = 0.995,
        alpha: float = PROBE_ALPHA,
        per_parent: bool = False,
        grow: int = 0,
        grow_rounds: int = 3,
        tolerance: float = 0.002,
        fidelity: float = 0.99,
        random_state: int | None = 0,
        rank: str = "regret",
        complete: int = 2,
    ) -> None:
        self.rank = rank
        self.complete = complete
        self.grow = grow
        self.grow_rounds = grow_rounds
        self.beam = beam
        self.max_depth = max_depth
        self.start_beam = start_beam
        self.stop_at = stop_at
        self.alpha = alpha
        self.per_parent = per_parent
        self.tolerance = tolerance
        self.fidelity = fidelity
        self.random_state = random_state

    def fit(self, X_probe: np.ndarray, Phi: np.ndarray, X_fit: np.ndarray, labels: np.ndarray) -> LRHTreeDistiller:
        """Probe on ``(X_probe, Phi)``; select on ``X_fit`` with the teacher's ``labels`` (int[N] or an
        explains matrix). Inputs may be bool, 0/1 or +-1."""
        Xp, Xf = as_bool_inputs(X_probe), as_bool_inputs(X_fit)
        search = None
        for b in widening_schedule(self.start_beam, self.beam):
            if search is None:
                search = LRHSearch(beam=b, max_depth=self.max_depth, alpha=self.alpha,
                                   random_state=self.random_state, per_parent=self.per_parent,
                                   rank=self.rank, complete=self.complete).fit(
                    Xp, Phi, labels=labels if self.uses_labels else None, X_labels=Xf)
            else:
                search.widen(b)
            sel = DPTreeSelector(max_depth=self.max_depth, tolerance=self.tolerance, fidelity=self.fidelity,
                                 random_state=self.random_state).fit(Xf, labels, search.candidates_)
            self.beam_ = b
            if sel.heldout_agreement_ >= self.stop_at:
                break
        assert search is not None
        for _ in range(self.grow_rounds if self.grow else 0):
            if sel.heldout_agreement_ >= self.stop_at:
                break
            impure = _impure_leaves(sel.tree_, Xf, as_explains(labels))
            if not impure or not search.expand(impure, self.grow):
                break
            sel = DPTreeSelector(max_depth=self.max_depth, tolerance=self.tolerance, fidelity=self.fidelity,
                                 random_state=self.random_state).fit(Xf, labels, search.candidates_)
        self.search_, self.selector_ = search, sel
        self.tree_ = sel.tree_
        self.agreement_, self.heldout_agreement_ = sel.agreement_, sel.heldout_agreement_
        self.split_pvalues_ = split_rank_pvalues(search, sel.tree_)
        self.represented_pvalue_ = represented_pvalue(self.split_pvalues_)
        self.represented_ = not self.uses_labels or self.represented_pvalue_ <= REPRESENTED_ALPHA
        self.faithful_ = sel.faithful_ and self.represented_
        self.n_probes_ = search.n_probes_
        return self

    @property
    def uses_labels(self) -> bool:
        """Whether the teacher's labels steer the search (then the verdict needs the LRH test too)."""
        return self.rank != "probe" or self.complete > 0

    def predict(self, X: np.ndarray) -> np.ndarray:
        return predict(self.tree_, as_bool_inputs(X))


def first_explaining_class(E: np.ndarray) -> np.ndarray:
    """Smallest explaining class per sample (-1 where none does): CART needs one label per sample, and
    the smallest index is the same tie-break the DP's leaf labels use."""
    E = np.asarray(E, dtype=bool)
    return np.where(E.any(axis=1), E.argmax(axis=1), -1)


class CartTreeFitter:
    """Greedy CART (scikit-learn ``DecisionTreeClassifier``) over a subset of predicates, pruned by
    cost complexity, returned in the same :class:`Tree` format.

    Multi-explained samples are labelled with their smallest explaining class; samples no class explains
    are dropped from training (no label is right for them). When ``ccp_alpha`` is None, the pruning
    strength is chosen on a held-out ``val_fraction`` of the samples (seeded by ``random_state``): the
    largest alpha on the pruning path whose held-out agreement is maximal (simplest among the best);
    the final tree is refitted on all samples with it.

    Fitted: ``tree_``, ``agreement_`` (on the fit data), ``ccp_alpha_``, ``predicates_``.
    """

    def __init__(
        self,
        max_depth: int | None = 3,
        ccp_alpha: float | None = None,
        val_fraction: float = 0.25,
        random_state: int | None = None,
    ) -> None:
        self.max_depth = max_depth
        self.ccp_alpha = ccp_alpha
        self.val_fraction = val_fraction
        self.random_state = random_state

    def _clf(self, alpha: float) -> DecisionTreeClassifier:
        from sklearn.tree import DecisionTreeClassifier

        return DecisionTreeClassifier(
            max_depth=self.max_depth, ccp_alpha=alpha, random_state=self.random_state
        )

    def fit(self, X: np.ndarray, E: np.ndarray, predicates: Sequence[int] | None = None) -> CartTreeFitter:
        X, E = _check_xe(X, E)
        preds = np.arange(X.shape[1]) if predicates is None else np.asarray(predicates, dtype=np.int64)
        self.predicates_ = [int(p) for p in preds]
        y = first_explaining_class(E)
        keep = y >= 0
        if not keep.any() or len(preds) == 0:  # nothing to split on: the best single leaf
            self.tree_: Tree = Leaf(int(np.argmax(E.sum(axis=0))))
            self.ccp_alpha_ = 0.0 if self.ccp_alpha is None else float(self.ccp_alpha)
            self.agreement_ = agreement(self.tree_, X, E)
            return self
        F, Ek, yk = X[keep][:, preds], E[keep], y[keep]
        alpha = self.ccp_alpha if self.ccp_alpha is not None else self._choose_alpha(F, Ek, yk)
        clf = self._clf(alpha).fit(F, yk)
        self.ccp_alpha_ = float(alpha)
        self.tree_ = simplify(_from_sklearn(clf, self.predicates_))
        self.agreement_ = agreement(self.tree_, X, E)
        return self

    def _choose_alpha(self, F: np.ndarray, E: np.ndarray, y: np.ndarray) -> float:
        n = len(y)
        perm = np.random.default_rng(self.random_state).permutation(n)
        n_val = int(round(self.val_fraction * n))
        if n_val < 1 or n - n_val < 2:
            return 0.0
        va, tr = perm[:n_val], perm[n_val:]
        path = self._clf(0.0).cost_complexity_pruning_path(F[tr], y[tr])
        alphas = np.unique(np.maximum(path.ccp_alphas, 0.0))
        best_alpha, best_agree = 0.0, -1.0
        for a in alphas:  # ascending: ">=" keeps the largest alpha among equally good ones
            clf = self._clf(float(a)).fit(F[tr], y[tr])
            pred = clf.predict(F[va])
            agree = float(np.mean(E[va][np.arange(n_val), pred]))
            if agree >= best_agree - 1e-12:
                best_alpha, best_agree = float(a), max(agree, best_agree)
        return best_alpha

    def predict(self, X: np.ndarray) -> np.ndarray:
        return predict(self.tree_, X)


def _from_sklearn(clf: DecisionTreeClassifier, predicates: Sequence[int]) -> Tree:
    """Convert a fitted sklearn tree over 0/1 features: ``x <= 0.5`` (False) goes to the left child."""
    t = clf.tree_
    classes = clf.classes_

    def go(i: int) -> Tree:
        if t.children_left[i] == -1:
            return Leaf(int(classes[int(np.argmax(t.value[i][0]))]))
        return Split(predicates[int(t.feature[i])], go(int(t.children_right[i])), go(int(t.children_left[i])))

    return go(0)


def _leaf_cubes(tree: Tree) -> list[tuple[dict[int, bool], int]]:
    """Each leaf's path as a partial assignment (pred -> value) with its class; unreachable leaves
    (a predicate re-tested with the other value) are dropped."""
    out: list[tuple[dict[int, bool], int]] = []

    def go(t: Tree, path: dict[int, bool]) -> None:
        if isinstance(t, Leaf):
            out.append((path, t.cls))
            return
        for value, child in ((True, t.if_true), (False, t.if_false)):
            if path.get(t.pred, value) == value:
                go(child, {**path, t.pred: value})

    go(tree, {})
    return out


def tree_counterexample(a: Tree, b: Tree) -> dict[int, bool] | None:
    """A partial input on which trees ``a`` and ``b`` give different classes, or None if none exists.

    Exact for every input over any number of predicates: each leaf's inputs form a cube (its path), and
    the trees differ somewhere iff two leaves with different classes have intersecting cubes, i.e.
    paths without a contradicting literal. Any completion of the returned assignment (unmentioned
    predicates free) is a witness. Cost O(leaves(a) * leaves(b) * depth).
    """
    cubes_b = _leaf_cubes(b)
    for pa, ca in _leaf_cubes(a):
        for pb, cb in cubes_b:
            if ca != cb and all(pa.get(q, v) == v for q, v in pb.items()):
                return {**pa, **pb}
    return None


def trees_equivalent(a: Tree, b: Tree) -> bool:
    """Whether ``a`` and ``b`` compute the same function of their predicates (checked exactly)."""
    return tree_counterexample(a, b) is None
