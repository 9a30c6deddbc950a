"""Certificates (dpdsl verify): the z3 backend agrees with torch, shipped students are certified, wrong
trees get counterexamples, assume lines are checked on reference trajectories, simplified rules are
equivalent, the no-reference case says what it proves (docs/certificates.md)."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import pytest
import torch
import z3

from dpdsl import tree as T
from dpdsl.api import load_spec, load_spec_text
from dpdsl.certify.encode import FieldProblem, equal_tensors, torch_eval
from dpdsl.certify.pac import kl, kl_upper, log_class_size, pac_bound
from dpdsl.certify.prove import CERTIFIED, NO_REFERENCE, NOT_CERTIFIED, certify
from dpdsl.certify.reach import reached_args, violations
from dpdsl.certify.render import render_certificate
from dpdsl.cli import main
from dpdsl.errors import DslError
from dpdsl.execute import run_reference
from dpdsl.expr import nodes as N
from dpdsl.expr.ops import BINARY, UNARY
from dpdsl.expr.z3_backend import FIN, NAN, NINF, PINF, XR, ExtReal, Float64, Unencodable, Z3Encoder
from dpdsl.features import typed_features
from dpdsl.graphs.core import batch_graphs
from dpdsl.registry import FUNCTIONS
from dpdsl.sampling import sample_graphs
from dpdsl.student import FieldTree, Student, dumps_student
from dpdsl.teachers.checkpoint import checkpoint_info

ROOT = Path(__file__).resolve().parents[1]

L0, L1 = {"leaf": 0}, {"leaf": 1}
SPLIT = {"pred": 0, "if_true": L0, "if_false": L1}
# the trees `dpdsl compile specs/X.dp --teacher teachers/X.safetensors` distils (README's table)
SHIPPED = {
    "bellman_ford": {"dist": (["dist < best"], ["dist", "best"], SPLIT)},
    "bfs_distance": {"dist": (["dist < best"], ["dist", "best"], SPLIT)},
    "components": {"label": (["label < low"], ["label", "low"], SPLIT)},
    "dag_longest_path": {"length": (["length < best"], ["best", "length"], SPLIT)},
    "dag_path_count": {"paths": (["source"], ["1", "into"], SPLIT)},
    "dag_shortest_paths": {"dist": (["dist < best"], ["dist", "best"], SPLIT)},
    "kcore": {"alive": (["degree < k"], ["false", "true"], SPLIT)},
    "mwis_tree": {"incl": ([], ["weight + kids_excl"], L0), "excl": ([], ["kids_best"], L0)},
    "reachability": {"reached": (["reached", "any"], ["true", "false"],
                                 {"pred": 0, "if_true": L0, "if_false": {"pred": 1, "if_true": L0, "if_false": L1}})},
    "vertex_cover_tree": {"take": ([], ["kids_best + 1"], L0), "skip": ([], ["kids_take"], L0)},
    "widest_path": {"width": (["width < best"], ["best", "width"], SPLIT)},
}


def make_student(spec, trees, meta=None) -> Student:
    fields = {f: FieldTree(typed_features(spec, f, list(p), list(t)), T.from_json(tj))
              for f, (p, t, tj) in trees.items()}
    return Student(spec, fields, meta or {})


def without_assumes(src: str) -> str:
    return "".join(line for line in src.splitlines(keepends=True) if not line.startswith("assume"))


def write_student(tmp_path: Path, student: Student) -> Path:
    d = tmp_path / student.spec.name
    d.mkdir()
    (d / "student.json").write_text(dumps_student(student.to_json()))
    return d


# --- the backend against torch --------------------------------------------------------------------

SPEC = """problem t
graph directed
input node b : bool
input node c : bool
input node x : real
input node y : real
input node i : int
input node e : {red, green, blue}
state s : real
init s = 0
transition s = unknown(b, c, x, y, i, e, s)
reference s = x
rounds 1
output s
"""
NUMS = ["x", "y", "i", "s", "0", "1", "0.5", "2", "inf", "-1"]
VALUES = [-2.0, -1.0, -0.5, 0.0, -0.0, 0.5, 1.0, 3.0, math.inf, -math.inf]


def _rand_num(rng: random.Random, d: int, ops: str = "+-*/") -> str:
    if d == 0 or rng.random() < 0.25:
        return rng.choice(NUMS)
    k = rng.randrange(7)
    a, b = _rand_num(rng, d - 1, ops), _rand_num(rng, d - 1, ops)
    if k < 4 and "+-*/"[k] not in ops:
        k = 4
    if k < 4:
        return f"({a} {'+-*/'[k]} {b})"
    if k == 4:
        return f"{rng.choice(['min', 'max'])}({a}, {b})"
    if k == 5:
        return rng.choice([f"abs({a})", f"(-{a})"])
    return f"(if {_rand_bool(rng, d - 1)} then {a} else {b})"


def _rand_bool(rng: random.Random, d: int) -> str:
    if d == 0 or rng.random() < 0.3:
        return rng.choice(["b", "c", "true", "e == green", "e != red"])
    k = rng.randrange(4)
    if k == 0:
        return f"({_rand_num(rng, d - 1)} {rng.choice(['<', '<=', '>', '>=', '==', '!='])} {_rand_num(rng, d - 1)})"
    if k == 1:
        return f"not {_rand_bool(rng, d - 1)}"
    if k == 2:
        return f"({_rand_bool(rng, d - 1)} {rng.choice(['and', 'or'])} {_rand_bool(rng, d - 1)})"
    return f"(if {_rand_bool(rng, d - 1)} then {_rand_bool(rng, d - 1)} else b)"


def _concrete(domain, e: N.Expr, row: dict) -> tuple[object, bool]:
    """The z3 value of ``e`` with the arguments bound to constants; False if an exclusion applies."""
    variables = {k: (z3.BoolVal(v) if isinstance(v, bool) else domain.const(v)) for k, v in row.items()}
    val = Z3Encoder(domain, {}, variables).encode(e)
    s = z3.Solver()
    assert s.check() == z3.sat
    m = s.model()
    if any(z3.is_true(m.eval(c, model_completion=True)) for c, _ in domain.exclusions):
        return None, False
    if isinstance(val, z3.BoolRef):
        return z3.is_true(m.eval(val, model_completion=True)), True
    return domain.value(m, val), True


@pytest.fixture(scope="module")
def random_exprs():
    spec = load_spec_text(SPEC)
    rng = random.Random(7)
    nums = [_rand_num(rng, 3) for _ in range(60)]
    bools = [_rand_bool(rng, 3) for _ in range(40)]
    fs = typed_features(spec, "s", bools, nums)
    return spec, list(fs.terms) + list(fs.predicates)


def _rows(rng: random.Random, n: int) -> list[dict]:
    return [{"b": rng.random() < 0.5, "c": rng.random() < 0.5, "x": rng.choice(VALUES), "y": rng.choice(VALUES),
             "i": rng.choice([-2.0, 0.0, 1.0, 3.0, math.inf, -math.inf]), "e": float(rng.randrange(3)),
             "s": rng.choice(VALUES)} for _ in range(n)]


@pytest.mark.parametrize("domain", [ExtReal, Float64])
def test_backend_agrees_with_torch_on_random_expressions_and_inputs(random_exprs, domain):
    spec, exprs = random_exprs
    rng = random.Random(3)
    rows = _rows(rng, 6)
    args = {k: torch.tensor([r[k] for r in rows], dtype=torch.bool if k in "bc" else torch.float64) for k in rows[0]}
    checked = 0
    for e in exprs:
        want = torch_eval(spec, e, args)
        for j, row in enumerate(rows):
            got, ok = _concrete(domain(), e, row)
            if not ok:
                continue  # extended reals exclude zero divisors (the certificate says so)
            w = want[j].item()
            checked += 1
            if isinstance(got, bool):
                assert got == bool(w), (e, row)
            elif math.isnan(w) or math.isnan(got) or math.isinf(w):
                assert (math.isnan(w) and math.isnan(got)) or got == w, (e, row, got, w)
            elif domain is Float64:
                assert got == w, (e, row, got, w)  # bit-exact (as numbers: -0 == 0)
            else:
                assert math.isclose(got, w, rel_tol=1e-12, abs_tol=1e-300), (e, row, got, w)
    assert checked > 400


def test_proofs_agree_with_sampling(random_exprs):
    """Pairs of random terms: a float64 proof of equality means no sampled input differs; a
    counterexample is one where torch differs too."""
    spec = random_exprs[0]
    rng = random.Random(11)
    # + and - only: float64 multipliers and dividers make z3 bit-blast for seconds per pair
    texts = list(dict.fromkeys(_rand_num(rng, 2, "+-") for _ in range(9)))
    texts += ["min(x, y)", "(if x < y then x else y)", "(if y < x then y else x)", "-(-x)", "(x + y) - y"]
    terms = list(typed_features(spec, "s", [], texts).terms)
    rows = _rows(rng, 400)
    args = {k: torch.tensor([r[k] for r in rows], dtype=torch.bool if k in "bc" else torch.float64) for k in rows[0]}
    vals = [torch_eval(spec, t, args) for t in terms]
    proved = refuted = 0
    for (i, a), (j, b) in itertools.combinations(list(enumerate(terms)), 2):
        p = FieldProblem(spec, "s", "float64")
        res, model = p.solve(z3.Not(p.same(p.encode(a), p.encode(b))), timeout_ms=1000)
        if res == "unsat":
            proved += 1
            assert bool(equal_tensors(vals[i], vals[j]).all()), (a, b)
        elif res == "sat":
            refuted += 1
            row = p.args_of(model)
            one = {k: torch.tensor([row[k]], dtype=torch.bool if k in "bc" else torch.float64) for k in row}
            assert not bool(equal_tensors(torch_eval(spec, a, one), torch_eval(spec, b, one))[0]), (a, b, row)
    assert proved and refuted


def test_every_operator_and_function_is_encoded():
    d = ExtReal()
    x, y = d.const(1.0), d.const(2.0)
    enc = Z3Encoder(d, {}, {"x": x, "y": y, "p": z3.BoolVal(True)})
    num = lambda n: N.Name(name=n, kind="input")  # noqa: E731
    for op in BINARY:
        if op in ("and", "or"):
            enc.encode(N.Binary(op=op, a=num("p"), b=num("p")))
        else:
            enc.encode(N.Binary(op=op, a=num("x"), b=num("y")))
    for op in UNARY:
        enc.encode(N.Unary(op=op, x=num("p" if op == "not" else "x")))
    for fn in FUNCTIONS:
        enc.encode(N.Call(fn=fn, args=(num("x"),) * max(1, FUNCTIONS[fn].min_args)))
    for bad, what in [(N.Call(fn="softplus", args=(num("x"),)), "softplus"),
                      (N.Agg(agg="min", relation="in-edges", body=num("x")), "aggregate"),
                      (N.Index(name="dist", args=("u",)), r"dist\[u\]"), (num("z"), "'z'")]:
        with pytest.raises(Unencodable, match=what):
            enc.encode(bad)


def test_a_plugin_redefining_min_is_refused(monkeypatch):
    from dataclasses import replace

    monkeypatch.setitem(FUNCTIONS, "min", replace(FUNCTIONS["min"], torch_fn=torch.maximum))
    enc = Z3Encoder(ExtReal(), {}, {"x": ExtReal().const(1.0)})
    with pytest.raises(Unencodable, match="'min' has no z3 encoding"):
        enc.encode(N.Call(fn="min", args=(N.Name(name="x"), N.Name(name="x"))))


def test_extended_real_special_values_follow_torch():
    d = ExtReal()
    inf, ninf, zero, one = d.const(math.inf), d.const(-math.inf), d.const(0.0), d.const(1.0)
    tag = lambda v: z3.simplify(v.tag).as_long()  # noqa: E731
    assert tag(d.add(inf, ninf)) == NAN and tag(d.sub(inf, inf)) == NAN
    assert tag(d.mul(zero, inf)) == NAN and tag(d.mul(d.neg(one), inf)) == NINF
    assert tag(d.div(inf, inf, "inf / inf")) == NAN and tag(d.div(one, inf, "1 / inf")) == FIN
    assert tag(d.minimum(d.nan(), one)) == NAN and tag(d.maximum(one, d.nan())) == NAN
    assert z3.is_false(z3.simplify(d.lt(d.nan(), one))) and z3.is_false(z3.simplify(d.eq(d.nan(), d.nan())))
    assert tag(d.absval(ninf)) == PINF and isinstance(inf, XR)
    d.div(one, zero, "1 / 0")
    assert d.exclusions and "divisor" in d.exclusions[-1][1]


# --- shipped students -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped():
    return {name: load_spec(ROOT / "specs" / f"{name}.dp") for name in SHIPPED}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_student_is_certified(shipped, name):
    cert = certify(make_student(shipped[name], SHIPPED[name]))
    for f in cert.fields.values():
        assert f.status == CERTIFIED, (name, f.headline, f.details)
        assert f.headline.startswith("certified: equal to the reference for every input")
    assert cert.exit_code == 0 and cert.seconds < 5.0


def test_kcore_needs_its_assume_line_and_the_line_holds_on_reference_trajectories(shipped):
    spec = shipped["kcore"]
    (inv,) = spec.states["alive"].assumes
    # the assumption is a claim about reachable inputs: check it on recorded reference runs, at sizes
    # and seeds other than verify's own
    for nodes, seed in (((4, 16), 1), ((30, 60), 2)):
        gs = sample_graphs(spec, 24, seed, nodes=nodes)
        res = run_reference(spec, batch_graphs(gs), record=True)
        for state, views in zip(res.trajectory, res.view_trajectory, strict=False):
            ok = torch_eval(spec, inv, {"alive": state["alive"], "degree": views["degree"]})
            assert bool(ok.all())
    # without the line: a counterexample outside the reached values, and the line is offered
    bare = load_spec_text(without_assumes(spec.source), "kcore.dp")
    assert bare.hash == spec.hash  # assume lines are left out of the hash
    f = certify(make_student(bare, SHIPPED["kcore"])).fields["alive"]
    assert f.status == NOT_CERTIFIED and f.counterexample is not None and f.counterexample.confirmed
    assert f.counterexample.args["alive"] is False and f.counterexample.args["degree"] >= 3
    assert f.suggestion == "assume alive : alive or degree < k"
    assert any("outside the values the DP reached" in d for d in f.details)
    # with it: certified under the assumption
    g = certify(make_student(spec, SHIPPED["kcore"])).fields["alive"]
    assert g.status == CERTIFIED and g.assumptions == ["assume alive : alive or degree < k"]


def test_a_wrong_assume_line_is_caught(shipped):
    spec = shipped["kcore"]
    wrong = load_spec_text(spec.source.replace("assume alive : alive or degree < k", "assume alive : alive"))
    f = certify(make_student(wrong, SHIPPED["kcore"])).fields["alive"]
    assert f.status == NOT_CERTIFIED and "false on reachable values" in f.headline


def test_shipped_teacher_still_matches_the_spec_with_assume_lines(shipped):
    assert checkpoint_info(ROOT / "teachers" / "kcore.safetensors")["spec_hash"] == shipped["kcore"].hash


def test_planted_wrong_tree_gets_a_counterexample(shipped, tmp_path, capsys):
    spec = shipped["bellman_ford"]
    wrong = make_student(spec, {"dist": (["dist < best"], ["best", "dist"], SPLIT)})  # max, not min
    f = certify(wrong).fields["dist"]
    assert f.status == NOT_CERTIFIED and f.counterexample is not None and f.counterexample.confirmed
    a = f.counterexample.args
    assert a["dist"] != a["best"]  # the student picks the larger, the reference the smaller
    assert f.counterexample.torch_outputs == {"student": max(a.values()), "reference": min(a.values())}
    assert any("wrong on values the DP reaches" in d for d in f.details)
    d = write_student(tmp_path, wrong)
    assert main(["verify", str(d)]) == 1
    out = capsys.readouterr().out
    assert "not certified: counterexample dist = " in out and "student gives" in out and "reference gives" in out


def test_nan_arguments_are_reported_where_the_types_allow_them(shipped):
    """dag_shortest_paths admits w = -inf: a NaN reaches dist, and there the student really differs."""
    spec = shipped["dag_shortest_paths"]
    f = certify(make_student(spec, SHIPPED["dag_shortest_paths"]), search=False).fields["dist"]
    assert f.status == CERTIFIED and f.headline.endswith("for every input without NaN")
    assert any("NaN arguments (dist, best) are not covered" in d and "dist = nan" in d for d in f.details)
    from dpdsl.graphs.core import Graph

    g = Graph(3, torch.tensor([[0, 1], [1, 2]]), True, node={"source": torch.tensor([True, False, False])},
              edge={"w": torch.tensor([0.0, -math.inf], dtype=torch.float64)})
    student = make_student(spec, SHIPPED["dag_shortest_paths"])
    ref, out = run_reference(spec, g).outputs["dist"], student.run(g).outputs["dist"]
    assert math.isnan(ref[2]) and out[2] == -math.inf  # the caveat is real, not only a type artefact
    # where NaN cannot occur (bfs: int >= 0 distances), nothing is said; where it is harmless, it is covered
    assert not any("NaN" in d for d in certify(make_student(shipped["bfs_distance"], SHIPPED["bfs_distance"]),
                                               search=False).fields["dist"].details)
    mw = certify(make_student(shipped["mwis_tree"], SHIPPED["mwis_tree"]), search=False).fields["incl"]
    assert mw.headline == "certified: equal to the reference for every input"
    assert any("this includes NaN in kids_excl" in d for d in mw.details)


def test_float64_rounding_difference_is_not_certified():
    src = ("problem r\ngraph directed\ninput node x : real 0..1\ninput node y : real 0..1\nstate s : real\n"
           "init s = 0\ntransition s = unknown(x, y)\nreference s = (x + y) - y\nrounds 1\noutput s\n")
    f = certify(make_student(load_spec_text(src), {"s": ([], ["x"], L0)}), search=False).fields["s"]
    assert f.status == NOT_CERTIFIED and "float64 rounding differs" in f.headline
    assert f.counterexample is not None and f.counterexample.confirmed


def test_verify_cli_exit_codes(shipped, tmp_path, capsys):
    d = write_student(tmp_path, make_student(shipped["reachability"], SHIPPED["reachability"]))
    assert main(["verify", str(d)]) == 0
    out = capsys.readouterr().out
    assert "certified: equal to the reference for every input" in out and "reached = reached or any" in out
    assert main(["verify", str(tmp_path / "nothing")]) == 2
    assert main(["verify", str(d), "--spec", str(ROOT / "specs" / "kcore.dp")]) == 2
    assert main(["verify", str(d), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["certified"] is True


def test_verify_spec_flag_proves_under_new_assume_lines(shipped, tmp_path, capsys):
    bare = load_spec_text(without_assumes(shipped["kcore"].source), "kcore.dp")
    d = write_student(tmp_path, make_student(bare, SHIPPED["kcore"]))
    assert main(["verify", str(d)]) == 1
    assert "assume alive : alive or degree < k" in capsys.readouterr().out
    assert main(["verify", str(d), "--spec", str(ROOT / "specs" / "kcore.dp")]) == 0


# --- simplification -------------------------------------------------------------------------------


def test_simplified_rules_are_proved_and_agree_on_random_inputs(shipped):
    want = {"reachability": "reached or any", "bellman_ford": "min(dist, best)", "kcore": "degree >= k",
            "dag_longest_path": "max(best, length)", "widest_path": "max(best, width)", "components": "min(label, low)"}
    rng = torch.Generator().manual_seed(0)
    pool = torch.tensor([-math.inf, -2.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0, 4.0, math.inf], dtype=torch.float64)
    for name, text in want.items():
        spec = shipped[name]
        student = make_student(spec, SHIPPED[name])
        (field,) = student.fields
        f = certify(student).fields[field]
        assert f.simplified == text, (name, f.simplified)
        st = spec.states[field]
        args = {}
        for a in st.args:
            ty = spec.arg_type(a)
            args[a] = (torch.rand(2000, generator=rng) < 0.5 if ty.kind == "bool" else
                       pool[torch.randint(len(pool), (2000,), generator=rng)])
        simp = typed_features(spec, field, [], [text]).terms[0] if st.type.kind != "bool" else \
            typed_features(spec, field, [text], []).predicates[0]
        tree = student.fields[field].transition(spec)(**args)
        assert bool(equal_tensors(tree, torch_eval(spec, simp, args)).all()), name


# --- no reference ---------------------------------------------------------------------------------


def test_no_reference_proves_only_properties_and_states_a_pac_bound(shipped, tmp_path, capsys):
    src = shipped["bellman_ford"].source.replace("reference  dist = min(dist, best)\n", "")
    spec = load_spec_text(src, "bf_noref.dp")
    meta = {"report": {"fields": {"dist": {"transition_agreement": 1.0, "samples": 20000, "candidate_predicates": 9,
                                           "candidate_terms": 5}}},
            "provenance": {"config": {"max_depth": 3}}}
    student = make_student(spec, SHIPPED["bellman_ford"], meta)
    cert = certify(student)
    f = cert.fields["dist"]
    assert f.status == NO_REFERENCE and cert.exit_code == 0 and not cert.certified
    assert "it always selects one of its arguments (dist, best)" in f.properties
    assert "it never increases dist" in f.properties
    assert "it is monotone non-decreasing in dist, best" in f.properties
    assert f.pac is not None and 0 < f.pac.epsilon < 0.01
    text = render_certificate(cert)
    assert "nothing else is proven" in text and "with probability >= 0.95" in text
    wrong = make_student(spec, {"dist": (["dist < best"], ["best", "dist"], SPLIT)}, meta)
    props = certify(wrong).fields["dist"].properties
    assert "it never increases dist" not in props and "it never decreases dist" in props
    # a rule that is not a selection is not claimed to be one
    src_c = (src.replace("input edge w", "input node c : real\ninput edge w")
             .replace("unknown(dist, best)", "unknown(dist, best, c)") + "sample c uniform(0, 1)\n")
    plus = make_student(load_spec_text(src_c),
                        {"dist": ([], ["dist + c"], L0)}, meta)
    assert not any("selects" in p for p in certify(plus).fields["dist"].properties)


def test_pac_formula():
    assert log_class_size(0, 4, 3) == pytest.approx(math.log(4))
    assert log_class_size(3, 2, 1) == pytest.approx(math.log(2 + 3 * 4))
    assert log_class_size(3, 2, 2) == pytest.approx(math.log(2 + 3 * 14**2))
    assert kl(0.1, 0.1) == 0 and kl(0.0, 0.5) == pytest.approx(math.log(2))
    b = pac_bound(1.0, 10_000, 9, 5, 3, delta=0.05)
    assert b.epsilon == pytest.approx(1 - math.exp(-(b.log_class_size + math.log(20)) / 10_000), rel=1e-6)
    assert kl_upper(0.02, 0.001) > 0.02 and pac_bound(0.98, 10_000, 9, 5, 3).epsilon > b.epsilon
    assert pac_bound(1.0, 100_000, 9, 5, 3).epsilon < b.epsilon


# --- assume lines ---------------------------------------------------------------------------------


@pytest.mark.parametrize("line, msg", [
    ("assume alive : degree", "must be bool"),
    ("assume alive : alive or\n  degree < k", "line of its own"),
    ("assume dist : true", "not a state field"),
    ("assume alive : best", "unknown name 'best'"),
])
def test_bad_assume_lines(shipped, line, msg):
    src = shipped["kcore"].source.replace("assume alive : alive or degree < k", line)
    with pytest.raises(DslError, match=msg):
        load_spec_text(src)


def test_reached_args_cover_every_round(shipped):
    spec = shipped["reachability"]
    r = reached_args(spec, graphs=4, seed=0)
    assert r is not None and r.rows("reached") > 0
    true = typed_features(spec, "reached", ["reached or not reached"], []).predicates[0]
    assert violations(spec, "reached", true, r) == (0, None)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_compiled_shipped_students_verify(name, tmp_path):
    """The real pipeline: compile from the shipped teacher, then `dpdsl verify` exits 0."""
    out = tmp_path / name
    assert main(["compile", str(ROOT / "specs" / f"{name}.dp"), "--teacher",
                 str(ROOT / "teachers" / f"{name}.safetensors"), "-o", str(out), "--quiet"]) == 0
    assert main(["verify", str(out)]) == 0
