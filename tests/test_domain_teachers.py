"""Teachers, distillation and students on index domains (issue 10 item 5, docs/architecture.md §7, §12).

* The aligned teacher's per-view aggregation over the engine's gather lists equals a plain loop over
  (i, j) and k (pairs: the triplet message from (i, k) and (k, j); intervals: i <= k < j with the reads
  outside the domain dropped), in one chunk and in many.
* The shipped Floyd-Warshall and LCS teachers compile into students that equal plain textbook
  implementations (written here) on random instances, at the training size and at 64 (default suite);
  the other shipped domain teachers are ``slow``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from dpdsl.api import load_spec
from dpdsl.domains.instance import SeqInstance
from dpdsl.graphs.core import Graph
from dpdsl.teachers import aligned_domain as AD
from dpdsl.teachers.common import encode_values
from dpdsl.teachers.config import TeacherConfig
from dpdsl.teachers.train import init_teacher

ROOT = Path(__file__).resolve().parents[1]


def _spec(name: str):
    return load_spec(ROOT / "specs" / f"{name}.dp")


def _fw_graph(n: int, seed: int, p: float = 0.4) -> Graph:
    rng = np.random.default_rng(seed)
    src, dst = np.nonzero(rng.random((n, n)) < p)
    w = rng.random(src.shape[0])
    return Graph(n, torch.tensor(np.stack([src, dst]), dtype=torch.long), True, {},
                 {"w": torch.tensor(w, dtype=torch.float64)})


def _messages(spec, net, data, view: str, cap: int, state: dict[str, torch.Tensor] | None = None):
    """The net's aggregation for ``view`` and everything a plain loop needs to recompute it."""
    p = AD.DomainPrepared(spec, data, net)
    st = state if state is not None else p.init
    sx = encode_values(st, net.state_fields, p.num_nodes)
    raw = net.raw(p, sx)
    x = torch.cat([net.encode(p, sx), raw], 1)
    v = list(spec.views).index(view)
    with torch.no_grad():
        got = net.message[v](x, raw, p, cap, v, net.views[v]["reduce"])
    return got, x, raw, net.message[v], p


def _plain(msg, x, raw, p, target: int, sources: list[list[int]], reduce: str) -> torch.Tensor:
    """One target's reduced message, from an explicit list of source tuples/positions per message."""
    rows = []
    for srcs in sources:
        pre = msg.me(x[target])
        vpre = msg.v_me(raw[target])
        lin = msg.lin_bias.clone()
        fixed = torch.zeros(())
        for r, ((site, name), s) in enumerate(zip(msg.reads, srcs, strict=True)):
            feats = x[s] if site == "tuple" else p.sources[(site, name)][s]
            rfeats = raw[s] if site == "tuple" else p.sources[(site, name)][s]
            pre = pre + msg.ops[r](feats)
            vpre = vpre + msg.v_ops[r](rfeats)
            lin = lin + msg.lin[r](raw[s][msg.lin_cols] if site == "tuple" else rfeats)
            fixed = fixed + rfeats[msg.value_col[r]]
        rows.append(torch.cat([msg.out(torch.relu(pre)), fixed.reshape(1), lin + msg.v_out(torch.relu(vpre))]))
    if not rows:
        return torch.zeros(msg.out.out_features + 1 + msg.v_out.out_features + 2)
    m = torch.stack(rows)
    red = {"amin": m.min(0).values, "amax": m.max(0).values, "sum": m.sum(0), "mean": m.mean(0)}[reduce]
    k = float(len(rows))
    return torch.cat([red, torch.tensor([math.log1p(k), 0.0])])


@pytest.mark.parametrize("cap", [1 << 15, 7])
def test_triplet_aggregation_equals_a_loop_over_k(cap: int) -> None:
    spec = _spec("floyd_warshall")
    torch.manual_seed(0)
    net = init_teacher(spec, TeacherConfig(hidden=16), samples=4).net
    n = 5
    g = _fw_graph(n, 3)
    ref = AD.run_reference(spec, g, record=True)  # a state with finite and infinite entries
    got, x, raw, msg, p = _messages(spec, net, [g], "via", cap, ref.trajectory[1])
    assert msg.reads == [("tuple", "dist"), ("tuple", "dist")]
    with torch.no_grad():
        for i in range(n):
            for j in range(n):
                want = _plain(msg, x, raw, p, i * n + j, [[i * n + k, k * n + j] for k in range(n)], "amin")
                assert torch.allclose(got[i * n + j], want, atol=1e-5), (i, j)
    # the fixed channel is the min-plus product exactly (scaled units; +inf sits at inf_value)
    d = torch.where(torch.isinf(ref.trajectory[1]["dist"]), torch.tensor(4.0 * net.state_fields[0].scale),
                    ref.trajectory[1]["dist"]).reshape(n, n) / net.state_fields[0].scale
    minplus = (d[:, :, None] + d[None, :, :]).min(1).values
    assert torch.allclose(got[:, 16].reshape(n, n), minplus.float(), atol=1e-6)


@pytest.mark.parametrize("cap", [1 << 15, 5])
def test_interval_split_aggregation_drops_reads_outside_the_domain(cap: int) -> None:
    spec = _spec("matrix_chain_order")
    torch.manual_seed(1)
    net = init_teacher(spec, TeacherConfig(hidden=16), samples=4).net
    n = 5
    x_in = SeqInstance((n,), {"p": torch.tensor([0.3, 0.9, 0.5, 0.2, 0.7], dtype=torch.float64)})
    got, x, raw, msg, p = _messages(spec, net, [x_in], "best", cap)
    ids = {ij: t for t, ij in enumerate((i, j) for i in range(n) for j in range(i, n))}  # row-major, i <= j
    assert [s for s, _ in msg.reads] == ["tuple", "tuple", "pos", "pos", "pos"]
    with torch.no_grad():
        for (i, j), t in ids.items():
            # m[i, k] + m[k + 1, j] + p[i - 1] * p[k] * p[j] over i <= k < j; row 0 reads p[-1]: no message
            srcs = [[ids[(i, k)], ids[(k + 1, j)], i - 1, k, j] for k in range(i, j)] if i > 0 else []
            want = _plain(msg, x, raw, p, t, srcs, "amin")
            if not srcs:
                want[-1] = 1.0  # the empty flag
            assert torch.allclose(got[t], want, atol=1e-5), (i, j)
