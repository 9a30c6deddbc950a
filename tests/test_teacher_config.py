"""TeacherConfig (issue 9 item 5): validation in one place, provenance, named seed streams, the arch table,
and the state-type recipe (issue 14 item 5)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest
from clihelp import cli

from dpdsl.api import load_spec
from dpdsl.errors import UserError
from dpdsl.teachers.archs import ARCHS
from dpdsl.teachers.checkpoint import checkpoint_info, save_teacher
from dpdsl.teachers.config import STREAMS, TeacherConfig
from dpdsl.teachers.train import init_teacher, train_teacher

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


@pytest.fixture(scope="module")
def bf():
    return load_spec(SPECS / "bellman_ford.dp")


@pytest.fixture(scope="module")
def reach():
    return load_spec(SPECS / "reachability.dp")


@pytest.mark.parametrize("kw, message", [
    ({"arch": "resnet"}, "--arch must be one of aligned, transformer, got 'resnet'"),
    ({"hidden": 4}, "--hidden must be in 8..8192, got 4"),
    ({"epochs": 0}, "--epochs must be in 1..100000, got 0"),
    ({"samples": 0}, "--samples must be >= 1, got 0"),
    ({"seed": -1}, "--seed must be in 0..4294967295, got -1"),
    ({"lr": float("nan")}, "--lr must be a finite number"),
    ({"hidden": 12.5}, "--hidden must be an integer, got 12.5"),
    ({"value_weight": 0.0}, "--value-weight must be > 0, got 0"),
    ({"decoder": "deep"}, "--decoder must be one of wide, embedding, got 'deep'"),
    ({"arch": "transformer", "decoder": "wide"}, "--decoder applies to the aligned teacher only"),
    ({"layers": 3}, "--layers applies to the transformer teacher only"),
    ({"arch": "transformer", "hidden": 30, "heads": 4}, "--hidden (30) must be a multiple of heads (4)"),
    ({"nodes": (9, 3)}, "nodes must satisfy 1 <= min <= max, got 9..3"),
    ({"noise": -0.1}, "noise must be a number in 0..1"),
])
def test_invalid_values_are_refused_with_one_line(kw: dict, message: str) -> None:
    with pytest.raises(UserError) as err:
        TeacherConfig(**kw)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cli_uses_the_config_validation(tmp_path: Path) -> None:
    base = ["teacher", "train", SPECS / "bellman_ford.dp", "-o", tmp_path / "t.safetensors"]
    for extra, message in ((["--arch", "transformer", "--decoder", "wide"], "--decoder applies to the aligned"),
                           (["--arch", "mlp"], "--arch must be one of aligned, transformer"),
                           (["--hidden", "4"], "--hidden must be in 8..8192")):
        r = cli(*base, *extra)
        assert r.code == 2 and message in r.err and len(r.lines) == 1, r.err
    assert not (tmp_path / "t.safetensors").exists()


def test_recipe_follows_the_state_types(bf, reach) -> None:
    """Real-valued states get the embedding decoder and a 100x value loss; explicit values win."""
    assert TeacherConfig().resolved(bf).decoder == "embedding"
    assert TeacherConfig().resolved(bf).value_weight == 100.0
    assert (TeacherConfig().resolved(reach).decoder, TeacherConfig().resolved(reach).value_weight) == ("wide", 1.0)
    own = TeacherConfig(decoder="wide", value_weight=3.0).resolved(bf)
    assert (own.decoder, own.value_weight) == ("wide", 3.0)
    tr = TeacherConfig(arch="transformer").resolved(bf)
    assert (tr.decoder, tr.value_weight, tr.layers, tr.heads) == (None, None, 6, 4)
    assert init_teacher(bf, TeacherConfig(hidden=16), samples=4).net.decoder == "embedding"


def test_every_parameter_is_recorded_in_the_checkpoint(reach, tmp_path: Path) -> None:
    cfg = TeacherConfig(hidden=16, epochs=1, samples=6, val_samples=2, batch_size=4, lr=2e-3, seed=5, noise=0.0,
                        nodes=(4, 6))
    teacher, metrics = train_teacher(reach, cfg, progress=False)
    header = checkpoint_info(save_teacher(teacher, tmp_path / "t.safetensors", metrics))
    want = cfg.resolved(reach).to_json()
    assert set(want) == {f.name for f in fields(TeacherConfig)
                         if f.name in ("arch", "hidden", "epochs", "samples", "val_samples", "batch_size", "lr",
                                       "seed", "nodes") or f.name in ARCHS["aligned"].options}
    assert {k: header["config"][k] for k in want} == want and header["metrics"]["config"] == want
    assert want["nodes"] == [4, 6] and want["decoder"] == "wide" and want["noise"] == 0.0


def test_seed_streams_are_named_children_not_offsets() -> None:
    """No seed's validation graphs are another seed's training graphs (``seed + 7919`` made seed 0's
    validation set seed 7919's training set), and every stream of one seed differs from the others."""
    n = 20_000
    train = {TeacherConfig(seed=s).stream("train_graphs") for s in range(n)}
    val = {TeacherConfig(seed=s).stream("val_graphs") for s in range(n)}
    assert len(train) == n and len(val) == n and not train & val
    one = [TeacherConfig(seed=3).stream(name) for name in STREAMS]
    assert len(set(one)) == len(STREAMS) and one == [TeacherConfig(seed=3).stream(name) for name in STREAMS]


def test_arch_table_drives_checkpoints(bf, tmp_path: Path) -> None:
    """Every architecture in the table saves and loads through the same code."""
    from dpdsl.teachers.checkpoint import load_teacher

    for name, arch in ARCHS.items():
        kw = {"layers": 2} if "layers" in arch.options else {}
        t = init_teacher(bf, TeacherConfig(arch=name, hidden=16, **kw), samples=4)
        assert type(t.net) is type(arch.net(t.config)) and type(t) is type(arch.teacher(bf, t.config, t.net))
        loaded = load_teacher(save_teacher(t, tmp_path / f"{name}.safetensors"), bf)
        assert type(loaded) is type(t) and type(loaded.net) is type(t.net)


def test_aligned_entry_builds_the_domain_teacher_on_index_domains(spec_dir: Path, tmp_path: Path) -> None:
    """One table entry: an index-domain spec gets the tuple network, saved and loaded the same way; the
    transformer refuses such specs before sampling anything."""
    import torch

    from dpdsl.sampling import sample_graphs
    from dpdsl.teachers.aligned_domain import DomainAlignedNet, DomainAlignedTeacher
    from dpdsl.teachers.checkpoint import load_teacher

    fw = load_spec(spec_dir / "floyd_warshall.dp")
    t = init_teacher(fw, TeacherConfig(hidden=16), samples=4)
    assert isinstance(t, DomainAlignedTeacher) and isinstance(t.net, DomainAlignedNet)
    loaded = load_teacher(save_teacher(t, tmp_path / "fw.safetensors"), fw)
    assert type(loaded) is DomainAlignedTeacher
    gs = sample_graphs(fw, 2, 0)
    assert torch.equal(loaded.run(gs).outputs["dist"], t.run(gs).outputs["dist"])
    with pytest.raises(UserError, match="nodes specs only"):
        train_teacher(fw, TeacherConfig(arch="transformer", hidden=16, epochs=1, samples=2), progress=False)


@pytest.mark.parametrize("total", [1, 2, 3, 4, 5, 9, 10, 11, 19, 20, 40])
def test_lr_schedule_runs_every_step_of_short_trainings(total: int) -> None:
    """2 epochs x 1 batch used to divide by zero inside OneCycleLR (exit 3)."""
    import torch

    from dpdsl.teachers.train import _schedule

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.01)
    sched = _schedule(opt, 0.01, total)
    lrs = []
    for _ in range(total):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert all(0 <= x <= 0.01 + 1e-12 for x in lrs)
