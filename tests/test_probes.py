"""Batched ridge probes and conjunction evaluation/search (docs/architecture.md §6.4)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.preprocessing import StandardScaler

from dpdsl.distill.conjunctions import ROOT, Conj, LRHSearch, evaluate, literal_matrices
from dpdsl.distill.probes import RidgeProbe, fit_ridge, probe_scores, standardise_stats


def _data(n: int, m: int, c: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Phi = rng.normal(size=(n, m)) * rng.uniform(0.1, 10, size=m) + rng.normal(size=m) * 3
    Phi[:, 3] = 2.5  # a constant column: scale 1, never NaN
    W = rng.normal(size=(m, c))
    Y = Phi @ W + rng.normal(size=(n, c))
    Y[:, 0] = rng.random(n) < 0.3  # a 0/1 target like a conjunction
    return Phi, Y


class _FlooredScaler:
    """StandardScaler with each non-constant column's scale floored at 0.1 x the RMS column std (the
    probes' near-dead-unit guard, written independently of ``standardise_stats``)."""

    def fit(self, Phi: np.ndarray) -> _FlooredScaler:
        sk = StandardScaler().fit(Phi)
        const = sk.var_ == 0
        floor = 0.1 * np.sqrt(np.mean(sk.var_[~const]))
        self.mean_, self.scale_ = sk.mean_, np.where(const, 1.0, np.maximum(sk.scale_, floor))
        return self

    def transform(self, Phi: np.ndarray) -> np.ndarray:
        return (Phi - self.mean_) / self.scale_


def _relative(Z: np.ndarray, alpha: float) -> float:
    """The probes' relative ridge as sklearn's absolute one: alpha * trace(Zc'Zc) / (non-constant m)."""
    Zc = Z - Z.mean(axis=0)
    return alpha * float((Zc**2).sum()) / int((Zc.std(axis=0) > 0).sum())


def test_standardise_floors_near_dead_columns() -> None:
    """A unit active on 2 of 1000 rows is scaled by the floor, not blown up to unit variance."""
    rng = np.random.default_rng(0)
    Phi = rng.normal(size=(1000, 8))
    Phi[:, 5] = 0.0
    Phi[[3, 700], 5] = 1e-3  # near-dead ReLU unit
    Phi[:, 6] = 4.0  # constant
    mean, scale = standardise_stats(Phi)
    ref = _FlooredScaler().fit(Phi)
    np.testing.assert_allclose(scale, ref.scale_)
    assert scale[6] == 1.0 and scale[5] == pytest.approx(0.1 * np.sqrt(np.mean(Phi[:, [0, 1, 2, 3, 4, 5, 7]].var(0))))
    assert (1e-3 - mean[5]) / scale[5] < 0.02 and (1e-3 - mean[5]) / Phi[:, 5].std() > 20  # unfloored: |z| ~ 22


@pytest.mark.parametrize(("n", "m"), [(200, 20), (40, 120)], ids=["primal", "dual"])
@pytest.mark.parametrize("alpha", [0.3, 10.0])
def test_ridge_matches_sklearn_per_column(n: int, m: int, alpha: float) -> None:
    Phi, Y = _data(n, m, 6, seed=n + m)
    fit = fit_ridge(Phi, Y, alpha)
    scaler = _FlooredScaler().fit(Phi)
    Z = scaler.transform(Phi)
    assert np.all(np.isfinite(Z)) and np.allclose(fit.scale[3], 1.0)
    Phi_new = np.random.default_rng(1).normal(size=(15, m))
    Z_new = scaler.transform(Phi_new)
    for j in range(Y.shape[1]):
        ref = Ridge(alpha=alpha, fit_intercept=True).fit(Z, Y[:, j])
        np.testing.assert_allclose(fit.coef[:, j], ref.coef_, atol=1e-6, rtol=1e-6)
        np.testing.assert_allclose(fit.intercept[j], ref.intercept_, atol=1e-6, rtol=1e-6)
        np.testing.assert_allclose(fit.predict(Phi_new)[:, j], ref.predict(Z_new), atol=1e-6, rtol=1e-6)
    one = fit_ridge(Phi, Y[:, 2], alpha)  # 1-D target -> 1-D coef, scalar intercept
    np.testing.assert_allclose(one.coef, fit.coef[:, 2], atol=1e-10)
    assert isinstance(one.intercept, float)


