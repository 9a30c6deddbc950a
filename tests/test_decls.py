"""Declarations: every declaration class is built by the parser from a sample spec line and consumed by
the checker (removing the line changes the checked result), and a declaration no checker pass claims is
refused instead of being dropped silently."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dpdsl.check import check, run_passes
from dpdsl.errors import DslError
from dpdsl.frontend import ast as A
from dpdsl.frontend.parser import parse

# one line per declaration class, with fields the parser must fill from it
SAMPLES: dict[type[A.Decl], tuple[str, dict[str, Any]]] = {
    A.GraphDecl: ("graph directed", {"kind": "directed"}),
    A.InputDecl: ("input edge w : real >= 0", {"name": "w", "site": "edge"}),
    A.ParamDecl: ("param k : int = 1", {"name": "k"}),
    A.StateDecl: ("state dist : real", {"name": "dist"}),
    A.InitDecl: ("init dist = if source then 0 else inf", {"name": "dist"}),
    A.ViewDecl: ("view best = min over in-edges u -> v : dist[u] + w[u, v]", {"name": "best"}),
    A.TransitionDecl: ("transition dist = unknown(dist, best)", {"name": "dist"}),
    A.ReferenceDecl: ("reference dist = min(dist, best)", {"name": "dist"}),
    A.PredicateDecl: ("predicate dist : best < dist", {"name": "dist"}),
    A.TermDecl: ("term dist : best", {"name": "dist"}),
    A.AssumeDecl: ("assume dist : dist >= 0", {"name": "dist"}),
    A.RoundsDecl: ("rounds n - k until fixpoint", {"fixpoint": True}),
    A.OutputDecl: ("output dist", {"name": "dist", "expr": None}),
    A.SampleGraphDecl: ("sample graph er(p = 0.5) nodes 4..16", {"family": "er", "lo": 4, "hi": 16}),
    A.SampleInputDecl: ("sample w uniform(0, 1)", {"name": "w", "sampler": "uniform"}),
}
REST = ["input node source : bool", "sample source one_hot"]  # what the sample lines need besides
LINES = ["problem p", *REST[:1], *(line for line, _ in SAMPLES.values()), *REST[1:]]
SPEC = "\n".join(LINES) + "\n"
# declarations of index domains (docs/architecture.md §12), sampled in a sequence spec of their own
SEQ_SAMPLES: dict[type[A.Decl], tuple[str, dict[str, Any]]] = {
    A.DomainDecl: ("domain sequence", {"kind": "sequence"}),
    A.SampleLengthDecl: ("sample length 4..16", {"lo": 4, "hi": 16}),
}
SEQ_LINES = ["problem s", "domain sequence", "input x[i] : real", "state e[i] : real", "init e = 0",
             "view prev = max over prev k : e[k]", "view xi = max over at : x[i]",
             "transition e = unknown(prev, xi)", "reference e = max(xi, prev + xi)", "rounds n until fixpoint",
             "output e", "sample length 4..16", "sample x uniform(-1, 1)"]
SEQ_SPEC = "\n".join(SEQ_LINES) + "\n"
ALL_SAMPLES = {**SAMPLES, **SEQ_SAMPLES}


def _spec_of(cls: type[A.Decl]) -> tuple[list[str], str]:
    return (SEQ_LINES, SEQ_SPEC) if cls in SEQ_SAMPLES else (LINES, SPEC)


def _declaration_classes() -> set[type[A.Decl]]:
    """Every dataclass below ``Decl`` in ``dpdsl.frontend.ast`` (the abstract ``NamedDecl`` aside)."""
    out: set[type[A.Decl]] = set()
    todo = [A.Decl]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            todo.append(sub)
            if sub.__module__ == A.__name__ and sub is not A.NamedDecl:
                out.add(sub)
    return out


def test_every_declaration_class_is_listed_and_has_a_sample_line() -> None:
    assert _declaration_classes() == set(A.DECL_KINDS) == set(ALL_SAMPLES)
    for cls in A.DECL_KINDS:
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, cls  # type: ignore[attr-defined]
        assert cls.KEYWORD, f"{cls.__name__} has no KEYWORD for messages"


def test_sample_spec_checks() -> None:
    spec = check(parse(SPEC, "decls.dp"))
    assert spec.states["dist"].predicates and spec.states["dist"].terms and spec.sample is not None


@pytest.mark.parametrize("cls", A.DECL_KINDS, ids=lambda c: c.__name__)
def test_parser_builds_and_checker_consumes(cls: type[A.Decl]) -> None:
    line, want = ALL_SAMPLES[cls]
    LINES, SPEC = _spec_of(cls)
    lineno = LINES.index(line) + 1
    ast = parse(SPEC, "decls.dp")
    (d,) = [d for d in ast.decls if d.pos.line == lineno]
    assert type(d) is cls, f"{line!r} parsed as {type(d).__name__}"
    assert (d.pos.line, d.pos.column) == (lineno, 1)
    for field, value in want.items():
        assert getattr(d, field) == value, (field, getattr(d, field))
    st = run_passes(ast)
    assert cls in st.consumed, f"no checker pass takes {cls.__name__}"
    # consumed means used: without the line the spec is refused or checks to a different IR
    without = "\n".join(x for i, x in enumerate(LINES) if i != lineno - 1) + "\n"
    try:
        other = check(parse(without, "decls.dp"))
    except DslError:
        return
    same_text = dataclasses.replace(other, source=SPEC)  # the IR records its text: compare the rest
    assert same_text != st.ir(), f"removing {line!r} changes nothing: the checker ignores {cls.__name__}"


@dataclasses.dataclass(frozen=True)
class Stray(A.Decl):
    """A declaration kind no checker pass knows (as a plugin's ``AST_RULES`` could build)."""


def test_a_declaration_no_pass_consumes_is_refused() -> None:
    ast = parse(SPEC, "decls.dp")
    stray = Stray(A.Pos(3, 1))
    with pytest.raises(DslError) as info:
        check(dataclasses.replace(ast, decls=(*ast.decls, stray)))
    assert "no checker pass handles Stray declarations" in info.value.message
    assert (info.value.line, info.value.column) == (3, 1)
