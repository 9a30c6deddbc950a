"""Stage ``verify``: the student against the teacher (held-out graphs at the training size) and against
the reference executor at every verified scale, with a shrunk smallest failing instance when it is not
exact (issue 14: a student exact in training and wrong at 4x must be named, not reported faithful).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from dpdsl.distill.config import CompileConfig
from dpdsl.domains.instance import SeqInstance, instance_to_json
from dpdsl.domains.units import batch_any, instance_size, unit_graph
from dpdsl.errors import GraphError
from dpdsl.evaluate import score_outputs
from dpdsl.execute import run_reference, to_jsonable
from dpdsl.graphs.core import Graph
from dpdsl.graphs.io import graph_to_json
from dpdsl.graphs.shrink import shrink
from dpdsl.graphs.validate import validate_graph
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs
from dpdsl.student import Student
from dpdsl.teachers.contract import Teacher
from dpdsl.tolerances import close, exact_equal


@dataclass
class Verification:
    """What verify found; ``report`` is the JSON section, the rest feeds the verdict."""

    report: dict[str, Any]
    disagreements: int  # held-out nodes where student and teacher outputs differ
    nodes: int  # held-out nodes compared
    counterexample: dict[str, Any] | None = None
    inexact: list[dict[str, Any]] = field(default_factory=list)  # reference rows below exact


def _training_nodes(spec: SpecIR) -> tuple[int, int]:
    return spec.sample.nodes if spec.sample else (4, 16)


def teacher_fidelity(spec: SpecIR, student: Student, teacher: Teacher, cfg: CompileConfig,
                     held: list[Graph]) -> Verification:
    """Output agreement with the teacher on the held-out graphs; with a reference, who is wrong where."""
    lo, hi = _training_nodes(spec)
    hb = batch_any(held)
    with torch.no_grad():
        tout = teacher.run(hb)
    sres = student.run(hb)
    fid = score_outputs(spec, sres.outputs, tout.outputs, hb, match=close)
    rep: dict[str, Any] = {"nodes": f"{lo}..{hi}", "graphs": len(held), "node_agreement": fid["node_exact"],
                           "per_output": fid["per_output"], "capped_graphs": int(sres.capped.sum())}
    dis = ~fid["_ok"]
    if all(st.reference is not None for st in spec.states.values()):
        # a user must be able to tell an unfaithful student from one distilled from an imperfect teacher
        ref = run_reference(spec, hb).outputs
        t_ok = score_outputs(spec, tout.outputs, ref, hb, match=close)
        s_ok = score_outputs(spec, sres.outputs, ref, hb)["_ok"]
        rep["teacher_vs_reference"] = t_ok["node_exact"]
        rep["disagreements"] = int(dis.sum())
        rep["disagreements_teacher_wrong_student_exact"] = int((dis & ~t_ok["_ok"] & s_ok).sum())
    return Verification({"fidelity": rep}, int(dis.sum()), int(dis.numel()))


def reference_check(spec: SpecIR, student: Student, cfg: CompileConfig, ver: Verification) -> None:
    """Exactness against the reference at each scale; fills ``ver`` (rows, inexact, counterexample)."""
    lo, hi = _training_nodes(spec)
    rows, failing = [], []
    for scale, count in zip(cfg.verify_scales, cfg.verify_graphs, strict=True):
        gs = sample_graphs(spec, count, cfg.stream("scale", scale), nodes=(lo * scale, hi * scale))
        b = batch_any(gs)
        ref = run_reference(spec, b)
        s = score_outputs(spec, student.run(b).outputs, ref.outputs, b)
        row = {"scale": scale, "nodes": f"{lo * scale}..{hi * scale}", "graphs": count,
               "node_exact": s["node_exact"], "graph_exact": s["graph_exact"], "per_output": s["per_output"],
               "capped_graphs": int(ref.capped.sum())}
        rows.append(row)
        if s["node_exact"] < 1.0:
            ver.inexact.append(row)
            units = unit_graph(spec, b)  # nodes, or the tuples of an index domain
            bad = torch.zeros(count, dtype=torch.long).index_add_(0, units.node_batch(), (~s["_ok"]).long())
            failing += [(scale, gs[i]) for i in torch.nonzero(bad).flatten().tolist()]
    ver.report["reference"] = rows
    if failing:
        scale, g = min(failing, key=lambda sg: (instance_size(sg[1]), getattr(sg[1], "num_edges", 0)))
        ver.counterexample = counterexample(spec, student, g, scale)


def round_cap_warnings(report: dict[str, Any]) -> list[str]:
    """Runs of verification that stopped on the round cap while states were still changing (issue 14)."""
    runs = [("the student on the held-out graphs", report["fidelity"])]
    runs += [(f"the reference at {r['scale']}x", r) for r in report.get("reference", [])]
    return [f"{what} stopped on its round cap while states were still changing in {r['capped_graphs']} of "
            f"{r['graphs']} graphs: the spec's 'rounds' may be too small" for what, r in runs if r["capped_graphs"]]


def _mismatch(spec: SpecIR, student: Student, g: Graph) -> tuple[str, int, Any, Any] | None:
    """The first (output, node, student value, reference value) where the two differ, if any."""
    st, ref = student.run(g).outputs, run_reference(spec, g).outputs
    for name, o in spec.outputs.items():
        bad = torch.nonzero(~exact_equal(st[name], ref[name])).flatten()
        if bad.numel():
            i = int(bad[0])
            return name, i, to_jsonable(st[name][i:i + 1], o.type.kind)[0], \
                to_jsonable(ref[name][i:i + 1], o.type.kind)[0]
    return None


def counterexample(spec: SpecIR, student: Student, g: Graph, scale: int) -> dict[str, Any]:
    """``g`` (a graph the student gets wrong) shrunk to a small valid graph that it still gets wrong."""
    if isinstance(g, SeqInstance):
        return _sequence_counterexample(spec, student, g, scale)

    def fails(cand: Graph) -> bool:
        try:
            cand = validate_graph(cand, kind=spec.graph_kind, node_inputs=spec.input_types("node"),
                                  edge_inputs=spec.input_types("edge"))
        except GraphError:  # a removal that breaks the spec's kind is just not a candidate
            return False
        return _mismatch(spec, student, cand) is not None

    small = shrink(g, fails)
    output, node, s_val, r_val = _mismatch(spec, student, small) or ("?", -1, None, None)
    return {"scale": scale, "found_in": {"nodes": g.num_nodes, "edges": g.num_edges},
            "nodes": small.num_nodes, "edges": small.num_edges, "output": output, "node": node,
            "student": s_val, "reference": r_val, "graph": graph_to_json(small)}


SHRINK_TRIES = 400


def _without(x: SeqInstance, axis: int, pos: int, spec: SpecIR) -> SeqInstance:
    """``x`` with position ``pos`` of sequence ``axis`` removed (from every input on that axis)."""
    lengths = list(x.lengths)
    lengths[axis] -= 1
    inputs = {k: (torch.cat([v[:pos], v[pos + 1:]]) if spec.domain.inputs[k].axis == axis else v)
              for k, v in x.inputs.items()}
    return SeqInstance(tuple(lengths), inputs)


def shrink_instance(spec: SpecIR, x: SeqInstance, fails) -> SeqInstance:
    """Greedy removal of positions (any axis, keeping one) while ``fails`` holds; at most
    ``SHRINK_TRIES`` candidates (the sequence analogue of ``graphs.shrink``)."""
    tries, progress = 0, True
    while progress and tries < SHRINK_TRIES:
        progress = False
        for axis, n in enumerate(x.lengths):
            pos = n - 1
            while pos >= 0 and x.lengths[axis] > 1 and tries < SHRINK_TRIES:
                cand = _without(x, axis, pos, spec)
                tries += 1
                if fails(cand):
                    x, progress = cand, True
                pos = min(pos - 1, x.lengths[axis] - 1)
    return x


def _sequence_counterexample(spec: SpecIR, student: Student, x: SeqInstance, scale: int) -> dict[str, Any]:
    small = shrink_instance(spec, x, lambda cand: _mismatch(spec, student, cand) is not None)
    output, tup, s_val, r_val = _mismatch(spec, student, small) or ("?", -1, None, None)
    return {"scale": scale, "found_in": {"nodes": instance_size(x), "edges": 0},
            "nodes": instance_size(small), "edges": 0, "output": output, "node": tup,
            "student": s_val, "reference": r_val, "instance": instance_to_json(spec, small)}


def describe_counterexample(cx: dict[str, Any]) -> str:
    """One line for the report: where the student is wrong, on the smallest instance found."""
    if "instance" in cx:
        return (f"{cx['output']}: the student differs from the reference at {cx['scale']}x; smallest failing "
                f"instance found: total length {cx['nodes']} "
                f"(shrunk from {cx['found_in']['nodes']}), tuple {cx['node']}: student {cx['student']}, reference "
                f"{cx['reference']} (the whole instance is in report.json: verification.counterexample)")
    g = cx["graph"]
    edges = " ".join(f"{u}->{v}" if g["directed"] else f"{u}-{v}" for u, v in g["edges"])
    shown = f"; edges: {edges}" if len(g["edges"]) <= 24 else ""
    return (f"{cx['output']}: the student differs from the reference at {cx['scale']}x; smallest failing instance "
            f"found: {cx['nodes']} nodes, {cx['edges']} edges (shrunk from {cx['found_in']['nodes']} nodes), "
            f"node {cx['node']}: student {cx['student']}, reference {cx['reference']}{shown} "
            "(the whole instance is in report.json: verification.counterexample)")
