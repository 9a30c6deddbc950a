"""The non-aligned zoo teacher: a dense graph transformer trained on final outputs only.

Every node attends to every node of its own graph (a batch is padded per graph; attention across
graphs is masked). The graph enters only through additive attention biases — one learned scalar per
head and layer for "j is a neighbour of i along relation r", for "j is i", and a linear map of the
edge inputs — so nothing in the architecture mirrors the DP's aggregation or rounds. It has a fixed
number of layers (its "steps" for the contract) and no per-step state heads (``states=None``): it is
the teacher on which the distiller's LRH diagnosis should look different from the aligned one.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dpdsl.graphs.core import Graph
from dpdsl.teachers.common import (
    FieldSpec,
    NetTeacher,
    TrainItem,
    cat_states,
    collate,
    decode_head,
    encode_values,
    head_loss,
)
from dpdsl.teachers.contract import TeacherOutput

ARCH = "transformer"


def _pad_index(batch: torch.Tensor, num_graphs: int) -> tuple[torch.Tensor, int]:
    """Position of every node inside its graph, and the largest graph size."""
    sizes = torch.bincount(batch, minlength=num_graphs)
    offsets = torch.cumsum(sizes, 0) - sizes
    pos = torch.arange(batch.shape[0]) - offsets[batch]
    return pos, int(sizes.max()) if sizes.numel() else 0


class TransformerNet(nn.Module):
    """Pre-LayerNorm transformer encoder with graph-structure attention biases."""

    def __init__(self, config: dict) -> None:
        super().__init__()
        hd = int(config["hidden"])
        self.hidden = hd
        self.num_layers = int(config["layers"])
        self.num_heads = int(config["heads"])
        self.state_fields = [FieldSpec.from_json(d) for d in config["state_fields"]]
        self.node_fields = [FieldSpec.from_json(d) for d in config["node_fields"]]
        self.edge_fields = [FieldSpec.from_json(d) for d in config["edge_fields"]]
        self.output_fields = [FieldSpec.from_json(d) for d in config["output_fields"]]
        self.relations: list[str] = list(config["relations"])
        self.pointers: dict[str, str] = dict(config["pointers"])
        dn = sum(f.width for f in self.node_fields)
        ds = sum(f.width for f in self.state_fields)
        de = sum(f.width for f in self.edge_fields)
        nl, nh = self.num_layers, self.num_heads
        self.encoder = nn.Sequential(nn.Linear(dn + ds, hd), nn.ReLU(), nn.Linear(hd, hd))
        self.ln1 = nn.ModuleList([nn.LayerNorm(hd) for _ in range(nl)])
        self.qkv = nn.ModuleList([nn.Linear(hd, 3 * hd) for _ in range(nl)])
        self.proj = nn.ModuleList([nn.Linear(hd, hd) for _ in range(nl)])
        self.ln2 = nn.ModuleList([nn.LayerNorm(hd) for _ in range(nl)])
        self.ffn = nn.ModuleList([nn.Sequential(nn.Linear(hd, 2 * hd), nn.ReLU(), nn.Linear(2 * hd, hd))
                                  for _ in range(nl)])
        # per relation: [adjacency bias per head and layer] + edge-input bias
        self.adj_bias = nn.Parameter(torch.zeros(len(self.relations), nl, nh))
        self.self_bias = nn.Parameter(torch.zeros(nl, nh))
        self.edge_bias = nn.Linear(de, nl * nh, bias=False) if de else None
        self.out_ln = nn.LayerNorm(hd)
        self.heads = nn.ModuleDict({
            f.name: nn.Sequential(nn.Linear(hd, hd), nn.ReLU(), nn.Linear(hd, f.head_width))
            for f in self.output_fields if f.name not in self.pointers
        })
        self.ptr_q = nn.ModuleDict({name: nn.Linear(hd, hd) for name in self.pointers})
        self.ptr_k = nn.ModuleDict({name: nn.Linear(hd, hd) for name in self.pointers})
        self.ptr_self = nn.Parameter(torch.zeros(len(self.pointers)))

    def _biases(self, edge_x: torch.Tensor, rel: dict[str, tuple[torch.Tensor, torch.Tensor]],
                batch: torch.Tensor, pos: torch.Tensor, g: int, m: int) -> torch.Tensor:
        """[layers, G, heads, m, m] additive attention bias (row = attending node)."""
        nl, nh = self.num_layers, self.num_heads
        bias = torch.zeros(nl, nh, g, m, m)
        for ri, r in enumerate(self.relations):
            nbr, me = rel[r]
            vals = self.adj_bias[ri].reshape(nl * nh, 1).expand(-1, nbr.shape[0])
            if self.edge_bias is not None:
                vals = vals + self.edge_bias(edge_x).T
            flat = bias.reshape(nl * nh, g * m * m)
            idx = batch[me] * m * m + pos[me] * m + pos[nbr]
            flat = flat.index_add(1, idx, vals)
            bias = flat.reshape(nl, nh, g, m, m)
        eye = torch.eye(m).reshape(1, 1, 1, m, m)
        bias = bias + self.self_bias.reshape(nl, nh, 1, 1, 1) * eye
        return bias.permute(0, 2, 1, 3, 4)

    def forward_layers(self, node_x: torch.Tensor, state_x: torch.Tensor, edge_x: torch.Tensor,
                       rel: dict[str, tuple[torch.Tensor, torch.Tensor]], batch: torch.Tensor,
                       num_graphs: int) -> list[torch.Tensor]:
        """Embeddings after the encoder and after every layer, each ``[N, hidden]``."""

        pos, m = _pad_index(batch, num_graphs)
        g, nh, hd = num_graphs, self.num_heads, self.hidden
        dh = hd // nh
        bias = self._biases(edge_x, rel, batch, pos, g, m)
        valid = torch.zeros(g, m, dtype=torch.bool)
        valid[batch, pos] = True
        key_mask = torch.where(valid, 0.0, -math.inf).reshape(g, 1, 1, m)
        h = self.encoder(torch.cat([node_x, state_x], 1))
        out = [h]
        for li in range(self.num_layers):
            x = self.ln1[li](h)
            pad = torch.zeros(g, m, 3 * hd)
            pad[batch, pos] = self.qkv[li](x)
            q, k, v = pad.reshape(g, m, 3, nh, dh).permute(2, 0, 3, 1, 4)
            att = (q @ k.transpose(-1, -2)) / math.sqrt(dh) + bias[li] + key_mask
            y = (att.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(g, m, hd)[batch, pos]
            h = h + self.proj[li](y)
            h = h + self.ffn[li](self.ln2[li](h))
            out.append(h)
        return out

    def pointer_logits(self, name: str, h: torch.Tensor, batch: torch.Tensor,
                       num_graphs: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """[G, m, m] scores of every node (row) for every node of its graph (column), and pad info."""
        pos, m = _pad_index(batch, num_graphs)
        hn = self.out_ln(h)
        q = torch.zeros(num_graphs, m, self.hidden)
        k = torch.zeros(num_graphs, m, self.hidden)
        q[batch, pos] = self.ptr_q[name](hn)
        k[batch, pos] = self.ptr_k[name](hn)
        valid = torch.zeros(num_graphs, m, dtype=torch.bool)
        valid[batch, pos] = True
        pi = list(self.pointers).index(name)
        s = q @ k.transpose(-1, -2) / math.sqrt(self.hidden) + self.ptr_self[pi] * torch.eye(m)
        s = s.masked_fill(~valid.unsqueeze(1), -math.inf)
        return s, pos, valid

    def pointer_loss(self, name: str, h: torch.Tensor, batch: torch.Tensor, offsets: torch.Tensor,
                     target_local: torch.Tensor) -> torch.Tensor:
        s, pos, _ = self.pointer_logits(name, h, batch, int(offsets.shape[0]))
        logits = s[batch, pos]
        return nn.functional.cross_entropy(logits, target_local.long())

    def output_head(self, name: str, h: torch.Tensor) -> torch.Tensor:
        return self.heads[name](self.out_ln(h))


class TransformerTeacher(NetTeacher):
    """A trained ``TransformerNet`` bound to its spec: implements the ``Teacher`` protocol."""

    arch = ARCH
    net_class = TransformerNet

    @torch.no_grad()
    def run(self, graph: Graph) -> TeacherOutput:
        net = self.net
        p = self.prepare(graph)
        sx = encode_values(p.init, net.state_fields, p.num_nodes)
        hs = net.forward_layers(p.node_x, sx, p.edge_x, p.rel, p.batch, p.num_graphs)
        outputs = {}
        for f in net.output_fields:
            if f.name in net.pointers:
                s, pos, _ = net.pointer_logits(f.name, hs[-1], p.batch, p.num_graphs)
                outputs[f.name] = s[p.batch, pos].argmax(1).to(torch.float64)
            else:
                outputs[f.name] = decode_head(net.output_head(f.name, hs[-1]), f)
        return TeacherOutput(outputs, hs, None)



def training_loss(teacher: TransformerTeacher, items: list[TrainItem], chunk: list[tuple[int, int]], cfg,
                  gen: torch.Generator) -> torch.Tensor:
    """Output-head losses from the init state (the transformer never sees a trajectory)."""
    net = teacher.net
    its = [items[g] for g, _ in chunk]
    b = collate(its, net.relations)
    sx = torch.cat([it.traj_x[0] for it in its])
    hs = net.forward_layers(b.node_x, sx, b.edge_x, b.rel, b.batch, b.num_graphs)
    outs = cat_states([it.outputs for it in its], [f.name for f in net.output_fields])
    loss = torch.zeros(())
    for f in net.output_fields:
        if f.name in net.pointers:
            loss = loss + net.pointer_loss(f.name, hs[-1], b.batch, b.offsets, outs[f.name])
        else:
            loss = loss + head_loss(net.output_head(f.name, hs[-1]), outs[f.name], f)
    return loss
