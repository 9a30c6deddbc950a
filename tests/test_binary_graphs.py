"""The binary graph format (``dpdsl.graphs.binary``): exact round trips, the same run as JSON, and a
truncated, corrupted or inconsistent file refused with exit 2 and one line."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from clihelp import SPECS, assert_user_error, cli
from hypothesis import HealthCheck, given, settings
from test_graphs import one_line_error, same_graph, small_graphs

from dpdsl.graphs import Graph, load_graph, save_graph
from dpdsl.graphs.binary import FORMAT
from dpdsl.limits import LimitError


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(small_graphs())
def test_npz_round_trip_is_exact(tmp_path: Path, g: Graph) -> None:
    p = tmp_path / "g.npz"
    save_graph(g, p, overwrite=True)
    assert same_graph(g, load_graph(p))  # bools stay bool, float64 bits (inf, -0.0, 1e300) unchanged


def _bf_graph(n: int = 50, m: int = 300, seed: int = 3) -> Graph:
    rng = np.random.default_rng(seed)
    ei = torch.from_numpy(rng.integers(0, n, size=(2, m)))
    src = torch.zeros(n, dtype=torch.bool)
    src[0] = True
    return Graph(n, ei, True, {"source": src}, {"w": torch.from_numpy(rng.uniform(0, 1, m))})


def test_run_reads_npz_like_json(tmp_path: Path) -> None:
    g = _bf_graph()
    save_graph(g, tmp_path / "g.npz")
    save_graph(g, tmp_path / "g.json")
    a = cli("run", SPECS / "bellman_ford.dp", "--graph", tmp_path / "g.npz", "--json")
    b = cli("run", SPECS / "bellman_ford.dp", "--graph", tmp_path / "g.json", "--json")
    assert a.code == 0 and b.code == 0, (a.err, b.err)
    assert json.loads(a.out) == json.loads(b.out)


def test_loader_builds_no_python_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Big files load through numpy buffers: ``tolist`` / ``torch.tensor(list)`` are never called."""
    g = _bf_graph(2000, 20000)
    save_graph(g, tmp_path / "g.npz")
    calls = []
    real = torch.tensor
    monkeypatch.setattr(torch, "tensor", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert same_graph(g, load_graph(tmp_path / "g.npz"))
    assert calls == []


def _arrays(g: Graph) -> dict[str, np.ndarray]:
    return {"format": np.array(FORMAT), "num_nodes": np.array(g.num_nodes), "directed": np.array(True),
            "edge_index": g.edge_index.numpy(), "node/source": g.node["source"].numpy(),
            "edge/w": g.edge["w"].numpy()}


def _write(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("edit, needles", [
    (lambda a: a.pop("num_nodes"), ["missing array 'num_nodes'"]),
    (lambda a: a.pop("edge_index"), ["missing array 'edge_index'"]),
    (lambda a: a.update(format=np.array("dpdsl-graph/9")), ["dpdsl-graph/9", FORMAT]),
    (lambda a: a.update(num_nodes=np.array(0)), ["num_nodes must be >= 1"]),
    (lambda a: a.update(num_nodes=np.array([5])), ["'num_nodes' must be a scalar"]),
    (lambda a: a.update(edge_index=a["edge_index"].T.copy()), ["[2, E] integer array"]),
    (lambda a: a.update(edge_index=a["edge_index"].astype(np.float64)), ["[2, E] integer array"]),
    (lambda a: a.update({"num_nodes": np.array(10), "node/source": np.ones(10, bool)}), ["but num_nodes is 10"]),
    (lambda a: a.update({"edge/w": a["edge/w"][:-1]}), ["'edge/w' must be a [300]"]),
    (lambda a: a.update({"node/source": np.zeros(7, dtype=bool)}), ["'node/source' must be a [50]"]),
    (lambda a: a.update({"edge/w": np.where(np.arange(300) == 9, np.nan, a["edge/w"])}), ["NaN at index 9"]),
    (lambda a: a.update({"edge/w": np.array(["x"] * 300)}), ["bool or numeric"]),
    (lambda a: a.update(extra=np.zeros(3)), ["unknown array 'extra'"]),
])
def test_inconsistent_files_are_one_line_errors(tmp_path: Path, edit, needles: list[str]) -> None:
    arrays = _arrays(_bf_graph())
    edit(arrays)
    p = _write(tmp_path / "bad.npz", **arrays)
    one_line_error(lambda: load_graph(p), *needles)
    assert_user_error(cli("run", SPECS / "bellman_ford.dp", "--graph", p), "bad.npz", *needles)


def test_object_arrays_are_refused_without_unpickling(tmp_path: Path) -> None:
    arrays = _arrays(_bf_graph())
    arrays["edge/w"] = np.array([object()] * 300, dtype=object)
    buf = io.BytesIO()
    np.savez(buf, allow_pickle=True, **arrays)
    p = tmp_path / "obj.npz"
    p.write_bytes(buf.getvalue())
    one_line_error(lambda: load_graph(p), "holds Python objects")


@pytest.mark.parametrize("cut", [0.999, 0.5, 0.1, 30])
def test_truncated_files_are_exit_2(tmp_path: Path, cut: float) -> None:
    good = tmp_path / "g.npz"
    save_graph(_bf_graph(), good)
    data = good.read_bytes()
    bad = tmp_path / "cut.npz"
    bad.write_bytes(data[:int(len(data) * cut)] if cut < 1 else data[:cut])
    assert_user_error(cli("run", SPECS / "bellman_ford.dp", "--graph", bad), "cut.npz")


def test_member_shorter_than_its_header_is_caught(tmp_path: Path) -> None:
    """A well-formed zip whose .npy member lost its tail (the zip alone cannot tell)."""
    arrays = _arrays(_bf_graph())
    p = tmp_path / "short.npz"
    with zipfile.ZipFile(p, "w") as zf:
        for k, v in arrays.items():
            b = io.BytesIO()
            np.save(b, v)
            raw = b.getvalue()
            zf.writestr(k + ".npy", raw[:-8] if k == "edge/w" else raw)
    one_line_error(lambda: load_graph(p), "'edge/w.npy' holds", "truncated or inconsistent")


def test_corrupted_data_fails_the_crc(tmp_path: Path) -> None:
    good = tmp_path / "g.npz"
    save_graph(_bf_graph(), good)
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "flip.npz"
    bad.write_bytes(bytes(data))
    assert_user_error(cli("run", SPECS / "bellman_ford.dp", "--graph", bad), "flip.npz")


def test_limits_are_checked_from_the_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "g.npz"
    save_graph(_bf_graph(), p)
    monkeypatch.setenv("DPDSL_MAX_EDGES", "100")
    with pytest.raises(LimitError, match="limit 'edges'"):
        load_graph(p)


def test_save_refuses_overwrite(tmp_path: Path) -> None:
    p = tmp_path / "g.npz"
    save_graph(_bf_graph(), p)
    one_line_error(lambda: save_graph(_bf_graph(seed=4), p), "file exists")
    save_graph(_bf_graph(seed=4), p, overwrite=True)
    assert same_graph(load_graph(p), _bf_graph(seed=4))
