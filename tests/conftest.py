"""Shared fixtures: the shipped specs, loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from dpdsl.api import load_spec
from dpdsl.ir import SpecIR

SPEC_DIR = Path(__file__).resolve().parents[1] / "specs"


@pytest.fixture(scope="session")
def spec_dir() -> Path:
    """The repository's ``specs/`` directory."""
    return SPEC_DIR


@pytest.fixture(scope="session")
def specs() -> dict[str, SpecIR]:
    """Every shipped spec, checked, keyed by file stem (``bellman_ford`` for ``specs/bellman_ford.dp``)."""
    return {p.stem: load_spec(p) for p in sorted(SPEC_DIR.glob("*.dp"))}


@pytest.fixture(scope="session")
def node_specs(specs: dict[str, SpecIR]) -> dict[str, SpecIR]:
    """The shipped specs whose states live on nodes (what emit, teachers and students handle today)."""
    return {k: s for k, s in specs.items() if not s.domain.indexed}
