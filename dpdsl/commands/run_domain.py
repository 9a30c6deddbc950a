"""``dpdsl run`` on index domains: loading the run's inputs and printing per-tuple outputs as tables.

Outputs over pairs, grids and intervals print as nested lists, row-major (``out[i][j]``), sequences
as flat lists; entries outside the domain (intervals with i > j) are 0 / false; ``"inf"``/``"-inf"``
as for node outputs (docs/architecture.md §12).
"""

from __future__ import annotations

import json
from typing import Any

import torch

from dpdsl.errors import UserError
from dpdsl.ir import SpecIR
from dpdsl.types import BOOL

SEQUENCE_DOMAINS = ("sequence", "grid", "intervals")


def run_domain(spec: SpecIR, student: Any, args: Any) -> int:
    """``dpdsl run`` on an index domain: outputs print as row-major tables (JSON: nested lists)."""
    from dpdsl.execute import run_reference

    items = load_inputs(spec, args)
    res = (student.run(items, max_rounds=args.max_rounds) if student is not None
           else run_reference(spec, items, max_rounds=args.max_rounds))
    results = [{"outputs": tables(spec, res, b), "rounds": int(res.rounds[b])} for b in range(len(items))]
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results))
        return 0
    for b, r in enumerate(results):
        head = f"instance {b}: " if len(results) > 1 else ""
        print(f"{head}{describe(spec, items[b])}, {r['rounds']} rounds")
        for name, vals in r["outputs"].items():
            rows = vals if vals and isinstance(vals[0], list) else [vals]
            print(f"  {name}:")
            for row in rows:
                print("    " + " ".join(str(v) for v in row))
    return 0


def load_inputs(spec: SpecIR, args: Any) -> list:
    """The graphs (pairs) or sequence instances a ``dpdsl run`` names."""
    from dpdsl.domains.instance import load_instances, sample_instances

    if spec.domain.kind == "pairs":
        if args.instance:
            raise UserError(f"{args.target}: a pairs spec runs on a graph; pass --graph FILE")
        from dpdsl.commands.run import graphs_of

        return graphs_of(spec, args)
    if args.graph:
        raise UserError(f"{spec.filename}: a {spec.domain.kind} spec runs on sequence instances; "
                        "pass --instance FILE (JSON, see docs/architecture.md §12)")
    if args.instance:
        return load_instances(spec, args.instance)
    return sample_instances(spec, args.sample, args.seed)


def nested(values: torch.Tensor, kind: str) -> list:
    """A table (1-D or 2-D) as nested JSON lists in the executor's value encoding."""
    from dpdsl.execute import to_jsonable

    if values.dim() == 1:
        return to_jsonable(values, kind)
    return [to_jsonable(row, kind) for row in values]


def tables(spec: SpecIR, res: Any, b: int) -> dict[str, list]:
    """Instance ``b``'s outputs as tables."""
    out = {}
    for name, o in spec.outputs.items():
        kind = o.type.kind
        fill: float | bool = False if kind == BOOL else 0.0
        out[name] = nested(res.layout.unflatten(res.outputs[name], b, fill), kind)
    return out


def describe(spec: SpecIR, item: Any) -> str:
    """One-line size of an instance for the text output."""
    if spec.domain.kind == "pairs":
        return f"{item.num_nodes} nodes, {item.num_edges} edges"
    return " x ".join(str(n) for n in item.lengths) + " positions"
