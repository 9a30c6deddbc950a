"""Tree format (docs/architecture.md §5) and tree fitting: exact DP selection and pruned CART
(docs/architecture.md §6.6)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from dpdsl.distill.conjunctions import ROOT, Conj, path_conjunctions
from dpdsl.distill.treefit import CartTreeFitter, DPTreeSelector, agreement, first_explaining_class
from dpdsl.tree import (
    Leaf,
    Split,
    Tree,
    depth,
    from_json,
    predict,
    random_tree,
    simplify,
    size,
    to_arrays,
    to_json,
    to_rules,
)


def _eval_slow(t: Tree, x: np.ndarray) -> int:
    while isinstance(t, Split):
        t = t.if_true if x[t.pred] else t.if_false
    return t.cls


def _one_hot(y: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k, dtype=bool)[y]


def _all_assignments(p: int) -> np.ndarray:
    return np.array(list(itertools.product([False, True], repeat=p)), dtype=bool)


def _planted(seed: int, p: int = 10, d: int = 3, k: int = 3, n: int = 3000):
    rng = np.random.default_rng(seed)
    tree = random_tree(p, d, k, rng)
    X = rng.random((n, p)) < 0.5
    return tree, X, _one_hot(predict(tree, X), k)


# ---------------------------------------------------------------- tree format


def test_predict_agrees_with_a_plain_walk() -> None:
    rng = np.random.default_rng(0)
    for seed in range(5):
        tree = random_tree(9, int(rng.integers(0, 5)), 4, np.random.default_rng(seed), distinct_siblings=False)
        X = rng.random((300, 9)) < 0.5
        slow = np.array([_eval_slow(tree, x) for x in X])
        np.testing.assert_array_equal(predict(tree, X), slow)
        np.testing.assert_array_equal(predict(to_arrays(tree), X), slow)
    # unbalanced tree: leaves at different depths must stay put
    t = Split(2, Leaf(5), Split(0, Split(1, Leaf(1), Leaf(2)), Leaf(3)))
    X = _all_assignments(3)
    np.testing.assert_array_equal(predict(t, X), [_eval_slow(t, x) for x in X])
    with pytest.raises(ValueError):
        predict(t, X[:, :2])


def test_arrays_size_depth() -> None:
    t = Split(2, Leaf(5), Split(0, Split(1, Leaf(1), Leaf(2)), Leaf(3)))
    a = to_arrays(t)
    assert a.feature.tolist() == [2, -1, 0, 1, -1, -1, -1]
    assert a.left.tolist() == [1, -1, 3, 4, -1, -1, -1] and a.right.tolist() == [2, -1, 6, 5, -1, -1, -1]
    assert a.value.tolist() == [-1, 5, -1, -1, 1, 2, 3] and a.depth == 3
    assert size(t) == 4 and depth(t) == 3 and size(Leaf(0)) == 1 and depth(Leaf(0)) == 0


def test_json_roundtrip_and_validation() -> None:
    t = random_tree(12, 4, 3, np.random.default_rng(1))
    obj = to_json(t)
    assert from_json(json.loads(json.dumps(obj))) == t
    assert list(obj) == ["pred", "if_true", "if_false"]
    assert json.dumps(to_json(t)) == json.dumps(obj)
    for bad in [[], {"leaf": "x"}, {"leaf": True}, {"pred": 0, "if_true": {"leaf": 1}}, {"pred": -1,
                "if_true": {"leaf": 0}, "if_false": {"leaf": 0}}, {"leaf": 0, "extra": 1}]:
        with pytest.raises(ValueError):
            from_json(bad)


def test_rules_text() -> None:
    preds, classes = ["best < dist", "dist == inf", "source"], ["best", "dist", "0"]
    assert to_rules(Split(0, Leaf(0), Leaf(1)), preds, classes) == "if best < dist then best else dist"
    t = Split(2, Leaf(2), Split(0, Leaf(0), Leaf(1)))
    assert to_rules(t, preds, classes) == (
        "if source then\n  0\nelse\n  if best < dist then best else dist"
    )
    assert to_rules(Leaf(1)) == "c1"
    deep = Split(1, Split(2, Split(0, Leaf(0), Leaf(1)), Leaf(2)), Leaf(1))
    assert to_rules(deep).splitlines() == [
        "if p1 then",
        "  if p2 then",
        "    if p0 then c0 else c1",
        "  else",
        "    c2",
        "else",
        "  c1",
    ]


def test_simplify() -> None:
    assert simplify(Split(0, Leaf(1), Leaf(1))) == Leaf(1)
    t = Split(0, Split(1, Leaf(2), Leaf(2)), Leaf(2))
    assert simplify(t) == Leaf(2)
    # re-testing a decided predicate keeps only the reachable branch
    assert simplify(Split(0, Split(0, Leaf(1), Leaf(2)), Leaf(3))) == Split(0, Leaf(1), Leaf(3))
    kept = Split(0, Leaf(1), Leaf(2))
    assert simplify(kept) == kept
    X = _all_assignments(5)
    for seed in range(5):
        r = random_tree(5, 4, 2, np.random.default_rng(seed), distinct_siblings=False)
        s = simplify(r)
        np.testing.assert_array_equal(predict(s, X), predict(r, X))
        assert size(s) <= size(r)


# ---------------------------------------------------------------- DP selection


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dp_recovers_planted_from_its_own_nodes(seed: int) -> None:
    tree, X, E = _planted(seed)
    cands = path_conjunctions(tree)
    dp = DPTreeSelector(max_depth=3).fit(X, E, cands)
    assert dp.agreement_ == 1.0 and dp.best_agreement_ == 1.0
    allx = _all_assignments(X.shape[1])
    np.testing.assert_array_equal(dp.predict(allx), predict(tree, allx))
    assert dp.n_splits_ == 7 and size(dp.tree_) <= size(simplify(tree)) <= 8  # equal subtrees may merge
    # a lower depth budget cannot express it
    assert DPTreeSelector(max_depth=2).fit(X, E, cands).agreement_ < 1.0


@pytest.mark.parametrize("seed", [0, 1])
def test_dp_missing_child_drops_agreement(seed: int) -> None:
    tree, X, E = _planted(seed)
    cands = path_conjunctions(tree)
    for drop in [c for c in cands if c.n_literals in (1, 2)]:  # a child of the root or a depth-1 node
        dp = DPTreeSelector(max_depth=3).fit(X, E, [c for c in cands if c != drop])
        assert dp.agreement_ < 1.0, drop


def test_dp_larger_candidate_set_keeps_exactness() -> None:
    tree, X, E = _planted(3)
    p = X.shape[1]
    rng = np.random.default_rng(0)
    extra: list[Conj] = []
    for a, b in itertools.combinations(range(p), 2):  # every conjunction of <= 2 literals
        for va, vb in itertools.product([True, False], repeat=2):
            extra.append(ROOT.extend(a, va).extend(b, vb))
    for _ in range(400):  # plus random 3-literal ones
        q = rng.choice(p, size=3, replace=False)
        c = ROOT
        for v in q:
            c = c.extend(int(v), bool(rng.random() < 0.5))
        extra.append(c)
    cands = extra + path_conjunctions(tree)
    dp = DPTreeSelector(max_depth=3).fit(X, E, cands)
    assert dp.agreement_ == 1.0 and dp.n_candidates_ > 200
    allx = _all_assignments(p)
    np.testing.assert_array_equal(dp.predict(allx), predict(tree, allx))
    assert size(dp.tree_) <= 8


def test_dp_multi_explained_labels() -> None:
    rng = np.random.default_rng(4)
    X = rng.random((1000, 4)) < 0.5
    # planted: if p0 then class 0 else class 1 ... but where p0 is false, class 0 also explains half
    y = np.where(X[:, 0], 0, 1)
    E = _one_hot(y, 3)
    E[~X[:, 0] & X[:, 1], 0] = True  # class 0 explains these too
    cands = [ROOT, Conj(1, 0), Conj(0, 1), Conj(0b11, 0), Conj(0b01, 0b10), Conj(0b10, 0b01), Conj(0, 0b11)]
    dp = DPTreeSelector(max_depth=2).fit(X, E, cands)
    assert dp.agreement_ == 1.0 and dp.tree_ == Split(0, Leaf(0), Leaf(1))
    # once class 0 explains everything the single leaf wins (fewest leaves), ties -> smallest class
    E[:, 0] = True
    E[:, 2] = True
    dp = DPTreeSelector(max_depth=2).fit(X, E, cands)
    assert dp.tree_ == Leaf(0) and dp.agreement_ == 1.0
    # samples no class explains count against every tree
    E2 = _one_hot(y, 3)
    E2[:10] = False
    dp = DPTreeSelector(max_depth=2).fit(X, E2, cands)
    assert dp.agreement_ == pytest.approx(0.99)
    assert agreement(dp.tree_, X, E2) == dp.agreement_


def test_dp_prefers_smallest_tree_within_tolerance() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    X = rng.random((n, 5)) < 0.5
    X[:, 1] &= rng.random(n) < 0.04  # p1 is rarely true
    rare = X[:, 0] & X[:, 1]
    truth = Split(0, Split(1, Leaf(1), Leaf(0)), Leaf(2))
    E = _one_hot(predict(truth, X), 3)
    # candidates also allow a useless split of p0 on p3
    cands = path_conjunctions(truth) + [Conj(0b1001, 0), Conj(0b0001, 0b1000)]
    exact = DPTreeSelector(max_depth=2).fit(X, E, cands)
    assert exact.tree_ == truth and exact.agreement_ == 1.0  # the p3 split is never chosen
    loose = DPTreeSelector(max_depth=2, tolerance=0.05).fit(X, E, cands)
    assert loose.tree_ == Split(0, Leaf(0), Leaf(2))
    assert loose.agreement_ == pytest.approx(1 - rare.mean()) and loose.agreement_ < 1.0
    capped = DPTreeSelector(max_depth=2, max_size=2).fit(X, E, cands)
    assert capped.tree_ == loose.tree_
    by_size = exact.agreement_by_size_[1:]
    assert np.all(np.diff(by_size) >= 0) and by_size[-1] == 1.0 and by_size[1] < 1.0
    # tolerance too small to drop the rare split
    assert size(DPTreeSelector(max_depth=2, tolerance=rare.mean() / 2).fit(X, E, cands).tree_) == 3


def test_dp_root_only_and_no_splits() -> None:
    X = np.zeros((5, 2), dtype=bool)
    E = _one_hot(np.array([1, 1, 2, 2, 2]), 3)
    dp = DPTreeSelector(max_depth=3).fit(X, E, [])
    assert dp.tree_ == Leaf(2) and dp.agreement_ == pytest.approx(0.6) and dp.n_splits_ == 0


# ---------------------------------------------------------------- CART


@pytest.mark.parametrize("seed", [0, 1])
def test_cart_recovers_planted_with_right_predicates(seed: int) -> None:
    tree, X, E = _planted(seed, p=10, n=4000)
    used = sorted({c for c, _ in _used(tree)})
    distractors = [q for q in range(10) if q not in used][:2]
    fit = CartTreeFitter(max_depth=6, random_state=0).fit(X, E, predicates=used + distractors)
    allx = _all_assignments(10)
    np.testing.assert_array_equal(fit.predict(allx), predict(tree, allx))
    assert fit.agreement_ == 1.0 and set(fit.predicates_) == set(used + distractors)
    # too few predicates cannot express it
    assert CartTreeFitter(max_depth=6, random_state=0).fit(X, E, predicates=used[1:]).agreement_ < 1.0


def test_cart_pruning_and_multi_explained() -> None:
    rng = np.random.default_rng(0)
    X = rng.random((400, 12)) < 0.5
    y = np.where(X[:, 0], 0, 1)
    y = np.where(rng.random(400) < 0.1, 2, y)  # label noise an unpruned tree overfits
    E = _one_hot(y, 3)
    E[:, 1] |= X[:, 5] & ~X[:, 0]  # multi-explained samples: CART is trained on the smallest class
    multi = E.sum(axis=1) > 1
    assert multi.any() and np.all(first_explaining_class(E)[multi] == E[multi].argmax(axis=1))
    fit = CartTreeFitter(max_depth=6, random_state=0).fit(X, E)
    assert fit.tree_ == Split(0, Leaf(0), Leaf(1)) and fit.ccp_alpha_ > 0.0
    unpruned = CartTreeFitter(max_depth=6, ccp_alpha=0.0, random_state=0).fit(X, E)
    assert size(unpruned.tree_) > 2 and unpruned.agreement_ > fit.agreement_
    again = CartTreeFitter(max_depth=6, random_state=0).fit(X, E)
    assert again.tree_ == fit.tree_ and again.ccp_alpha_ == fit.ccp_alpha_
    # no predicates to split on: the single leaf explaining most samples
    assert CartTreeFitter().fit(X, E, predicates=[]).tree_ == Leaf(int(np.argmax(E.sum(axis=0))))


def _used(t: Tree) -> list[tuple[int, int]]:
    """(pred, depth) of every split."""
    out: list[tuple[int, int]] = []

    def go(s: Tree, d: int) -> None:
        if isinstance(s, Split):
            out.append((s.pred, d))
            go(s.if_true, d + 1)
            go(s.if_false, d + 1)

    go(t, 0)
    return out


# ---------------------------------------------------------------- equivalence, label/input forms, held-out


@pytest.mark.parametrize("seed", range(6))
def test_tree_equivalence_matches_exhaustive_enumeration(seed: int) -> None:
    """``trees_equivalent`` against brute force over all 2^7 inputs, on random pairs (equal ones too:
    a tree and its simplified, commuted-by-construction twin)."""
    from dpdsl.distill.treefit import tree_counterexample, trees_equivalent

    rng = np.random.default_rng(seed)
    allx = _all_assignments(7)
    for _ in range(20):
        a = random_tree(7, int(rng.integers(0, 4)), 2, rng, distinct_siblings=False)
        b = random_tree(7, int(rng.integers(0, 4)), 2, rng, distinct_siblings=False) if rng.random() < 0.6 \
            else simplify(a)
        same = bool(np.array_equal(predict(a, allx), predict(b, allx)))
        assert trees_equivalent(a, b) == same
        cex = tree_counterexample(a, b)
        if cex is not None:  # any completion of the witness separates them
            x = np.array([[cex.get(i, bool(rng.random() < 0.5)) for i in range(7)]])
            assert predict(a, x)[0] != predict(b, x)[0]


def test_selector_accepts_int_labels_and_pm1_inputs() -> None:
    tree, X, E = _planted(5)
    cands = path_conjunctions(tree)
    a = DPTreeSelector(max_depth=3).fit(X, E, cands)
    b = DPTreeSelector(max_depth=3).fit(X.astype(np.int8) * 2 - 1, predict(tree, X), cands)
    c = DPTreeSelector(max_depth=3).fit(X.astype(np.int64), predict(tree, X), cands)
    assert a.tree_ == b.tree_ == c.tree_ and a.heldout_agreement_ == b.heldout_agreement_ == 1.0
    assert a.faithful_ and b.faithful_
    with pytest.raises(ValueError, match="bool, 0/1 or -1/\\+1"):
        DPTreeSelector(max_depth=3).fit(X.astype(float) * 0.5, E, cands)


def test_heldout_agreement_is_not_optimistic() -> None:
    """Random labels: a depth-3 tree over all depth <= 3 conjunctions of 6 predicates fits noise in
    sample; the held-out agreement is > 0.05 lower and the verdict is not faithful."""
    rng = np.random.default_rng(0)
    X = rng.random((120, 6)) < 0.5
    y = rng.integers(0, 2, size=120)
    cands = [ROOT]
    for _ in range(3):
        cands = list(dict.fromkeys(cands + [c.extend(q, v) for c in cands for q in range(6)
                                            if not c.used >> q & 1 for v in (True, False)]))
    dp = DPTreeSelector(max_depth=3, random_state=1).fit(X, y, cands)
    assert dp.heldout_agreement_ < dp.agreement_ - 0.05 and not dp.faithful_, (dp.agreement_, dp.heldout_agreement_)
    tiny = DPTreeSelector(max_depth=1).fit(X[:1], y[:1], [ROOT])
    assert np.isnan(tiny.heldout_agreement_) and not tiny.faithful_
