"""Teachers: contract shapes, training sanity, determinism and checkpoint safety (issue 3)."""

from __future__ import annotations

import json
import pickle
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as st_save
from safetensors.torch import save_file

from dpdsl.api import load_spec, load_spec_text
from dpdsl.errors import CheckpointError, UserError
from dpdsl.execute import run_reference
from dpdsl.graphs import batch_graphs
from dpdsl.sampling import sample_graphs
from dpdsl.teachers import Teacher, TeacherOutput
from dpdsl.teachers.adapter import load_user_teacher, load_user_teacher_config
from dpdsl.teachers.checkpoint import checkpoint_info, load_teacher, save_teacher
from dpdsl.teachers.config import TeacherConfig
from dpdsl.teachers.train import evaluate_teacher, init_teacher, train_teacher

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "specs"


@pytest.fixture(scope="module")
def reach():
    return load_spec(SPECS / "reachability.dp")


@pytest.fixture(scope="module")
def bf():
    return load_spec(SPECS / "bellman_ford.dp")


@pytest.fixture(scope="module")
def tiny(reach):
    """A small aligned teacher trained in a few seconds."""
    return train_teacher(reach, TeacherConfig(hidden=32, epochs=4, samples=60, val_samples=16, seed=3, lr=3e-3,
                                              batch_size=16), progress=False)


def _batch(spec, count=4, seed=11, nodes=None):
    return batch_graphs(sample_graphs(spec, count, seed, nodes=nodes))


# --- training ------------------------------------------------------------------------------------


def test_tiny_teacher_beats_trivial_baseline(reach, tiny) -> None:
    teacher, metrics = tiny
    assert isinstance(teacher, Teacher)
    assert metrics["history"] and metrics["parameters"] > 0
    res = evaluate_teacher(teacher, reach, graphs=40, seed=5)
    # the trivial baseline: the most common output value over the same graphs
    out = run_reference(reach, batch_graphs(sample_graphs(reach, 40, 5))).outputs["reached"]
    baseline = max(out.double().mean().item(), 1 - out.double().mean().item())
    assert res["node_acc"] >= min(0.97, baseline + 0.1), (res, baseline)
    assert res["graph_acc"] > 0.5


def test_same_seed_same_weights(reach) -> None:
    kw = dict(hidden=16, epochs=1, samples=12, val_samples=4, batch_size=8)
    a, _ = train_teacher(reach, TeacherConfig(seed=7, **kw), progress=False)
    b, _ = train_teacher(reach, TeacherConfig(seed=7, **kw), progress=False)
    c, _ = train_teacher(reach, TeacherConfig(seed=8, **kw), progress=False)
    sa, sb, sc = a.net.state_dict(), b.net.state_dict(), c.net.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


# --- the contract --------------------------------------------------------------------------------


@pytest.mark.parametrize("arch, decoder", [("aligned", "wide"), ("aligned", "embedding"), ("transformer", "")])
def test_contract_shapes_zoo(bf, arch: str, decoder: str) -> None:
    kw = {"decoder": decoder} if decoder else {"layers": 3}
    teacher = init_teacher(bf, TeacherConfig(arch=arch, hidden=32, **kw), samples=8)
    g = _batch(bf)
    out = teacher.run(g)
    if decoder == "embedding":  # bounded embeddings, and every head a linear read-out of them alone
        assert all(float(h.abs().max()) <= 1.0 for h in out.embeddings)
        head = teacher.net.heads["dist"]
        assert isinstance(head.cls, torch.nn.Linear) and isinstance(head.select, torch.nn.Linear)
        assert head.cls.in_features == 32
    assert isinstance(out, TeacherOutput)
    out.check(g.num_nodes, teacher.width)
    assert all(h.shape == (g.num_nodes, 32) and h.dtype == torch.float32 for h in out.embeddings)
    assert out.outputs["dist"].dtype == torch.float64 and out.outputs["parent"].dtype == torch.float64
    sizes = g.graph_sizes()[g.node_batch()]
    assert bool(((out.outputs["parent"] >= 0) & (out.outputs["parent"] < sizes)).all())  # graph-local ids
    if arch == "aligned":
        assert out.states is not None and len(out.states) == len(out.embeddings)
        ref = run_reference(bf, g, record=True)
        assert torch.equal(out.states[0]["dist"], ref.trajectory[0]["dist"])  # step 0 = the known init
        assert out.steps <= int(g.graph_sizes().max()) - 1  # never beyond the round cap n - 1
    else:
        assert out.states is None and out.steps == 3


