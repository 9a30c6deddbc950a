"""Certificates: a proof that a student's tree equals its spec's reference transition for every input.

For each state field, the tree and the ``reference`` are encoded over the field's typed ``unknown(...)``
arguments (``dpdsl.expr.z3_backend``) and z3 is asked for an input where they differ:

1. over the extended reals (exact arithmetic, ``±inf``/NaN tagged): none → equal as functions;
   one → a counterexample, re-evaluated by the torch backend;
2. bit-exactly in float64: none → the student computes the reference's very values in torch.

A field is *certified* when both find none, under the spec's ``assume`` lines for the field if it has
any (then the certificate says so and the assumption is checked on sampled reference trajectories).
Without ``assume`` lines, a failed proof is tested against the values the DP reaches: if no reached
tuple is a disagreement, the searcher offers the simplest invariant that holds on them and makes the
proof go through, as an ``assume`` line. Fields without a reference get the properties the solver can
prove (selects one of its arguments, monotone, never increases / decreases its own value) and a PAC
bound on its disagreement with the teacher; nothing else is claimed. docs/certificates.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import z3

from dpdsl.certify.encode import Counterexample, FieldProblem, counterexample, equal_tensors, torch_eval, tree_expr
from dpdsl.certify.nan import nan_sources
from dpdsl.certify.pac import PacBound, pac_from_report
from dpdsl.certify.reach import Reached, describe_row, reached_args, violations
from dpdsl.certify.search import simplify_rule, suggest_invariant
from dpdsl.expr.unparse import unparse
from dpdsl.expr.z3_backend import Unencodable
from dpdsl.ir import SpecIR
from dpdsl.student import FieldTree, Student
from dpdsl.types import BOOL

CERTIFIED = "certified"
NOT_CERTIFIED = "not certified"
NO_REFERENCE = "no reference"

SCOPE = ("every input: all argument values of their declared types (ints: integers or ±inf in range; "
         "reals: reals or ±inf), plus NaN where the types do not rule it out, in exact extended-real "
         "arithmetic and bit-exactly in float64")


@dataclass
class FieldCertificate:
    field: str
    rule: str
    reference: str | None
    status: str  # CERTIFIED | NOT_CERTIFIED | NO_REFERENCE
    headline: str  # the one line verify prints first for the field
    details: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)  # assume lines the certificate relies on
    counterexample: Counterexample | None = None
    suggestion: str | None = None  # an assume line to add
    simplified: str | None = None
    properties: list[str] = field(default_factory=list)
    pac: PacBound | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "headline": self.headline, "details": self.details,
                "rule": self.rule, "reference": self.reference, "assumptions": self.assumptions,
                "counterexample": None if self.counterexample is None else {
                    "args": {k: _j(v) for k, v in self.counterexample.args.items()},
                    "outputs": {k: _j(v) for k, v in self.counterexample.torch_outputs.items()},
                    "domain": self.counterexample.domain},
                "suggested_assume": self.suggestion, "simplified_rule": self.simplified,
                "properties": self.properties, "pac": None if self.pac is None else self.pac.statement(self.field)}


def _j(v: bool | float) -> bool | float | str:
    if isinstance(v, bool):
        return v
    return v if v == v and abs(v) != float("inf") else str(v)


@dataclass
class Certificate:
    spec: str
    fields: dict[str, FieldCertificate]
    seconds: float

    @property
    def certified(self) -> bool:
        return all(f.status == CERTIFIED for f in self.fields.values())

    @property
    def exit_code(self) -> int:
        """0: every field with a reference is certified (fields without one claim only what was proved);
        1: some field is not certified."""
        return 1 if any(f.status == NOT_CERTIFIED for f in self.fields.values()) else 0

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "certified": self.certified, "scope": SCOPE,
                "fields": {k: f.to_json() for k, f in self.fields.items()}}


def certify(student: Student, *, reached: Reached | None = None, search: bool = True) -> Certificate:
    """Certify every field of a student (see the module docstring). ``reached`` may be passed to
    reuse sampled trajectories; ``search=False`` skips invariant suggestion and simplification."""
    t0 = time.perf_counter()
    spec = student.spec
    lazy: dict[str, Reached | None] = {} if reached is None else {"r": reached}

    def get_reached() -> Reached | None:
        if "r" not in lazy:
            lazy["r"] = reached_args(spec)
        return lazy["r"]

    nan_cache: dict[str, dict[str, str]] = {}

    def get_nan() -> dict[str, str]:
        if "n" not in nan_cache:
            nan_cache["n"] = nan_sources(spec)
        return nan_cache["n"]

    out = {}
    for name, ft in student.fields.items():
        t = time.perf_counter()
        try:
            fc = _certify_field(spec, name, ft, student.meta, get_reached, search, get_nan)
        except Unencodable as err:
            fc = FieldCertificate(name, ft.rules, _ref_text(spec, name), NOT_CERTIFIED,
                                  f"not certified: cannot encode for the solver: {err}")
        fc.seconds = round(time.perf_counter() - t, 3)
        out[name] = fc
    return Certificate(spec.name, out, round(time.perf_counter() - t0, 3))


def _ref_text(spec: SpecIR, name: str) -> str | None:
    ref = spec.states[name].reference
    return None if ref is None else unparse(ref)


def _certify_field(spec: SpecIR, name: str, ft: FieldTree, meta: dict[str, Any], get_reached: Any,
                   search: bool, get_nan: Any) -> FieldCertificate:
    """Prove one field's tree equal to its reference: over the extended reals (with the spec's assume
    lines if the plain proof fails), then bit-exactly in float64, then with NaN arguments."""
    st = spec.states[name]
    fc = FieldCertificate(name, ft.rules, _ref_text(spec, name), NOT_CERTIFIED, "")
    if search:
        simp = simplify_rule(spec, name, ft.features, ft.tree)
        fc.simplified = unparse(simp) if simp is not None else None
    if st.reference is None:
        return _without_reference(spec, name, ft, meta, fc)
    goals = {dom: _goal(spec, name, ft, dom) for dom in ("real", "float64")}
    assumes = list(st.assumes)
    if not _prove_real(spec, name, ft, fc, goals["real"], assumes, get_reached, search):
        return fc
    if not _prove_float64(spec, name, fc, goals["float64"], assumes):
        return fc
    fc.status = CERTIFIED
    if fc.assumptions:
        fc.headline = ("certified: equal to the reference for every input satisfying "
                       + "; ".join(f"'{a}'" for a in fc.assumptions))
        _check_assumptions(spec, name, fc, assumes, get_reached())
    else:
        fc.headline = "certified: equal to the reference for every input"
    _nan_arguments(spec, name, ft, fc, get_nan(), assumes)
    excl = goals["real"][0].exclusions()
    if excl:
        fc.details.append("the extended-real proof excludes inputs where " + "; ".join(excl)
                          + " (the float64 proof has no exclusions)")
    return fc


def _without_reference(spec: SpecIR, name: str, ft: FieldTree, meta: dict[str, Any],
                       fc: FieldCertificate) -> FieldCertificate:
    fc.status = NO_REFERENCE
    fc.properties = prove_properties(spec, name, ft)
    fc.pac = pac_from_report(meta, name)
    fc.headline = (f"no reference for {name}: nothing is certified beyond the properties below"
                   if fc.properties else f"no reference for {name}: nothing is proven")
    return fc


def _goal(spec: SpecIR, name: str, ft: FieldTree, dom: str) -> tuple[FieldProblem, Any, list[Any]]:
    """The negated equality of tree and reference over ``dom``, with the named values for a model."""
    st = spec.states[name]
    p = FieldProblem(spec, name, dom)
    tr, ref = p.tree(ft.features, ft.tree), p.encode(st.reference)
    named = [("student", tr, tree_expr(ft.features, ft.tree, st.type)), ("reference", ref, st.reference)]
    return p, z3.Not(p.same(tr, ref)), named


def _prove_real(spec: SpecIR, name: str, ft: FieldTree, fc: FieldCertificate, goal: tuple, assumes: list[Any],
                get_reached: Any, search: bool) -> bool:
    """Equality over the extended reals, under the assume lines if needed; False (fc filled) if not."""
    p, g, named = goal
    res, model = p.solve(g)
    if res == "unknown":
        fc.headline = "not certified: the solver gave up (timeout)"
        return False
    if res != "sat":
        return True
    plain_cex = counterexample(spec, name, p, model, named)
    if not assumes:
        fc.counterexample = plain_cex
        fc.headline = "not certified: counterexample " + plain_cex.describe(spec, name)
        _explain_failure(spec, name, ft, fc, get_reached, search)
        return False
    fc.details.append("without its assume lines the proof fails at " + plain_cex.describe(spec, name))
    res, model = p.solve(g, *[p.encode(a) for a in assumes])
    fc.assumptions = [f"assume {name} : {unparse(a)}" for a in assumes]
    if res == "sat":
        fc.counterexample = counterexample(spec, name, p, model, named)
        fc.headline = ("not certified: differs from the reference even under its assume lines at "
                       + fc.counterexample.describe(spec, name))
        return False
    if res == "unknown":
        fc.headline = "not certified: the solver gave up (timeout)"
        return False
    return True


def _prove_float64(spec: SpecIR, name: str, fc: FieldCertificate, goal: tuple, assumes: list[Any]) -> bool:
    """Equal over the extended reals: now bit-exactly in float64 (no exclusions)."""
    pf, g, named = goal
    used = [pf.encode(a) for a in assumes] if fc.assumptions else []
    res, model = pf.solve(g, *used)
    if res == "sat":
        fc.counterexample = counterexample(spec, name, pf, model, named)
        fc.headline = ("not certified: equal in exact arithmetic, but float64 rounding differs at "
                       + fc.counterexample.describe(spec, name))
        return False
    if res == "unknown":
        fc.headline = ("not certified: equal over the extended reals (exact arithmetic), but the float64 "
                       "proof timed out")
        return False
    return True


def _check_assumptions(spec: SpecIR, name: str, fc: FieldCertificate, assumes: list[Any], r: Any) -> None:
    """Check each assume line on sampled reachable arguments: evidence for it, or a refutation."""
    for a, line in zip(assumes, fc.assumptions, strict=True):
        if r is None:
            fc.details.append(f"'{line}' is a claim about reachable values; no sample section to check it on")
            continue
        bad, first = violations(spec, name, a, r)
        fc.details.append(
            f"'{line}' holds on all {r.rows(name)} argument tuples of {r.graphs} sampled reference runs "
            f"({r.nodes} nodes): evidence, not proof" if not bad else
            f"WARNING: '{line}' is false on {bad} of {r.rows(name)} sampled reachable argument tuples "
            f"(first: {first}): the assumption is wrong, and so is this certificate")
        if bad:
            fc.status = NOT_CERTIFIED
            fc.headline = f"not certified: its assumption '{line}' is false on reachable values ({first})"


def _nan_arguments(spec: SpecIR, name: str, ft: FieldTree, fc: FieldCertificate, nan: dict[str, str],
                   assumes: list[Any]) -> None:
    """The proof above excludes NaN arguments; where the declared types do not rule NaN out, re-prove
    with NaN allowed there and say which holds (dpdsl.certify.nan)."""
    st = spec.states[name]
    flagged = [a for a in st.args if a in nan]
    if not flagged:
        return
    reasons = "; ".join(nan[a] for a in flagged)
    for dom in ("real", "float64"):
        p = FieldProblem(spec, name, dom, nan_ok=frozenset(flagged))
        tr, ref = p.tree(ft.features, ft.tree), p.encode(st.reference)
        res, model = p.solve(z3.Not(p.same(tr, ref)), *[p.encode(a) for a in assumes])
        if res != "unsat":
            how = "the solver gave up" if res == "unknown" else "with them the student differs at " + counterexample(
                spec, name, p, model, [("student", tr, tree_expr(ft.features, ft.tree, st.type)),
                                       ("reference", ref, st.reference)]).describe(spec, name)
            fc.headline = fc.headline.replace("for every input", "for every input without NaN", 1)
            fc.details.append(f"NaN arguments ({', '.join(flagged)}) are not covered, and the declared types do "
                              f"not rule them out ({reasons}); {how}")
            return
    fc.details.append(f"this includes NaN in {', '.join(flagged)}, which the declared types do not rule out "
                      f"({reasons})")


def _explain_failure(spec: SpecIR, name: str, ft: FieldTree, fc: FieldCertificate, get_reached: Any,
                     search: bool) -> None:
    """Is the counterexample reachable? If no sampled reachable tuple disagrees, offer an invariant."""
    st = spec.states[name]
    r = get_reached()
    if r is None:
        fc.details.append("no sample section: cannot tell whether the counterexample can occur")
        return
    args = r.args[name]
    rule_e = tree_expr(ft.features, ft.tree, st.type)
    assert st.reference is not None
    diff = ~equal_tensors(torch_eval(spec, rule_e, args), torch_eval(spec, st.reference, args))
    n_bad = int(diff.sum())
    if n_bad:
        first = describe_row(spec, name, args, int(diff.nonzero()[0]))
        fc.details.append(f"the student is wrong on values the DP reaches: {n_bad} of {r.rows(name)} argument "
                          f"tuples of {r.graphs} sampled reference runs differ (first: {first})")
        return
    fc.details.append(f"the counterexample lies outside the values the DP reached: all {r.rows(name)} argument "
                      f"tuples of {r.graphs} sampled reference runs ({r.nodes} nodes) agree")
    if not search:
        return
    inv = suggest_invariant(spec, name, ft.features, ft.tree, r)
    if inv is None:
        fc.details.append("no invariant among the candidate predicates (and pairs of them) explains it")
        return
    e, rows = inv
    fc.suggestion = f"assume {name} : {unparse(e)}"
    fc.details.append(f"the invariant '{unparse(e)}' holds on all {rows} reached tuples and makes the proof go "
                      f"through; if it holds for every reachable input, add this line to the spec and re-run "
                      f"verify with --spec SPEC (or recompile):")
    fc.details.append(f"    {fc.suggestion}")


# --- properties (fields without a reference) -------------------------------------------------------


def prove_properties(spec: SpecIR, name: str, ft: FieldTree) -> list[str]:
    """The properties of the tree z3 proves for every input (extended reals); refuted ones are left out."""
    st = spec.states[name]
    out = []
    p = FieldProblem(spec, name, "real")
    y = p.tree(ft.features, ft.tree)
    is_bool = st.type.kind == BOOL
    same_kind = [a for a in st.args if (spec.arg_type(a).kind == BOOL) == is_bool]
    if same_kind and p.solve(z3.Not(z3.Or([p.same(y, p.vars[a]) for a in same_kind])))[0] == "unsat":
        out.append(f"it always selects one of its arguments ({', '.join(same_kind)})")
    if name in p.vars and not is_bool:
        me = p.vars[name]
        if p.solve(z3.Not(p.d.le(y, me)))[0] == "unsat":
            out.append(f"it never increases {name}")
        if p.solve(z3.Not(p.d.le(me, y)))[0] == "unsat":
            out.append(f"it never decreases {name}")
    up, down = [], []
    for a in st.args:
        q = FieldProblem(spec, name, "real", suffix="'")
        for b in st.args:  # q shares every argument with p except a
            if b != a:
                q.vars[b] = p.vars[b]
        q.enc.variables = dict(q.vars)
        y2 = q.tree(ft.features, ft.tree)
        xa, xb = p.vars[a], q.vars[a]
        if spec.arg_type(a).kind == BOOL:
            step = z3.Implies(xa, xb)
        elif spec.arg_type(a).is_numeric:
            step = p.d.le(xa, xb)
        else:
            continue
        le = (lambda u, v: z3.Implies(u, v)) if is_bool else p.d.le
        facts = q.cons + [z3.Not(c) for c, _ in q.d.exclusions]
        if p.solve(step, *facts, z3.Not(le(y, y2)))[0] == "unsat":
            up.append(a)
        elif p.solve(step, *facts, z3.Not(le(y2, y)))[0] == "unsat":
            down.append(a)
    if up:
        out.append(f"it is monotone non-decreasing in {', '.join(up)}")
    if down:
        out.append(f"it is monotone non-increasing in {', '.join(down)}")
    return out
