"""``dpdsl run``: a spec's reference DP or a compiled student on graphs, instances or samples.

Node specs print per-node outputs (or one JSON object per graph); index-domain specs go to
``dpdsl.commands.run_domain``. ``--engine spark`` runs node specs on PySpark (``dpdsl.spark_engine``).
A run that stops on its round cap while states still change prints one warning line on stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dpdsl.errors import UserError
from dpdsl.ir import SpecIR

# (outputs by name, rounds, capped) for one graph
Run = tuple[dict[str, Any], int, bool]


def run_main(args: Any) -> int:
    from dpdsl.preflight import check_run_args

    check_run_args(args)
    spec, student = _load_target(args)
    if args.engine == "spark":
        from dpdsl.spark_engine import why_not_on_spark

        if reason := why_not_on_spark(spec):
            raise UserError(f"--engine spark cannot run {spec.name}: {reason} (use the default torch engine)")
    if spec.domain.indexed:
        from dpdsl.commands.run_domain import run_domain

        return run_domain(spec, student, args)
    if args.instance:
        raise UserError(f"{args.target}: --instance is for sequence domains; this spec runs on --graph")
    graphs = graphs_of(spec, args)
    runs, warning = (_spark_runs(args, spec, student, graphs) if args.engine == "spark"
                     else _torch_runs(args, spec, student, graphs))
    if warning:
        print(f"dpdsl: warning: {warning}", file=sys.stderr)
    _print_runs(args, spec, graphs, runs)
    return 0


def _load_target(args: Any) -> tuple[SpecIR, Any]:
    """The spec and the student (None for a ``.dp`` target); a student's seal note goes to stderr."""
    from dpdsl.api import load_spec

    target = Path(args.target)
    if not target.is_dir():
        return load_spec(target), None
    from dpdsl.seal import describe
    from dpdsl.student import load_student

    student = load_student(target, allow_modified=args.allow_modified)
    note = describe(student.seal_status, str(target / "student.json"))
    if note:
        print(note, file=sys.stderr)
    return student.spec, student


def graphs_of(spec: SpecIR, args: Any) -> list:
    """The validated ``--graph`` file, or ``--sample N`` graphs drawn with ``--seed``."""
    if not args.graph:
        from dpdsl.sampling import sample_graphs

        return sample_graphs(spec, args.sample, args.seed)
    from dpdsl.graphs.io import load_graph
    from dpdsl.graphs.validate import validate_graph

    return [validate_graph(load_graph(args.graph), kind=spec.graph_kind, node_inputs=spec.input_types("node"),
                           edge_inputs=spec.input_types("edge"), symmetrize=args.symmetrize, name=args.graph)]


def _torch_runs(args: Any, spec: SpecIR, student: Any, graphs: list) -> tuple[list[Run], str | None]:
    """All graphs as one batch on the torch engine."""
    from dpdsl.execute import round_cap_warning, run_reference
    from dpdsl.graphs.core import batch_graphs, unbatch_nodes

    batch = batch_graphs(graphs)
    res = (student.run(batch, max_rounds=args.max_rounds) if student is not None
           else run_reference(spec, batch, max_rounds=args.max_rounds))
    runs = [({k: unbatch_nodes(v, batch)[i] for k, v in res.outputs.items()}, int(res.rounds[i]),
             bool(res.capped[i])) for i in range(len(graphs))]
    return runs, round_cap_warning(res)


def _spark_runs(args: Any, spec: SpecIR, student: Any, graphs: list) -> tuple[list[Run], str | None]:
    """Each graph on Spark (``dpdsl.spark_engine``)."""
    from dpdsl import spark_engine as se

    spark = se.session(args.spark_master)
    trans = se.student_transitions(student) if student is not None else se.reference_transitions(spec)
    runs = []
    for g in graphs:
        res = se.run_spark(spark, spec, g, trans, max_rounds=args.max_rounds)
        runs.append((res.outputs, int(res.rounds[0]), bool(res.capped[0])))
    hit = [i for i, r in enumerate(runs) if r[2]]
    return runs, (f"graph {hit[0]} stopped on its round cap while states were still changing" if hit else None)


def _print_runs(args: Any, spec: SpecIR, graphs: list, runs: list[Run]) -> None:
    from dpdsl.execute import to_jsonable

    results = [{"outputs": {name: to_jsonable(outputs[name], o.type.kind) for name, o in spec.outputs.items()},
                "rounds": rounds, "capped": capped} for outputs, rounds, capped in runs]
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
        return
    for i, r in enumerate(results):
        head = f"graph {i}: " if len(results) > 1 else ""
        print(f"{head}{graphs[i].num_nodes} nodes, {graphs[i].num_edges} edges, {r['rounds']} rounds")
        for name, vals in r["outputs"].items():
            print(f"  {name}: {' '.join(str(v) for v in vals)}")
