"""``dpdsl run`` on index domains: loading the run's inputs and printing per-tuple outputs as tables.

Outputs over pairs, grids and intervals print as nested lists, row-major (``out[i][j]``), sequences
as flat lists; entries outside the domain (intervals with i > j) are 0 / false; ``"inf"``/``"-inf"``
as for node outputs (docs/architecture.md §12).
"""

from __future__ import annotations

from typing import Any

import torch

from dpdsl.errors import UserError
from dpdsl.ir import SpecIR
from dpdsl.types import BOOL

SEQUENCE_DOMAINS = ("sequence", "grid", "intervals")


def load_inputs(spec: SpecIR, args: Any) -> list:
    """The instances or graphs a ``dpdsl run`` names, for a spec on a sequence domain."""
    from dpdsl.domains.instance import load_instances, sample_instances

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
