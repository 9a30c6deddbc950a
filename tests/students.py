"""Students for backend tests without a compile: the spec's reference as a one-leaf tree (what the
shipped students compute), and random trees over the candidate features (many splits, every term)."""

from __future__ import annotations

import numpy as np

from dpdsl import tree as T
from dpdsl.expr.unparse import unparse
from dpdsl.features import candidate_features, typed_features
from dpdsl.ir import SpecIR
from dpdsl.student import FieldTree, Student


def reference_student(spec: SpecIR) -> Student:
    """One leaf per field whose term is the field's ``reference`` expression."""
    fields = {f: FieldTree(typed_features(spec, f, [], [unparse(st.reference)]), T.Leaf(0))
              for f, st in spec.states.items()}
    return Student(spec, fields)


def random_student(spec: SpecIR, seed: int, depth: int = 2) -> Student:
    """Complete random trees of ``depth`` over each field's candidate predicates and terms."""
    rng = np.random.default_rng(seed)
    fields = {}
    for f in spec.states:
        fs = candidate_features(spec, f)
        d = min(depth, len(fs.predicates))
        fields[f] = FieldTree(fs, T.random_tree(len(fs.predicates), d, len(fs.terms), rng,
                                                distinct_siblings=len(fs.terms) > 1))
    return Student(spec, fields)
