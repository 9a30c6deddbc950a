"""Stage ``tree``: one field's transition samples -> the decision tree that replaces its unknown.

LRH search + exact DP selection (default) or CART over LRH-passing predicates (docs/architecture.md §6).
While the selected tree leaves a represented pattern unexplained (``patterns``), the search grows below
the pattern's leaf and then widens from ``cfg.beam`` conjunctions per depth (doubling, up to ``WIDEN``
times): the beam is a cost knob, not a limit on which represented rules the student can find.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dpdsl import tree as T
from dpdsl.distill.config import CompileConfig
from dpdsl.distill.conjunctions import Conj, LRHSearch
from dpdsl.distill.dataset import FieldData
from dpdsl.distill.patterns import unexplained_pattern
from dpdsl.distill.report import report_number
from dpdsl.distill.treefit import CartTreeFitter, DPTreeSelector

WIDEN = 4
"""The LRH search widens to at most this many times ``cfg.beam`` (and ``MAX_BEAM``) while a pattern remains:
edit distance's transient states need 2x the default beam (after growing below the pattern's leaf) to
reach the full three-way minimum."""
MAX_BEAM = 1024
GROW_PER_NODE = 4
"""Splits kept per node when the search grows below a pattern's leaf (``LRHSearch.expand``)."""


@dataclass
class FieldFit:
    tree: T.Tree
    agreement: float
    predicate_scores: np.ndarray  # depth-1 LRH score per predicate (pooled over rounds)
    n_probes: int
    per_round: dict[int, float | None]

    def represented(self, tau: float) -> np.ndarray:
        """Predicates the teacher linearly represents (held-out 1 - R^2 <= ``tau``)."""
        return self.predicate_scores <= tau

    def used_predicates(self) -> list[int]:
        return _used(self.tree)


def fit_field(d: FieldData, cfg: CompileConfig) -> FieldFit:
    """LRH search + exact DP selection (default) or CART over LRH-passing predicates."""
    P = d.X.shape[1]
    search = LRHSearch(beam=cfg.beam, max_depth=cfg.max_depth, tau=cfg.tau, alpha=cfg.alpha,
                       random_state=cfg.stream("search"))
    if P:
        search.fit(d.X, d.Phi.astype(np.float64), labels=d.E)  # label-aware beam (§6.5)
        pscores = np.nan_to_num(search.predicate_scores_, nan=np.inf)
        n_probes = search.n_probes_
    else:
        pscores, n_probes = np.zeros(0), 0
    if cfg.method == "cart":
        passing = [int(i) for i in np.flatnonzero(pscores <= cfg.tau)]
        fitter = CartTreeFitter(max_depth=cfg.max_depth, random_state=cfg.stream("tree"))
        fitter.fit(d.X, d.E, passing if passing else [])
        tree = fitter.tree_ if passing else _best_leaf(d)
    else:
        tree = _select(d, cfg, search, pscores <= cfg.tau) if P else _best_leaf(d)
        n_probes = search.n_probes_ if P else 0  # including the widened search's
    tree = T.simplify(tree)
    pred = T.predict(tree, d.X) if P else np.full(d.size, tree.cls if isinstance(tree, T.Leaf) else 0)
    ok = d.E[np.arange(d.size), pred]
    per_round = {int(r): report_number(ok[d.rounds == r].mean()) for r in np.unique(d.rounds)}
    return FieldFit(tree, float(ok.mean()), pscores, n_probes, per_round)


def _select(d: FieldData, cfg: CompileConfig, search: LRHSearch, represented: np.ndarray) -> T.Tree:
    """The exact tree over the represented candidates. While it leaves a represented pattern, the search
    first grows below the pattern's leaf (every one-literal extension is probed: cheap, and what a
    region one test short of the tree needs), then widens its beam (doubling, up to ``WIDEN`` x)."""
    beam, grown = cfg.beam, set()
    while True:
        # the LRH test: only conjunctions the teacher linearly represents can become tree nodes
        cands = [c for c in search.candidates_ if search.scores_.get(c, np.inf) <= cfg.tau]
        tree = DPTreeSelector(max_depth=cfg.max_depth, tolerance=cfg.tolerance).fit(d.X, d.E, cands).tree_
        pat = unexplained_pattern(d, tree, represented, cfg.tolerance)
        if pat is None:
            return tree
        leaf = Conj.of(pat.path)
        if len(pat.path) < cfg.max_depth and leaf not in grown:
            grown.add(leaf)
            if search.expand([leaf], GROW_PER_NODE):
                continue
        wider = min(2 * beam, WIDEN * cfg.beam, MAX_BEAM)
        if wider <= beam:
            return tree
        beam = wider
        search.widen(beam)


def _best_leaf(d: FieldData) -> T.Tree:
    return T.Leaf(int(np.argmax(d.E.sum(axis=0)))) if d.E.shape[1] else T.Leaf(0)


def _used(t: T.Tree) -> list[int]:
    if isinstance(t, T.Leaf):
        return []
    return [t.pred, *_used(t.if_true), *_used(t.if_false)]