def test_contract_user_adapter_example(reach, tmp_path: Path) -> None:
    example = ROOT / "examples" / "user_teacher"
    teacher = load_user_teacher(reach, f"{example / 'model.py'}:ReachGNN", None,
                                init_kwargs={"hidden": 8, "steps": 5}, embedding_modules=["encoder", "layer"],
                                trust_code=True)
    save_file(teacher.model.state_dict(), tmp_path / "w.safetensors")
    shutil.copy(example / "model.py", tmp_path / "model.py")  # adapters import only a .py next to the JSON
    (tmp_path / "teacher.json").write_text(json.dumps({
        "model": "model.py:ReachGNN", "init_kwargs": {"hidden": 8, "steps": 5},
        "weights": "w.safetensors", "embedding_modules": ["encoder", "layer"]}))
    with pytest.raises(UserError, match="--trust-code"):
        load_user_teacher_config(tmp_path / "teacher.json", reach)
    loaded = load_user_teacher_config(tmp_path / "teacher.json", reach, trust_code=True)
    g = _batch(reach)
    out = loaded.run(g)
    assert isinstance(loaded, Teacher) and loaded.width == 8
    assert len(out.embeddings) == 6  # encoder + 5 applications of the shared layer
    assert all(h.shape == (g.num_nodes, 8) and h.dtype == torch.float32 for h in out.embeddings)
    assert out.outputs["reached"].dtype == torch.bool and out.states is None
    with pytest.raises(UserError, match="no module"):
        load_user_teacher(reach, f"{example / 'model.py'}:ReachGNN", None, embedding_modules=["nope"],
                          trust_code=True)


# --- checkpoints ---------------------------------------------------------------------------------


def test_embedding_decoder_checkpoint_roundtrip(bf, tmp_path: Path) -> None:
    teacher, metrics = train_teacher(bf, TeacherConfig(hidden=16, epochs=1, samples=12, val_samples=4, batch_size=8,
                                                       decoder="embedding", value_weight=100.0), progress=False)
    path = save_teacher(teacher, tmp_path / "t.safetensors", metrics)
    loaded = load_teacher(path, bf)
    assert loaded.net.decoder == "embedding" and checkpoint_info(path)["config"]["value_weight"] == 100.0
    g = _batch(bf, 6)
    a, b = teacher.run(g), loaded.run(g)
    assert all(torch.equal(x, y) for x, y in zip(a.embeddings, b.embeddings, strict=True))
    assert all(torch.equal(a.outputs[k], b.outputs[k]) for k in a.outputs)


def test_checkpoint_roundtrip_is_bitwise(reach, tiny, tmp_path: Path) -> None:
    teacher, metrics = tiny
    path = save_teacher(teacher, tmp_path / "t.safetensors", metrics)
    loaded = load_teacher(path, reach)
    sa, sb = teacher.net.state_dict(), loaded.net.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    g = _batch(reach, 6)
    a, b = teacher.run(g), loaded.run(g)
    assert all(torch.equal(x, y) for x, y in zip(a.embeddings, b.embeddings, strict=True))
    assert all(torch.equal(a.outputs[k], b.outputs[k]) for k in a.outputs)
    info = checkpoint_info(path)
    assert info["arch"] == "aligned" and info["spec_hash"] == reach.hash and info["seed"] == 3
    assert info["metrics"]["parameters"] == metrics["parameters"] and "torch" in info["versions"]
    assert load_teacher(path).spec_hash == reach.hash  # the stored spec text suffices
    with pytest.raises(CheckpointError, match="exists"):
        save_teacher(teacher, path, metrics)
    save_teacher(teacher, path, metrics, overwrite=True)


