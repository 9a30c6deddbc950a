"""A small user GNN for the reachability spec: what "bring your own teacher" looks like.

Nothing here knows about dpdsl's teacher contract: the model takes a ``dpdsl.graphs.Graph``, runs an
encoder once and one shared message-passing layer ``steps`` times, and returns its outputs. The
adapter (``dpdsl.teachers.adapter``) records the outputs of ``encoder`` and ``layer`` with forward
hooks, so the distiller gets step 0 from the encoder and one embedding per layer application.
"""

from __future__ import annotations

import torch
from torch import nn


class Layer(nn.Module):
    """h_v <- MLP(h_v, max over in-edges u -> v of h_u)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden))

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        src, dst = edge_index
        idx = dst.unsqueeze(1).expand(-1, h.shape[1])
        agg = torch.zeros_like(h).scatter_reduce(0, idx, h[src], "amax", include_self=False)
        return h + self.mlp(torch.cat([h, agg], 1))


class ReachGNN(nn.Module):
    def __init__(self, hidden: int = 32, steps: int = 8) -> None:
        super().__init__()
        self.steps = steps
        self.encoder = nn.Linear(1, hidden)
        self.layer = Layer(hidden)
        self.readout = nn.Linear(hidden, 1)

    def logits(self, graph) -> torch.Tensor:
        h = self.encoder(graph.node["source"].float().unsqueeze(1))
        for _ in range(self.steps):
            h = self.layer(h, graph.edge_index)
        return self.readout(h)[:, 0]

    def forward(self, graph) -> dict[str, torch.Tensor]:
        return {"reached": self.logits(graph) > 0}
