"""Fixtures shared by every test layer: the small named test grid and the Nanning grid."""

from __future__ import annotations

from pathlib import Path

import pytest

from geo import Grid

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini"
NANNING = ROOT / "grid_data" / "nanning"
SHARED = ROOT.parent / "shared" / "data" / "nanning"


@pytest.fixture(scope="session")
def mini_grid() -> Grid:
    """3 × 2 cells of 0.001° at (108.300, 22.800); west community = columns 0–1."""
    return Grid.load(MINI)


@pytest.fixture(scope="session")
def nanning_grid() -> Grid:
    return Grid.load(NANNING)
