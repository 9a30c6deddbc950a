"""``dpdsl emit`` for index-domain specs (docs/architecture.md §12): the emitted skeleton of every shipped
domain spec compiles and, with the reference transitions, over the lowered gather lists
(``dpdsl.domains.engine.gather_lists``), reproduces the reference executor bit for bit on random
instances (sampled, tiny and larger)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from dpdsl.api import load_spec
from dpdsl.codegen import emit
from dpdsl.domains.engine import gather_lists
from dpdsl.execute import reference_transitions, run_reference
from dpdsl.sampling import sample_graphs

SPECS_DIR = Path(__file__).resolve().parents[1] / "specs"
DOMAIN_SPECS = sorted(p.stem for p in SPECS_DIR.glob("*.dp") if "\ndomain " in p.read_text())


def _import(source: str, key: str):
    name = f"dpdsl_test_emit_domains_{key}"
    spec = importlib.util.spec_from_loader(name, loader=None)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # torch-geometric's inspector looks the module up while defining classes
    exec(compile(source, f"<{name}>", "exec"), mod.__dict__)
    return mod


def _bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype:
        return False
    if a.dtype == torch.bool:
        return torch.equal(a, b)
    return bool(((a.view(torch.int64) == b.view(torch.int64)) | (a.isnan() & b.isnan())).all())


def test_domain_specs_are_found() -> None:
    assert {"floyd_warshall", "lcs_length", "optimal_bst", "minimum"} <= set(DOMAIN_SPECS)


@pytest.mark.parametrize("name", DOMAIN_SPECS)
def test_emitted_domain_skeleton_matches_reference(name: str) -> None:
    spec = load_spec(SPECS_DIR / f"{name}.dp")
    mod = _import(emit(spec), name)
    model = mod.Skeleton(transitions=reference_transitions(spec))
    cases = (sample_graphs(spec, 8, 0) + sample_graphs(spec, 2, 1, nodes=(1, 2))
             + sample_graphs(spec, 1, 2, nodes=(20, 20)))
    try:
        for case in cases:
            outputs, rounds = model(gather_lists(spec, case))
            ref = run_reference(spec, case)
            assert rounds == int(ref.rounds[0])
            assert outputs.keys() == ref.outputs.keys()
            for out, want in ref.outputs.items():
                got = outputs[out]
                got = got.expand(want.shape) if got.dim() == 0 else got
                assert _bits(got, want), (name, out)
    finally:
        sys.modules.pop(f"dpdsl_test_emit_domains_{name}", None)


def test_cli_emit_writes_a_domain_skeleton(tmp_path: Path) -> None:
    out = tmp_path / "fw.py"
    proc = subprocess.run([sys.executable, "-m", "dpdsl", "emit", str(SPECS_DIR / "floyd_warshall.dp"), "-o",
                           str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert "class ViewVia(MessagePassing)" in text and "def transition_dist(dist, direct, via)" in text
    compile(text, str(out), "exec")
