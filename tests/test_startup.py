"""Startup cost: ``dpdsl check`` and ``dpdsl run`` import neither scikit-learn nor matplotlib, nor the
distiller, teacher or code-generation stages they do not use (the CLI imports those inside their
subcommands). Each command runs in a fresh interpreter, which then reports ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dpdsl.api import load_spec
from dpdsl.student import FORMAT

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "specs" / "bellman_ford.dp"

# top-level packages / dpdsl modules that check and run must not load
HEAVY = ("sklearn", "matplotlib", "torch_geometric", "rich", "dpdsl.distill.pipeline", "dpdsl.distill.treefit",
         "dpdsl.distill.dataset", "dpdsl.distill.report", "dpdsl.commands.compile", "dpdsl.teachers",
         "dpdsl.evaluate", "dpdsl.codegen")

_CHILD = """
import json, sys
from dpdsl.cli import main
code = main(sys.argv[1:])
sys.stdout.flush()
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _run_fresh(*argv: str) -> tuple[str, set[str]]:
    """Run ``dpdsl ARGV`` via ``cli.main`` in a new interpreter; its stdout and the modules it loaded."""
    out = subprocess.run([sys.executable, "-c", _CHILD, *argv], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    text, _, last = out.stdout.rstrip("\n").rpartition("\n")
    info = json.loads(last)
    assert info["code"] == 0, out.stderr
    return text, set(info["modules"])


def _loaded_heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY))


def _student_dir(tmp_path: Path) -> Path:
    """A hand-written Bellman-Ford student (the textbook tree), so this test needs no distillation."""
    spec = load_spec(SPEC)
    obj = {
        "format": FORMAT,
        "spec": {"name": spec.name, "sha256": spec.hash, "filename": SPEC.name, "source": spec.source},
        "fields": {"dist": {"args": ["dist", "best"], "predicates": ["dist < best"], "terms": ["dist", "best"],
                            "tree": {"pred": 0, "if_true": {"leaf": 0}, "if_false": {"leaf": 1}}}},
    }
    d = tmp_path / "student"
    d.mkdir()
    (d / "student.json").write_text(json.dumps(obj))
    return d


def _graph(tmp_path: Path) -> Path:
    g = tmp_path / "g.json"
    g.write_text(json.dumps({"num_nodes": 4, "directed": True, "edges": [[0, 1], [1, 2], [0, 2]],
                             "node": {"source": [True, False, False, False]}, "edge": {"w": [0.5, 0.25, 1.0]}}))
    return g


def test_check_loads_no_heavy_stage() -> None:
    text, modules = _run_fresh("check", str(SPEC))
    assert text.startswith("problem bellman_ford")
    assert "dpdsl.check" in modules  # the probe itself works: it sees what check did import
    assert _loaded_heavy(modules) == []


@pytest.mark.parametrize("target", ["spec", "student"])
def test_run_loads_no_heavy_stage(target: str, tmp_path: Path) -> None:
    what = str(SPEC) if target == "spec" else str(_student_dir(tmp_path))
    text, modules = _run_fresh("run", what, "--graph", str(_graph(tmp_path)), "--json")
    res = json.loads(text)
    assert res["outputs"]["dist"] == [0.0, 0.5, 0.75, "inf"]
    assert ("dpdsl.student" in modules) == (target == "student")
    assert _loaded_heavy(modules) == []


def test_distiller_imports_scikit_learn_only_for_cart() -> None:
    """``compile --method lrh`` (the default) never fits CART, so importing the pipeline must not pay
    for scikit-learn (about 1 s of the main job's wall time)."""
    code = "import sys, dpdsl.distill.pipeline; print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"
