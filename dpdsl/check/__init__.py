"""The checker: ``SpecAST`` -> ``SpecIR``, as a fixed sequence of passes over one ``CheckState``.

Each pass resolves one part of the spec (names, params, views and states, rounds, outputs, samples) and
raises one ``DslError`` pointing at the offending token; the order is the order in which errors are
reported, so it is part of the checker's behaviour. A declaration that no pass claims is refused, so a
new declaration kind cannot be dropped silently (``tests/test_decls.py``).
"""

from __future__ import annotations

from collections.abc import Callable

from dpdsl.check import domain, names, outputs, params, rounds, samples, states
from dpdsl.check.state import CheckState
from dpdsl.frontend import ast as A
from dpdsl.ir import SpecIR

PASSES: tuple[Callable[[CheckState], None], ...] = (
    names.check_duplicates,
    domain.check_domain,
    names.check_graph,
    names.declare_names,
    names.check_type_decls,
    names.declare_inputs,
    domain.check_domain_names,
    params.check_params,
    states.check_views,
    states.check_states,
    rounds.check_rounds,
    outputs.check_outputs,
    samples.check_samples,
)


def run_passes(spec: A.SpecAST) -> CheckState:
    """Run every pass over a fresh state and refuse declarations none of them consumed."""
    st = CheckState(spec)
    for check_pass in PASSES:
        check_pass(st)
    claimed = tuple(st.consumed)
    for d in spec.decls:
        if not isinstance(d, claimed):
            raise st.err(f"no checker pass handles {type(d).__name__} declarations", getattr(d, "pos", A.NOPOS))
    return st


def check(spec: A.SpecAST) -> SpecIR:
    """Check a parsed spec and return its typed IR (raises ``DslError``)."""
    return run_passes(spec).ir()
