"""``dpdsl eval``: accuracy of a student (and optionally a teacher) against the reference executor, per
graph size: per-node exact match, whole-graph exact match, and pointer accuracy for node-typed outputs.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import torch

from dpdsl.domains.units import batch_any, unit_graph
from dpdsl.execute import run_reference
from dpdsl.graphs.core import Graph
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs
from dpdsl.tolerances import close, exact_equal
from dpdsl.types import NODE


def score_outputs(spec: SpecIR, pred: dict[str, torch.Tensor], ref: dict[str, torch.Tensor], batch: Graph,
                  match=exact_equal) -> dict[str, Any]:
    """Node exact (all outputs), graph exact, per-output node accuracy and pointer accuracy; on an index
    domain per tuple and per instance (``batch`` is the run's input batch, a graph or a ``SeqBatch``)."""
    batch = unit_graph(spec, batch)
    all_ok = torch.ones(batch.num_nodes, dtype=torch.bool)
    per: dict[str, float] = {}
    pointer: dict[str, float] = {}
    for name, o in spec.outputs.items():
        ok = match(pred[name], ref[name])
        per[name] = round(ok.double().mean().item(), 6) if batch.num_nodes else 1.0
        if o.type.kind == NODE:
            pointer[name] = per[name]
        all_ok &= ok
    wrong = torch.zeros(batch.num_graphs, dtype=torch.long).index_add_(0, batch.node_batch(), (~all_ok).long())
    return {"node_exact": round(all_ok.double().mean().item(), 6), "graph_exact":
            round((wrong == 0).double().mean().item(), 6), "per_output": per, "pointer": pointer,
            "_ok": all_ok}


def evaluate_model(spec: SpecIR, run, sizes: list[int], *, graphs: int, seed: int, family: str | None = None,
                   family_args: dict[str, float] | None = None, match=exact_equal) -> list[dict[str, Any]]:
    """Score ``run(batch) -> outputs`` against the reference at each size (``graphs`` graphs per size)."""
    rows = []
    for n in sizes:
        gs = sample_graphs(spec, graphs, seed + n, nodes=(n, n), family=family, family_args=family_args)
        b = batch_any(gs)
        ref = run_reference(spec, b).outputs
        t0 = time.perf_counter()
        out = run(b)
        dt = time.perf_counter() - t0
        s = score_outputs(spec, out, ref, b, match)
        s.pop("_ok")
        rows.append({"nodes": n, "graphs": graphs, "edges": getattr(b, "num_edges", 0), "seconds": round(dt, 4), **s})
    return rows


def cli_main(args) -> int:
    from dpdsl.preflight import eval_sizes
    from dpdsl.seal import describe
    from dpdsl.student import load_student
    from dpdsl.teachers.load import needs_model, open_teacher

    student = load_student(args.student, allow_modified=args.allow_modified)
    spec = student.spec
    sizes = eval_sizes(args)
    teacher = (open_teacher(args.teacher, spec, trust_code=args.trust_code, modules=args.teacher_module)
               if args.teacher else None)  # before the slow part
    if teacher is not None:
        needs_model(teacher, args.teacher, "dpdsl eval (graphs of every size)")
    note = describe(student.seal_status, args.student)
    if note:
        print(note, file=sys.stderr)
    result: dict[str, Any] = {"spec": spec.name, "family": args.family or (spec.sample.family if spec.sample
                                                                              else None),
                              "student_seal": student.seal_status}
    result["student"] = evaluate_model(spec, lambda b: student.run(b).outputs, sizes, graphs=args.graphs,
                                       seed=args.seed, family=args.family)
    if teacher is not None:

        def trun(b):
            with torch.no_grad():
                return teacher.run(b).outputs

        result["teacher"] = evaluate_model(spec, trun, sizes, graphs=args.graphs, seed=args.seed,
                                           family=args.family, match=close)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{spec.name}: accuracy against the reference executor ({args.graphs} graphs per size, family "
          f"{result['family']})")
    if student.seal_status != "sealed":
        print(f"student: {student.seal_status} (see the warning above)")
    for who in ("student", "teacher"):
        if who not in result:
            continue
        print(f"\n{who}:")
        print("   nodes     edges  node exact  graph exact  " + "  ".join(f"{k:>10}" for k in spec.outputs)
              + "   seconds")
        for r in result[who]:
            print(f"  {r['nodes']:>6}  {r['edges']:>8}  {r['node_exact']:>10.4f}  {r['graph_exact']:>11.4f}  "
                  + "  ".join(f"{r['per_output'][k]:>10.4f}" for k in spec.outputs) + f"  {r['seconds']:>8.3f}")
    return 0
