"""Stage "student": the DP skeleton with decision-tree transitions, saved as a self-describing directory.

A student is the spec (text + hash) plus, per state field, the predicates its tree tests, the terms its
leaves select, and the tree. It runs through the same skeleton as the reference executor
(``dpdsl.execute.run_skeleton``), with each tree compiled once into a closure of nested ``torch.where``
over the predicates and terms it uses: one torch op per split and per feature node, nothing stacked.
This is the one evaluator that runs students; the array form (``tree.predict``) serves fitting.
Artifacts are JSON only (no pickle); ``student.json`` is deterministic for a seed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dpdsl import limits, seal
from dpdsl import tree as T
from dpdsl.api import load_spec_text
from dpdsl.errors import CheckpointError, UserError
from dpdsl.execute import RunResult, Transition, run_skeleton
from dpdsl.expr import nodes as A
from dpdsl.expr.torch_eval import LocalFn, compile_local
from dpdsl.features import FeatureSet, typed_features
from dpdsl.fsutil import incomplete_reason
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR

FORMAT = "dpdsl-student/1"


@dataclass(frozen=True)
class FieldTree:
    """One field's transition: ``tree`` over ``features.predicates`` selecting ``features.terms``."""

    features: FeatureSet
    tree: T.Tree

    @property
    def rules(self) -> str:
        return T.to_rules(self.tree, self.features.predicate_names, self.features.term_names)

    def transition(self, spec: SpecIR) -> Transition:
        """The tree compiled to nested ``torch.where`` over the predicates and terms it uses (each
        evaluated once per call): a depth-1 tree costs one comparison and one ``where`` per round.
        Tests hold it bit-identical to the array form (``tree.predict`` + gather) the fitter uses."""
        fn = compile_tree(spec, self.tree, self.features.predicates, self.features.terms,
                          spec.states[self.features.field].type.dtype())

        def run(**args: torch.Tensor) -> torch.Tensor:
            return fn(args, next(iter(args.values())).shape[0])

        return run


def compile_tree(spec: SpecIR, tree: T.Tree, predicates: Sequence[A.Expr], terms: Sequence[A.Expr],
                 dtype: torch.dtype) -> LocalFn:
    """A tree as one closure: evaluate the predicates (as bool) and terms (as ``dtype``) it uses, each
    once, then select with nested ``torch.where``. ``where`` copies the chosen element exactly, as the
    generic path's gather does, so values are the same bits; no ``[N, P]`` matrix is built."""
    used_p: dict[int, int] = {}
    used_t: dict[int, int] = {}

    def build(t: T.Tree) -> Callable[[list[torch.Tensor], list[torch.Tensor]], torch.Tensor]:
        if isinstance(t, T.Leaf):
            j = used_t.setdefault(t.cls, len(used_t))
            return lambda pv, tv: tv[j]
        i = used_p.setdefault(t.pred, len(used_p))
        yes, no = build(t.if_true), build(t.if_false)
        return lambda pv, tv: torch.where(pv[i], yes(pv, tv), no(pv, tv))

    select = build(tree)
    pfns = [compile_local(spec.param_values, predicates[k]) for k in used_p]
    tfns = [compile_local(spec.param_values, terms[k]) for k in used_t]

    def run(args: Mapping[str, torch.Tensor], n: int) -> torch.Tensor:
        pv = [_column(f(args, n), n, torch.bool) for f in pfns]
        tv = [_column(f(args, n), n, dtype) for f in tfns]
        return select(pv, tv)

    return run


def _column(v: torch.Tensor, n: int, dtype: torch.dtype) -> torch.Tensor:
    """One feature's values as ``evaluate_features`` stores a column: ``[n]`` of ``dtype``."""
    v = v.expand(n) if v.dim() == 0 else v
    return v if v.dtype == dtype else v.to(dtype)


def prune_features(features: FeatureSet, tree: T.Tree) -> tuple[FeatureSet, T.Tree]:
    """Keep only the predicates and terms the tree uses, renumbered in first-use order."""
    preds: dict[int, int] = {}
    terms: dict[int, int] = {}

    def scan(t: T.Tree) -> None:
        if isinstance(t, T.Leaf):
            terms.setdefault(t.cls, len(terms))
        else:
            preds.setdefault(t.pred, len(preds))
            scan(t.if_true)
            scan(t.if_false)

    def remap(t: T.Tree) -> T.Tree:
        if isinstance(t, T.Leaf):
            return T.Leaf(terms[t.cls])
        return T.Split(preds[t.pred], remap(t.if_true), remap(t.if_false))

    scan(tree)
    fs = FeatureSet(features.field, tuple(features.predicates[i] for i in preds),
                    tuple(features.terms[i] for i in terms))
    return fs, remap(tree)


