"""Record traces from a torch model without the adapter: the recipe any framework can follow.

    python examples/user_teacher/record_traces.py [--weights DIR/bf_gnn.safetensors] [-o bf.traces.safetensors]
    dpdsl compile specs/bellman_ford.dp --teacher bf.traces.safetensors

Steps (docs/teachers.md, "Recorded traces"; a JAX/Haiku model does the same with its own arrays):

1. the instances: ``compile_instances(spec, CompileConfig(seed=...))`` are the graphs ``dpdsl compile``
   would sample (or write them out with ``dpdsl.graphs.io.save_graph`` and read them elsewhere);
2. run the model on each instance and keep, per instance, the per-step node embeddings
   ``[K + 1, n, m]`` and the per-step decoded states ``[K + 1, n]`` (no ``parent`` output: dpdsl
   computes it from the final state);
3. ``split_from_instances`` pads and concatenates them; ``save_traces`` writes the file.

The model here is ``bf_model.BFTeacher`` trained by ``train_trajectories.py``; its embeddings are
read straight from its ``start`` / ``step`` calls, with no hooks and nothing from dpdsl's adapter.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from bf_model import BFTeacher, state_features  # noqa: E402

from dpdsl.api import load_spec  # noqa: E402
from dpdsl.distill.pipeline import CompileConfig, compile_instances  # noqa: E402
from dpdsl.teachers.traces import save_traces, split_from_instances  # noqa: E402


@torch.no_grad()
def trace_one(model: BFTeacher, graph) -> tuple[np.ndarray, np.ndarray]:
    """Per-step embeddings [K+1, n, m] and decoded distances [K+1, n] of one instance (plain numpy)."""
    source = graph.node["source"]
    dist = torch.where(source, 0.0, torch.inf).double()
    embs, dists = [model.start(state_features(source, dist))], [dist]
    for _ in range(graph.num_nodes - 1):  # the spec's round cap n - 1, stopping at a fixpoint
        h, value, inf_logit = model.round(graph, dist, hard=True)
        new = torch.where(inf_logit > 0, torch.inf, value.double())
        embs.append(h)
        dists.append(new)
        if torch.equal(new, dist):
            break
        dist = new
    return torch.stack(embs).numpy(), torch.stack(dists).numpy()


def main(argv: list[str] | None = None) -> Path:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=str(HERE / "bf_gnn.safetensors"))
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0, help="the compile seed whose instances to record")
    ap.add_argument("--samples", type=int, default=256, help="the compile's --samples")
    ap.add_argument("-o", "--output", default="bf.traces.safetensors")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args(argv)
    spec = load_spec(ROOT / "specs" / "bellman_ford.dp")
    model = BFTeacher(args.hidden)
    model.load_state_dict(load_file(args.weights))
    model.eval()
    inst = compile_instances(spec, CompileConfig(seed=args.seed, samples=args.samples))
    splits = {}
    for name, graphs in (("distill", inst.distill), ("held_out", inst.held_out)):
        traced = [trace_one(model, g) for g in graphs]
        splits[name] = split_from_instances(graphs, [e for e, _ in traced],
                                            states=[{"dist": d} for _, d in traced])
    path = save_traces(args.output, spec, splits, arch="user:BFTeacher", force=args.force,
                       producer={"framework": "torch", "model": "examples/user_teacher/bf_model.py:BFTeacher"})
    print(f"wrote {path}: {len(inst.distill)} + {len(inst.held_out)} instances")
    return path


if __name__ == "__main__":
    main()
