"""Argument values the reference DP actually reaches, from sampled trajectories: evidence (not proof)
for ``assume`` lines, and the test that tells "wrong on reachable values" from "wrong only outside"."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dpdsl.certify.encode import show, torch_eval
from dpdsl.domains.units import batch_any
from dpdsl.execute import run_reference
from dpdsl.expr import nodes as N
from dpdsl.ir import SpecIR
from dpdsl.sampling import sample_graphs

GRAPHS = 48
SEED = 20_013


@dataclass
class Reached:
    """Per field, every argument tuple its transition saw on ``graphs`` sampled reference runs."""

    graphs: int
    nodes: str
    args: dict[str, dict[str, torch.Tensor]]  # field -> argument -> [rows]

    def rows(self, field: str) -> int:
        return int(next(iter(self.args[field].values())).shape[0])


def reached_args(spec: SpecIR, graphs: int = GRAPHS, seed: int = SEED,
                 nodes: tuple[int, int] | None = None) -> Reached | None:
    """Run the reference on sampled graphs (the spec's ``sample`` section; ``None`` without one) and
    collect, per field, the arguments of every transition call of every round."""
    if spec.sample is None or any(st.reference is None for st in spec.states.values()):
        return None
    gs = sample_graphs(spec, graphs, seed, nodes=nodes)
    batch = batch_any(gs)
    res = run_reference(spec, batch, record=True)
    node = {} if spec.domain.indexed else batch.directed_view().node  # domain arguments: states, views
    out: dict[str, dict[str, torch.Tensor]] = {}
    for name, st in spec.states.items():
        cols: dict[str, list[torch.Tensor]] = {a: [] for a in st.args}
        for t, views in enumerate(res.view_trajectory):  # round t + 1 reads the state after round t
            state = res.trajectory[t]
            for a in st.args:
                cols[a].append(state[a] if a in state else views[a] if a in views else node[a])
        out[name] = {a: torch.cat(v) if v else torch.zeros(0) for a, v in cols.items()}
    lo, hi = nodes or spec.sample.nodes
    return Reached(graphs, f"{lo}..{hi}", out)


def violations(spec: SpecIR, field: str, e: N.Expr, reached: Reached) -> tuple[int, str | None]:
    """How many reached argument tuples make the bool expression ``e`` false, and the first one."""
    args = reached.args[field]
    if reached.rows(field) == 0:
        return 0, None
    ok = torch_eval(spec, e, args).to(torch.bool)
    bad = (~ok).nonzero().flatten()
    if not len(bad):
        return 0, None
    return int(len(bad)), describe_row(spec, field, args, int(bad[0]))


def describe_row(spec: SpecIR, field: str, args: dict[str, torch.Tensor], i: int) -> str:
    """Row ``i`` of an argument table as ``a = 1, b = inf``."""
    return ", ".join(f"{a} = {show(_item(args[a][i]), spec.arg_type(a))}" for a in spec.states[field].args)


def _item(x: torch.Tensor) -> bool | float:
    return bool(x) if x.dtype == torch.bool else float(x)
