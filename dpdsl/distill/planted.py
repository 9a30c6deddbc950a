"""Planted random decision trees over d uniform bits and a trained ReLU MLP teacher (Boix-Adsera 2024).

The one source of planted-tree teachers for tests and benchmarks (``tests/test_planted*.py``,
``benchmarks/planted_recovery.py``): a seeded complete random tree over ``d`` uniform bits, an MLP trained
on it by a seeded inline Adam loop (``torch.optim``'s first use imports dynamo, seconds), and its hidden
activations as the representation phi. Same seed -> same tree, same weights, same activations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from dpdsl.tree import Tree, predict, random_tree, simplify


def uniform_bits(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``bool[n, d]`` i.i.d. fair bits."""
    return rng.random((n, d)) < 0.5


def planted_tree(d: int, depth: int, seed: int, n_classes: int = 2, distinct_siblings: bool = False) -> Tree:
    """A complete random depth-``depth`` tree over ``d`` predicates, simplified (identical siblings merged).

    Leaf labels are uniform over ``n_classes`` as in the paper (its planted trees have +-1 labels), so
    some planted splits are redundant; the simplified tree is the function's smaller description.
    """
    rng = np.random.default_rng([seed, d, depth, n_classes])
    return simplify(random_tree(d, depth, n_classes, rng, distinct_siblings=distinct_siblings))


def _pm1(X: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(X, dtype=np.float32) * 2 - 1)


@dataclass
class MLPTeacher:
    """A trained ReLU MLP on +-1 inputs; ``features`` are its post-ReLU hidden activations (phi)."""

    net: nn.Sequential
    n_classes: int
    accuracy: float  # on fresh uniform inputs against the tree it was trained on
    epochs: int

    def logits(self, X: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            return self.net(_pm1(X))

    def labels(self, X: np.ndarray) -> np.ndarray:
        """The teacher's class per row of ``X: bool[N, d]`` (``int64``)."""
        return self.logits(X).argmax(1).numpy()

    def features(self, X: np.ndarray) -> np.ndarray:
        """Concatenated post-ReLU activations of every hidden layer, ``float64[N, m]``."""
        h = _pm1(X)
        out = []
        with torch.no_grad():
            for layer in self.net:
                h = layer(h)
                if isinstance(layer, nn.ReLU):
                    out.append(h)
        return torch.cat(out, dim=1).double().numpy()


def _adam_epoch(net: nn.Module, x: torch.Tensor, y: torch.Tensor, state: dict, gen: torch.Generator,
                lr: float, batch: int) -> None:
    params = list(net.parameters())
    if not state:
        state.update(step=0, m1=[torch.zeros_like(w) for w in params], m2=[torch.zeros_like(w) for w in params])
    b1, b2 = 0.9, 0.999
    perm = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x), batch):
        idx = perm[i : i + batch]
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        grads = torch.autograd.grad(loss, params)
        state["step"] += 1
        t = state["step"]
        with torch.no_grad():
            for w, g, a, b in zip(params, grads, state["m1"], state["m2"], strict=True):
                a.mul_(b1).add_(g, alpha=1 - b1)
                b.mul_(b2).addcmul_(g, g, value=1 - b2)
                w.addcdiv_(a / (1 - b1**t), (b / (1 - b2**t)).sqrt_().add_(1e-8), value=-lr)


def train_mlp_teacher(
    tree: Tree,
    d: int,
    seed: int,
    n_classes: int = 2,
    width: int = 256,
    layers: int = 2,
    n_train: int = 40000,
    max_epochs: int = 30,
    target_accuracy: float = 0.9995,
    lr: float = 2e-3,
    batch: int = 256,
) -> MLPTeacher:
    """Train ``d -> width (x layers) -> n_classes`` with ReLUs on fresh uniform bits labelled by ``tree``.

    Trains until the accuracy on 20,000 fresh inputs reaches ``target_accuracy`` (checked after each
    epoch) or ``max_epochs``; the reported accuracy is measured on a further fresh 20,000 (so it is not
    the stopping statistic).
    """
    rng = np.random.default_rng([seed, 7])
    torch.manual_seed(seed)
    dims = [d] + [width] * layers
    mods: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        mods += [nn.Linear(a, b), nn.ReLU()]
    net = nn.Sequential(*mods, nn.Linear(dims[-1], n_classes))
    X = uniform_bits(n_train, d, rng)
    x, y = _pm1(X), torch.from_numpy(predict(tree, X))
    Xs, Xt = uniform_bits(20000, d, rng), uniform_bits(20000, d, rng)
    ys, yt = predict(tree, Xs), predict(tree, Xt)
    gen = torch.Generator().manual_seed(seed)
    state: dict = {}
    teacher = MLPTeacher(net, n_classes, 0.0, 0)
    for epoch in range(1, max_epochs + 1):
        net.train()
        _adam_epoch(net, x, y, state, gen, lr, batch)
        net.eval()
        teacher.epochs = epoch
        if float(np.mean(teacher.labels(Xs) == ys)) >= target_accuracy:
            break
    teacher.accuracy = float(np.mean(teacher.labels(Xt) == yt))
    return teacher