class _Evil:
    """Unpickling this creates a marker file: proof that a loader executed the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _one_line_error(path: Path, spec=None) -> str:
    with pytest.raises(CheckpointError) as err:
        load_teacher(path, spec)
    msg = err.value.one_line()
    assert msg == str(err.value) and "\n" not in msg
    assert isinstance(err.value, UserError)  # the CLI maps UserError to exit code 2
    return msg


@pytest.mark.parametrize("name", ["evil.safetensors", "evil.pt"])
def test_pickle_is_refused_and_never_executed(reach, tmp_path: Path, name: str) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / name
    path.write_bytes(pickle.dumps({"state": _Evil(marker)}))
    assert "pickle" in _one_line_error(path, reach)
    torch.save({"x": _Evil(marker)}, tmp_path / "zip.pt")  # torch's zip-of-pickle format
    _one_line_error(tmp_path / "zip.pt", reach)
    with pytest.raises(CheckpointError):
        checkpoint_info(path)
    assert not marker.exists()


def test_truncated_file_is_refused(reach, tiny, tmp_path: Path) -> None:
    path = save_teacher(tiny[0], tmp_path / "t.safetensors", tiny[1])
    data = path.read_bytes()
    for cut in (4, 40, len(data) // 2, len(data) - 1):
        (tmp_path / "cut.safetensors").write_bytes(data[:cut])
        _one_line_error(tmp_path / "cut.safetensors", reach)


def test_spec_hash_mismatch_is_refused(reach, tiny, tmp_path: Path) -> None:
    path = save_teacher(tiny[0], tmp_path / "t.safetensors", tiny[1])
    changed = load_spec_text(reach.source + "\n# edited\n", "changed.dp")
    assert "sha256" in _one_line_error(path, changed)


def _with_header(path: Path, out: Path, edit) -> Path:
    """Rewrite the dpdsl header of a checkpoint (a forged file)."""
    from safetensors.torch import load

    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(json.loads(data[8:8 + n])["__metadata__"]["dpdsl"])
    edit(header)
    out.write_bytes(st_save(load(data), metadata={"dpdsl": json.dumps(header)}))
    return out


def test_wrong_architecture_and_missing_fields_are_refused(reach, tiny, tmp_path: Path) -> None:
    path = save_teacher(tiny[0], tmp_path / "t.safetensors", tiny[1])
    bad = _with_header(path, tmp_path / "arch.safetensors", lambda h: h.update(arch="resnet"))
    assert "architecture" in _one_line_error(bad, reach)
    bad = _with_header(path, tmp_path / "miss.safetensors", lambda h: h.pop("config"))
    assert "config" in _one_line_error(bad, reach)
    bad = _with_header(path, tmp_path / "swap.safetensors", lambda h: h.update(arch="transformer"))
    _one_line_error(bad, reach)  # an aligned config/weights under a transformer header
    bad = _with_header(path, tmp_path / "dec.safetensors", lambda h: h["config"].update(decoder="bogus"))
    assert "unknown aligned decoder 'bogus'" in _one_line_error(bad, reach)
    (tmp_path / "plain.safetensors").write_bytes(st_save({"w": torch.zeros(2)}))
    assert "header" in _one_line_error(tmp_path / "plain.safetensors", reach)


def test_teacher_train_cli_decoder_flags(tmp_path: Path) -> None:
    out = tmp_path / "t.safetensors"
    base = [sys.executable, "-m", "dpdsl", "teacher", "train", str(SPECS / "bellman_ford.dp"), "-o", str(out),
            "--hidden", "16", "--epochs", "1", "--samples", "8"]
    bad = subprocess.run(base + ["--value-weight", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--value-weight must be > 0" in bad.stderr and not out.exists()
    ok = subprocess.run(base + ["--decoder", "embedding", "--value-weight", "100"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    cfg = checkpoint_info(out)["config"]
    assert cfg["decoder"] == "embedding" and cfg["value_weight"] == 100.0
