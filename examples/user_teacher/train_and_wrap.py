"""Train the example model briefly, save its weights as safetensors, then use it as a dpdsl teacher.

    python examples/user_teacher/train_and_wrap.py

Writes ``reach_gnn.safetensors`` and ``teacher.json`` (the adapter config) next to this file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from model import ReachGNN  # noqa: E402

from dpdsl.api import load_spec  # noqa: E402
from dpdsl.execute import run_reference  # noqa: E402
from dpdsl.graphs import batch_graphs  # noqa: E402
from dpdsl.sampling import sample_graphs  # noqa: E402
from dpdsl.teachers.adapter import load_user_teacher_config  # noqa: E402
from dpdsl.teachers.train import evaluate_teacher  # noqa: E402


def main(epochs: int = 150) -> None:
    torch.manual_seed(0)
    spec = load_spec(ROOT / "specs" / "reachability.dp")
    model = ReachGNN(hidden=32, steps=8)
    graphs = sample_graphs(spec, 256, seed=0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(epochs):
        batch = batch_graphs(graphs[(epoch * 32) % 256:(epoch * 32) % 256 + 32])
        target = run_reference(spec, batch).outputs["reached"].float()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model.logits(batch), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    save_file(model.state_dict(), HERE / "reach_gnn.safetensors")
    config = {"model": "model.py:ReachGNN", "init_kwargs": {"hidden": 32, "steps": 8},
              "weights": "reach_gnn.safetensors", "embedding_modules": ["encoder", "layer"]}
    (HERE / "teacher.json").write_text(json.dumps(config, indent=2) + "\n")

    # trust_code: loading imports model.py, i.e. runs it (this is our own file)
    teacher = load_user_teacher_config(HERE / "teacher.json", spec, trust_code=True)
    out = teacher.run(graphs[0])
    print(f"{len(out.embeddings)} embeddings (encoder + {len(out.embeddings) - 1} layer calls), "
          f"each {tuple(out.embeddings[0].shape)}")
    acc = evaluate_teacher(teacher, spec, graphs=100)
    print(f"per-node accuracy {acc['node_acc']:.3f}, whole-graph {acc['graph_acc']:.3f}")


if __name__ == "__main__":
    main()
