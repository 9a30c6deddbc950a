"""A Bellman-Ford teacher written with plain torch-geometric layers: what a user brings.

Nothing here knows about dpdsl's teacher contract. One round of the model: encode the current
distance estimate of every node, pass messages along the edges with a min-aggregation
(``torch_geometric.nn.MessagePassing``), and decode the next estimate by *selecting* between the
node's own value and the best incoming candidate (a selection head keeps values exact; a regression head
drifts round after round). ``forward`` returns ``({"dist": ...}, states)``: the per-round decoded states
let dpdsl compute the ``parent`` output itself with the spec's own expression, so the model never
needs a pointer head. The adapter (``bf_teacher.json``) records the outputs of ``start`` (step 0) and
``step`` (one call per round) as the per-step embeddings.
"""

from __future__ import annotations

import torch
from torch import nn
from torch_geometric.nn import MessagePassing

BIG = 8.0  # what an unreachable (inf) distance looks like inside the network


def state_features(source: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
    """[source, dist is inf, dist (0 where inf)] per node."""
    inf = torch.isinf(dist)
    return torch.stack([source.float(), inf.float(), torch.where(inf, 0.0, dist).float()], 1)


class MinConv(MessagePassing):
    """Messages MLP(x_u, w_uv) plus the raw candidate dist[u] + w, min-aggregated at v."""

    def __init__(self, hidden: int) -> None:
        super().__init__(aggr="min")
        self.mlp = nn.Sequential(nn.Linear(hidden + 1, hidden), nn.ReLU(), nn.Linear(hidden, hidden))

    def forward(self, z, raw, edge_index, w):
        return self.propagate(edge_index, z=z, raw=raw, w=w)

    def message(self, z_j, raw_j, w):
        cand = torch.where(raw_j[:, 1] > 0, torch.full_like(w, BIG), raw_j[:, 2] + w)
        return torch.cat([self.mlp(torch.cat([z_j, w.unsqueeze(1)], 1)), cand.unsqueeze(1)], 1)


class Step(nn.Module):
    """One DP round: state features -> embedding h (what the distiller probes) and the best candidate."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.enc = nn.Linear(3, hidden)
        self.conv = MinConv(hidden)
        self.upd = nn.Sequential(nn.Linear(2 * hidden + 4, hidden), nn.Tanh())

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        z = torch.relu(self.enc(x))
        m = self.conv(z, x, edge_index, w)
        n = x.shape[0]
        has_in = torch.zeros(n).index_add_(0, edge_index[1], torch.ones(edge_index.shape[1])) > 0
        m = torch.where(has_in.unsqueeze(1), m, torch.cat([torch.zeros(n, m.shape[1] - 1), torch.full((n, 1), BIG)], 1))
        h = self.upd(torch.cat([z, m[:, :-1], x, m[:, -1:]], 1))
        return torch.cat([h, m[:, -1:]], 1)  # the last column carries the candidate value itself


class BFTeacher(nn.Module):
    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.start = nn.Linear(3, hidden + 1)
        self.step = Step(hidden)
        self.choose = nn.Linear(hidden + 1, 2)  # logits: keep own value / take the candidate
        self.unreached = nn.Linear(hidden + 1, 1)

    def decode(self, h: torch.Tensor, dist: torch.Tensor, hard: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Next distance: a (soft or hard) choice between the own value and the candidate; inf logit."""
        own = torch.where(torch.isinf(dist), torch.full_like(dist, BIG), dist).float()
        vals = torch.stack([own, h[:, -1]], 1)
        p = torch.softmax(self.choose(h), 1)
        if hard:
            p = nn.functional.one_hot(p.argmax(1), 2).float()
        return (p * vals).sum(1), self.unreached(h)[:, 0]

    def round(self, graph, dist: torch.Tensor, hard: bool):
        x = state_features(graph.node["source"], dist)
        h = self.step(x, graph.edge_index, graph.edge["w"].float())
        value, inf_logit = self.decode(h, dist, hard)
        return h, value, inf_logit

    @torch.no_grad()
    def forward(self, graph):
        source = graph.node["source"]
        dist = torch.where(source, 0.0, torch.inf).double()
        self.start(state_features(source, dist))  # step-0 embedding (recorded by the adapter)
        states = [{"dist": dist}]
        sizes = graph.graph_sizes() if graph.batch is not None else torch.tensor([graph.num_nodes])
        for _ in range(int(sizes.max()) - 1):  # the spec's round cap n - 1, stopping at a fixpoint
            _, value, inf_logit = self.round(graph, dist, hard=True)
            new = torch.where(inf_logit > 0, torch.inf, value.double())
            states.append({"dist": new})
            if torch.equal(new, dist):
                break
            dist = new
        return {"dist": states[-1]["dist"]}, states