@pytest.mark.parametrize(("n", "m", "nv"), [(300, 20, 100), (60, 150, 40), (30, 10, 200)])
def test_probe_scores_are_heldout_one_minus_r2(n: int, m: int, nv: int) -> None:
    Phi, Y = _data(n + nv, m, 5, seed=7)
    tr, va = slice(0, n), slice(n, n + nv)
    alpha = 0.01
    sc = probe_scores(Phi[tr], Y[tr], Phi[va], Y[va], alpha)
    scaler = _FlooredScaler().fit(Phi[tr])
    lam = _relative(scaler.transform(Phi[tr]), alpha)
    for j in range(Y.shape[1]):
        ref = Ridge(alpha=lam).fit(scaler.transform(Phi[tr]), Y[tr, j])
        r2 = r2_score(Y[va, j], ref.predict(scaler.transform(Phi[va])))
        assert sc[j] == pytest.approx(1 - r2, abs=1e-8)
    # chunking does not change anything
    np.testing.assert_allclose(
        RidgeProbe(Phi[tr], Phi[va], alpha).score(Y[tr], Y[va], chunk_size=2), sc, atol=1e-12
    )


def test_probe_scores_constant_targets_and_validation() -> None:
    rng = np.random.default_rng(0)
    Phi = rng.normal(size=(80, 6))
    y = np.zeros((80, 3))
    y[:, 1] = 1.0  # constant on both splits: predicted exactly -> 0
    y[:60, 2] = rng.random(60) < 0.5  # varies on train, constant 0 on val -> 1
    sc = probe_scores(Phi[:60], y[:60], Phi[60:], y[60:])
    assert sc[0] == 0.0 and sc[1] == 0.0 and sc[2] == 1.0
    with pytest.raises(ValueError):
        probe_scores(Phi[:60], y[:60], Phi[60:], y[60:], 0.0)
    mean, scale = standardise_stats(np.full((5, 2), 0.1))
    assert np.all(scale == 1.0)


def test_representing_features_score_near_zero() -> None:
    rng = np.random.default_rng(3)
    x = rng.random((3000, 4)) < 0.5
    conj = x[:, 0] & ~x[:, 1]
    parity = x[:, 2] ^ x[:, 3]
    Phi = np.c_[x, conj, rng.normal(size=(3000, 30))] @ np.linalg.qr(rng.normal(size=(35, 35)))[0]
    Y = np.c_[conj, parity, x[:, 2] & x[:, 3]].astype(float)
    sc = probe_scores(Phi[:2000], Y[:2000], Phi[2000:], Y[2000:])
    assert sc[0] < 1e-3
    assert sc[1] > 0.9  # parity is not linear in these features
    assert 0.1 < sc[2] < 0.9  # an AND of two represented inputs is only partly linear


# ---------------------------------------------------------------- conjunctions


def _brute(X: np.ndarray, c: Conj) -> np.ndarray:
    ok = np.ones(X.shape[0], dtype=bool)
    for p in range(X.shape[1]):
        if c.pos >> p & 1:
            ok &= X[:, p]
        if c.neg >> p & 1:
            ok &= ~X[:, p]
    return ok


@st.composite
def _x_and_conjs(draw: st.DrawFn) -> tuple[np.ndarray, list[Conj]]:
    n = draw(st.integers(0, 12))
    p = draw(st.integers(1, 70))  # > 64 predicates exercises multi-word masks
    bits = draw(st.lists(st.booleans(), min_size=n * p, max_size=n * p))
    X = np.array(bits, dtype=bool).reshape(n, p)
    masks = st.integers(0, 2**p - 1)
    conjs = draw(st.lists(st.tuples(masks, masks, st.booleans()), min_size=0, max_size=8))
    # mostly consistent conjunctions, sometimes contradictory ones (never satisfied)
    out = [Conj(a, b if contra else b & ~a) for a, b, contra in conjs]
    return X, out


@settings(max_examples=60, deadline=None)
@given(_x_and_conjs())
def test_evaluate_matches_brute_force(data: tuple[np.ndarray, list[Conj]]) -> None:
    X, conjs = data
    got = evaluate(X, conjs, chunk_size=3)
    assert got.shape == (X.shape[0], len(conjs))
    for j, c in enumerate(conjs):
        np.testing.assert_array_equal(got[:, j], _brute(X, c))


def test_conj_helpers() -> None:
    c = ROOT.extend(3, True).extend(0, False).extend(70, True)
    assert c.n_literals == 3 and c.literals() == [(0, False), (3, True), (70, True)]
    assert c.describe([f"q{i}" for i in range(71)]) == "!(q0) & q3 & q70"
    assert ROOT.describe() == "true" and hash(c) == hash(Conj(c.pos, c.neg))
    pos, neg = literal_matrices([c], 71)
    assert pos[0].nonzero()[0].tolist() == [3, 70] and neg[0].nonzero()[0].tolist() == [0]
    with pytest.raises(ValueError):
        literal_matrices([c], 10)


# ---------------------------------------------------------------- search


