"""Train a plain torch-geometric Bellman-Ford model on per-round trajectories, wrap it, compile it.

    python examples/user_teacher/train_trajectories.py [--epochs 60] [--graphs 256] [--out DIR]

1. Trajectories: ``run_reference(spec, batch, record=True).trajectory`` is the DP state after init and
   after every round (graphs of a batch that finish early keep their state). Each (round t-1 -> round t)
   pair is one teacher-forced training sample, so the model learns the *transition*, not just the answer.
2. The model (``bf_model.py``) returns ``({"dist": ...}, states)``; dpdsl computes ``parent`` from the
   final decoded state with the spec's own output expression (docs/teachers.md, the contract).
3. Writes ``bf_gnn.safetensors`` and the adapter config ``bf_teacher.json`` to ``--out`` (default: next
   to this file), loads it back through dpdsl's teacher loader, evaluates it against the reference
   executor and compiles a student from it. The same model, without the adapter, is recorded as traces
   by ``record_traces.py``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from bf_model import BIG, BFTeacher  # noqa: E402

from dpdsl.api import load_spec  # noqa: E402
from dpdsl.execute import run_reference  # noqa: E402
from dpdsl.graphs import batch_graphs  # noqa: E402
from dpdsl.sampling import sample_graphs  # noqa: E402

SPEC = ROOT / "specs" / "bellman_ford.dp"


def trajectory_pairs(spec, graphs, batch_size: int = 32):
    """(batch, state of round t-1, state of round t) for every round of every batch, plus final -> final."""
    pairs = []
    for s in range(0, len(graphs), batch_size):
        b = batch_graphs(graphs[s:s + batch_size])
        traj = run_reference(spec, b, record=True).trajectory
        pairs += [(b, traj[t - 1]["dist"], traj[t]["dist"]) for t in range(1, len(traj))]
        pairs.append((b, traj[-1]["dist"], traj[-1]["dist"]))
    return pairs


def loss_fn(model: BFTeacher, b, prev: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
    _, value, inf_logit = model.round(b, prev, hard=False)
    inf = torch.isinf(nxt)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(inf_logit, inf.float())
    target = torch.where(inf, BIG, nxt).float()
    return loss + ((value - target)[~inf] ** 2).mean() * 10 if bool((~inf).any()) else loss


def train(spec, epochs: int, graphs: int, hidden: int, seed: int = 0) -> BFTeacher:
    torch.manual_seed(seed)
    model = BFTeacher(hidden)
    pairs = trajectory_pairs(spec, sample_graphs(spec, graphs, seed))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        total = 0.0
        for i in torch.randperm(len(pairs), generator=gen).tolist():
            loss = loss_fn(model, *pairs[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
        if epoch % 10 == 0 or epoch == epochs - 1:
            print(f"epoch {epoch + 1}/{epochs}: loss {total / len(pairs):.4f}", flush=True)
    return model.eval()


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--graphs", type=int, default=256)
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--compile-samples", type=int, default=256)
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from dpdsl.distill.pipeline import CompileConfig, compile_student
    from dpdsl.teachers.load import open_teacher
    from dpdsl.teachers.train import evaluate_teacher

    spec = load_spec(SPEC)
    model = train(spec, args.epochs, args.graphs, args.hidden)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if out.resolve() != HERE:
        shutil.copy(HERE / "bf_model.py", out / "bf_model.py")  # an adapter imports only a .py next to it
    save_file(model.state_dict(), out / "bf_gnn.safetensors")
    config = {"model": "bf_model.py:BFTeacher", "init_kwargs": {"hidden": args.hidden},
              "weights": "bf_gnn.safetensors", "embedding_modules": ["start", "step"]}
    (out / "bf_teacher.json").write_text(json.dumps(config, indent=2) + "\n")

    teacher = open_teacher(out / "bf_teacher.json", spec, trust_code=True)  # imports bf_model.py: our own file
    acc = evaluate_teacher(teacher, spec, graphs=100)
    print(f"teacher vs reference: node {acc['node_acc']:.4f} (dist {acc['per_output']['dist']:.4f}, parent "
          f"{acc['per_output']['parent']:.4f}), whole graph {acc['graph_acc']:.3f}")
    res = compile_student(spec, teacher, CompileConfig(samples=args.compile_samples))
    print(f"student rule: dist = {res.student.fields['dist'].rules}; faithful: {res.faithful}")
    for p in res.problems:
        print(f"  problem: {p}")
    return {"teacher": acc, "faithful": res.faithful, "rules": res.student.fields["dist"].rules}


if __name__ == "__main__":
    main()
