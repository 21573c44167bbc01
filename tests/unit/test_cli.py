"""The griddispatch command line on the demo city and on broken copies of it."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from dispatch.cli import main
from geo import Grid
from geo.io import read_features

ROOT = Path(__file__).resolve().parents[2]
NANNING = ROOT / "grid_data" / "nanning"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_locate_gcj02_point_and_route_a_spill() -> None:
    code, out = run("locate", "108.3208", "22.8165", "--crs", "gcj02", "--event", "06014", "--json")
    assert code == 0, out
    data = json.loads(out)
    grid = Grid.load(NANNING, validate=False)
    expected = grid.locate(108.3208, 22.8165, crs="gcj02")
    assert data["cell"] == expected.cell
    assert data["lead"]["id"] == f"{expected.district}-cgzf"
    assert f"{expected.district}-jj" in [u["id"] for u in data["support"]]


def test_locate_outside_the_city_fails_clearly() -> None:
    code, out = run("locate", "116.39", "39.9")
    assert code == 1
    assert "outside the served area" in out


def test_check_data_passes_on_the_demo_city() -> None:
    code, out = run("check-data")
    assert code == 0, out
    assert "resolves to exactly one lead unit" in out


@pytest.fixture
def city_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "city"
    shutil.copytree(NANNING, dst)
    return dst


def test_check_data_lists_a_routing_hole(city_copy: Path) -> None:
    # drop the 青秀 traffic police: every rule that names jj as lead or support breaks there
    units = city_copy / "units.csv"
    rows = list(csv.reader(units.open(encoding="utf-8")))
    units.write_text(
        "\n".join(",".join(r) for r in rows if r[0] != "450103-jj") + "\n", encoding="utf-8"
    )
    teams = city_copy / "teams.csv"
    rows = list(csv.reader(teams.open(encoding="utf-8")))
    teams.write_text(
        "\n".join(",".join(r) for r in rows if r[1] != "450103-jj") + "\n", encoding="utf-8"
    )
    code, out = run("check-data", "--city", str(city_copy))
    assert code == 1
    assert "HOLE 06014" in out
    assert "450103" in out


def test_build_grid_fills_the_communities(city_copy: Path, tmp_path: Path) -> None:
    out_file = tmp_path / "cells.geojson"
    areas = read_features(city_copy / "areas.geojson")
    # keep one community only, to stay quick
    keep = next(i for i, p in enumerate(areas.props) if p["level"] == "community")
    from geo.io import write_features

    write_features(city_copy / "areas.geojson", [areas.geoms[keep]], [areas.props[keep]])
    code, out = run("build-grid", "--city", str(city_copy), "--out", str(out_file))
    assert code == 0, out
    cells = read_features(out_file)
    assert len(cells.props) > 50
    assert all(p["code"].startswith(areas.props[keep]["code"]) for p in cells.props)