def _synthetic(seed: int, n: int = 2000, p: int = 12) -> tuple[np.ndarray, np.ndarray, list[Conj]]:
    """x plus the ANDs of a fixed depth-2 structure (root 0; children split on 1 and 2), noise."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, p)) < 0.5
    nodes = [Conj(1, 0), Conj(0, 1), Conj(0b011, 0), Conj(0b001, 0b010), Conj(0b100, 0b001), Conj(0, 0b101)]
    ands = evaluate(X, nodes).astype(float)
    Phi = np.c_[X, ands, rng.normal(size=(n, 20))]
    Phi = Phi @ np.linalg.qr(rng.normal(size=(Phi.shape[1],) * 2))[0]
    return X, Phi, nodes


def test_search_finds_represented_nodes_and_respects_invariants() -> None:
    X, Phi, nodes = _synthetic(0)
    p = X.shape[1]
    k = p  # every literal is linear in x, so depth-1 splits tie: keep them all
    s = LRHSearch(beam=2 * k, max_depth=3, random_state=0).fit(X, Phi)
    assert s.candidates_[0] == ROOT and s.scores_[ROOT] == 0.0
    assert all(n in s.scores_ for n in nodes)
    for node in nodes:
        assert s.scores_[node] < 0.01, node
    # the real depth-1 splits (and their commuted twins, e.g. (p1, 0)) rank best among depth-1 parents
    top = {(c, q) for c, q, _ in s.splits_[2][:6]}
    assert (Conj(1, 0), 1) in top and (Conj(0, 1), 2) in top
    # non-represented 2-literal ANDs score clearly worse
    assert s.scores_[Conj(0b11000, 0)] > 0.1
    # invariants: probes per depth <= kept * 2 * (P - depth); all probed are candidates
    for d in range(1, 4):
        assert len(s.levels_[d]) <= len(s.kept_[d - 1]) * 2 * (p - d + 1)
        assert all(c.n_literals == d and s.depth_[c] == d for c in s.levels_[d])
    assert s.n_probes_ == len(s.candidates_) - 1 == sum(len(lv) for lv in s.levels_[1:])
    assert s.predicate_scores_.shape == (p,) and np.nanmax(s.predicate_scores_) < 0.01
    assert len(set(s.candidates_)) == len(s.candidates_)


def test_search_records_empty_and_is_deterministic() -> None:
    X, Phi, _ = _synthetic(1, n=600, p=8)
    X[:, 5] = X[:, 4]  # p4 & !p5 is never true
    X[:, 7] = True  # !p7 is never true
    a = LRHSearch(beam=4, max_depth=2, random_state=5).fit(X, Phi)
    b = LRHSearch(beam=4, max_depth=2, random_state=5).fit(X, Phi)
    assert a.candidates_ == b.candidates_ and a.scores_ == b.scores_
    assert ROOT.extend(7, False) in a.empty_ and ROOT.extend(7, False) not in a.scores_
    assert np.isnan(a.literal_scores_[1, 7]) and np.isnan(a.predicate_scores_[7])
    assert all(not evaluate(X, [c]).any() for c in a.empty_)
    c = LRHSearch(beam=4, max_depth=2, random_state=6).fit(X, Phi)
    assert c.scores_ != a.scores_  # a different split changes the held-out scores
    # tau keeps only splits under the threshold
    t = LRHSearch(beam=100, max_depth=2, tau=-1.0, random_state=5).fit(X, Phi)
    assert t.kept_[1] == [] and t.n_probes_ == len(t.levels_[1])
    # explicit split
    idx = np.arange(600)
    e = LRHSearch(beam=4, max_depth=1).fit(X, Phi, split=(idx[:400], idx[400:]))
    assert e.n_probes_ == len(e.levels_[1]) == 2 * 8 - 1  # all literals but the empty !p7


def test_split_scoring_needs_both_children_represented() -> None:
    """Split (c, p) is scored by its worse child: x0 & x1 alone is represented, x0 & !x1 is not."""
    rng = np.random.default_rng(2)
    X = rng.random((3000, 6)) < 0.5
    Phi = np.c_[X[:, 0] & X[:, 1], X[:, 2] & X[:, 3], X[:, 2] & ~X[:, 3], rng.normal(size=(3000, 10))]
    s = LRHSearch(beam=12, max_depth=2, random_state=0).fit(X, Phi)
    split_score = {(c, q): v for c, q, v in s.splits_[2]}
    assert s.scores_[Conj(0b11, 0)] < 0.01 and s.scores_[Conj(0b01, 0b10)] > 0.3
    assert split_score[(Conj(0b01, 0), 1)] > 0.3
    assert split_score[(Conj(0b100, 0), 3)] < 0.01
    c, q, v = s.splits_[2][0]
    assert v < 0.01 and max(s.scores_[c.extend(q, True)], s.scores_[c.extend(q, False)]) == v
    assert len(s.splits_) == 3 and len(s.kept_) == 2