class Student:
    """A compiled student: ``run(graph)`` gives the same ``RunResult`` as the reference executor."""

    def __init__(self, spec: SpecIR, fields: dict[str, FieldTree], meta: dict[str, Any] | None = None) -> None:
        missing = set(spec.states) - set(fields)
        if missing:
            raise ValueError(f"student lacks trees for {sorted(missing)}")
        self.spec = spec
        self.fields = fields
        self.meta = meta or {}
        self.seal_status = seal.SEALED  # set by the loader: sealed | unsealed | modified
        self._transitions = {name: ft.transition(spec) for name, ft in fields.items()}

    def transitions(self) -> dict[str, Transition]:
        return dict(self._transitions)

    def run(self, graph: Graph, *, record: bool = False, max_rounds: int | None = None,
            frontier: bool | None = None) -> RunResult:
        """The skeleton with the trees (frontier rounds unless ``frontier=False``: ``run_skeleton``)."""
        return run_skeleton(self.spec, graph, self._transitions, record=record, max_rounds=max_rounds,
                            frontier=frontier)

    def rules(self) -> dict[str, str]:
        return {name: ft.rules for name, ft in self.fields.items()}

    def size(self) -> dict[str, int]:
        """Leaves per field tree (the student's whole learned part)."""
        return {name: T.size(ft.tree) for name, ft in self.fields.items()}

    def to_json(self) -> dict[str, Any]:
        fields = {}
        for name, ft in self.fields.items():
            fields[name] = {
                "args": list(self.spec.states[name].args),
                "predicates": ft.features.predicate_names,
                "terms": ft.features.term_names,
                "tree": T.to_json(ft.tree),
                "rules": ft.rules,
                "leaves": T.size(ft.tree),
                "depth": T.depth(ft.tree),
            }
        return {
            "format": FORMAT,
            "spec": {"name": self.spec.name, "sha256": self.spec.hash, "filename": Path(self.spec.filename).name,
                     "source": self.spec.source},
            "fields": fields,
            **self.meta,
        }


def dumps_student(obj: dict[str, Any]) -> str:
    """Canonical JSON text (sorted keys, fixed indent) so the same student is the same bytes; sealed
    with a digest over its content (``dpdsl.seal``)."""
    return json.dumps(seal.seal(obj), indent=2, sort_keys=True, allow_nan=False) + "\n"


def student_from_json(obj: Any, where: str = "student.json", *, allow_modified: bool = False) -> Student:
    """Rebuild a student from its JSON; every inconsistency is a one-line ``CheckpointError``.

    The digest is verified first (``dpdsl.seal``); the result's ``seal_status`` says how it went.
    """
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{where}: not a dpdsl student (expected format {FORMAT!r})")
    status = seal.verify(obj, where, allow_modified=allow_modified)
    _check_shape(obj, where)
    try:
        spec_info = obj["spec"]
        source = spec_info["source"]
        spec = load_spec_text(source, str(spec_info.get("filename", "<student spec>")))
        if spec.hash != spec_info["sha256"]:
            raise CheckpointError(f"{where}: spec text does not match its recorded sha256")
        fields = {}
        for name, f in obj["fields"].items():
            if name not in spec.states:
                raise CheckpointError(f"{where}: tree for '{name}', which is not a state of {spec.name}")
            fs = typed_features(spec, name, list(f["predicates"]), list(f["terms"]))
            tree = T.from_json(f["tree"])
            _check_tree(tree, len(fs.predicates), len(fs.terms), where, name)
            fields[name] = FieldTree(fs, tree)
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{where}: malformed student ({type(err).__name__}: {err})") from None
    except UserError as err:
        raise CheckpointError(f"{where}: {err.one_line()}") from None
    missing = sorted(set(spec.states) - set(fields))
    if missing:
        raise CheckpointError(f"{where}: no tree for state field(s) {', '.join(missing)}")
    meta = {k: v for k, v in obj.items() if k not in ("format", "spec", "fields", seal.KEY)}
    student = Student(spec, fields, meta)
    student.seal_status = status
    return student


def _check_shape(obj: dict[str, Any], where: str) -> None:
    """The JSON types the loader relies on, checked up front so no lookup below can crash."""
    spec = obj.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("source"), str) or not isinstance(
            spec.get("sha256"), str):
        raise CheckpointError(f"{where}: malformed student ('spec' needs string 'source' and 'sha256')")
    fields = obj.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise CheckpointError(f"{where}: malformed student ('fields' must be a non-empty object)")
    for name, f in fields.items():
        ok = isinstance(f, dict) and all(
            isinstance(f.get(k), list) and all(isinstance(x, str) for x in f[k]) for k in ("predicates", "terms"))
        if not ok or not isinstance(f.get("tree"), dict):
            raise CheckpointError(f"{where}: malformed tree for '{name}' (needs string lists 'predicates' "
                                  "and 'terms' and an object 'tree')")


def _check_tree(t: T.Tree, n_pred: int, n_term: int, where: str, name: str) -> None:
    if isinstance(t, T.Leaf):
        if not 0 <= t.cls < n_term:
            raise CheckpointError(f"{where}: tree of '{name}' selects term {t.cls} of {n_term}")
        return
    if not 0 <= t.pred < n_pred:
        raise CheckpointError(f"{where}: tree of '{name}' tests predicate {t.pred} of {n_pred}")
    _check_tree(t.if_true, n_pred, n_term, where, name)
    _check_tree(t.if_false, n_pred, n_term, where, name)


def load_student(path: str | Path, *, allow_modified: bool = False) -> Student:
    """Load a student directory (or its ``student.json``); an interrupted write is never loaded."""
    p = Path(path)
    f = p / "student.json" if p.is_dir() else p
    why = incomplete_reason(f.parent)
    if why is not None:
        raise CheckpointError(f"{f.parent}: not a finished student: {why}; rerun compile (with --force)")
    limits.check_file_size(f, "artifact_bytes", f"{f}: the student file")
    try:
        raw = f.read_bytes()
    except OSError:
        raise CheckpointError(f"{f}: cannot read a student here (expected DIR/student.json)") from None
    try:
        obj = limits.loads_json(raw, str(f))
    except UnicodeDecodeError:
        raise CheckpointError(f"{f}: not a UTF-8 text file") from None
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{f}: not valid JSON (line {err.lineno}: {err.msg})") from None
    return student_from_json(obj, str(f), allow_modified=allow_modified)
