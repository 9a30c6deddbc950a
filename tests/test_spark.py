"""The Spark engine (``dpdsl run --engine spark``, ``dpdsl.spark_engine``) equals the torch engine bit
for bit: every shipped spec's reference DP on a small graph of its family (with isolated nodes), a
random-tree student, and the CLI on a student directory. One local[2] SparkSession for the session;
graphs are small because every Spark round is a few jobs (seconds each on 2 shared cores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bits import same_bits
from clihelp import SPECS, cli
from students import random_student, reference_student
from test_frontier import with_isolated

from dpdsl.api import load_spec, load_spec_text
from dpdsl.errors import UserError
from dpdsl.execute import RunResult, run_reference
from dpdsl.graphs import save_graph
from dpdsl.sampling import sample_graphs
from dpdsl.student import dumps_student

pytest.importorskip("pyspark", reason="pyspark is not installed: pip install 'dpdsl[spark]' to run the Spark tests")
pytest.importorskip("pyarrow", reason="pyarrow is not installed: pip install 'dpdsl[spark]' to run the Spark tests")

from dpdsl import spark_engine as se  # noqa: E402

ALL = sorted(p.stem for p in SPECS.glob("*.dp") if "\ndomain " not in p.read_text())  # node specs
DOMAIN_SPECS = sorted(p.stem for p in SPECS.glob("*.dp") if "\ndomain " in p.read_text())


@pytest.fixture(scope="session")
def spark():
    s = se.session("local[2]")
    yield s
    s.stop()


def assert_same(a: RunResult, b: RunResult) -> None:
    assert int(a.rounds[0]) == int(b.rounds[0])
    for k in b.outputs:
        assert same_bits(a.outputs[k], b.outputs[k]), (k, a.outputs[k], b.outputs[k])
    for k in b.final_state:
        assert same_bits(a.final_state[k], b.final_state[k]), k


@pytest.mark.parametrize("name", ALL)
def test_reference_dp_equals_torch(spark, name: str) -> None:
    spec = load_spec(SPECS / f"{name}.dp")
    g = with_isolated(sample_graphs(spec, 1, 17, nodes=(8, 12))[0], 2)
    assert_same(se.run_spark(spark, spec, g, se.reference_transitions(spec)), run_reference(spec, g))


@pytest.mark.parametrize("name", ["mwis_tree", "widest_path"])
def test_random_tree_student_equals_torch(spark, name: str) -> None:
    """Several splits per tree; mwis_tree sums reals (edge-ordered fold), widest_path mixes min/max."""
    spec = load_spec(SPECS / f"{name}.dp")
    student = random_student(spec, seed=2)
    g = sample_graphs(spec, 1, 5, nodes=(10, 14))[0]
    assert_same(se.run_spark(spark, spec, g, se.student_transitions(student), max_rounds=6),
                student.run(g, max_rounds=6))


def test_cli_engine_spark_on_a_student_dir(spark, tmp_path: Path) -> None:
    spec = load_spec(SPECS / "bellman_ford.dp")
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "student.json").write_text(dumps_student(reference_student(spec).to_json()))
    save_graph(sample_graphs(spec, 1, 3, nodes=(10, 10))[0], tmp_path / "g.npz")
    a = cli("run", tmp_path / "s", "--graph", tmp_path / "g.npz", "--json", "--engine", "spark")
    b = cli("run", tmp_path / "s", "--graph", tmp_path / "g.npz", "--json")
    assert a.code == 0 and b.code == 0, (a.err, b.err)
    assert json.loads(a.out) == json.loads(b.out)


def test_spark_backend_handles_every_node_kind() -> None:
    from dpdsl.expr import nodes as N
    from dpdsl.expr.spark_backend import SparkColumns

    for kind in N.NODE_KINDS:
        assert callable(getattr(SparkColumns, "visit_" + kind.__name__, None)), kind.__name__


@pytest.mark.parametrize("name", DOMAIN_SPECS)
def test_index_domain_specs_are_refused_with_the_reason(spark, name: str) -> None:
    """Index-domain specs run on torch only: the library and the CLI both say so, exit 2, one line."""
    spec = load_spec(SPECS / f"{name}.dp")
    assert spec.domain.kind in (se.why_not_on_spark(spec) or "")
    with pytest.raises(UserError, match="index domain"):
        se.SparkRun(spark, spec, None, {})  # type: ignore[arg-type]
    r = cli("run", SPECS / f"{name}.dp", "--sample", "2", "--engine", "spark")
    assert r.code == 2 and len(r.lines) == 1 and "index domain" in r.err, r.err


@pytest.mark.parametrize("seed", [11, 12])
def test_global_aggregates_and_views_of_views_equal_torch(spark, seed: int) -> None:
    """``all`` relations (one group per graph, read by every node; argmax ties to the smallest id) and
    views reading views: the issue-14 spec of tests/test_language.py, bit-equal to torch."""
    from test_language import GLOBAL

    spec = load_spec_text(GLOBAL, "g.dp")
    assert se.why_not_on_spark(spec) is None and list(spec.views) == ["best", "clash", "odd", "deg", "top"]
    g = with_isolated(sample_graphs(spec, 1, seed, nodes=(9, 12))[0], 1)
    assert_same(se.run_spark(spark, spec, g, se.reference_transitions(spec)), run_reference(spec, g))
