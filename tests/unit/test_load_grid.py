"""``griddispatch load-grid``: a city's own cell layer in three formats, and bad ones refused.

The sources are the mini grid written with pyogrio under a survey office's column names
(tests/gridkit.py): GeoJSON in WGS-84, GeoPackage in EPSG:4545 (metres), Shapefile in
GCJ-02 with no .prj. What load-grid writes must load as the mini grid again.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from gridkit import (
    FORMATS,
    NAMES,
    OPTIONS,
    in_crs,
    mini_cells,
    small_city,
    source_file,
    write_layer,
)

from dispatch.cli import main
from geo import Grid
from geo.io import read_layer
from geo.source import ColumnMap, import_cells


def run(*args: object, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args], env=env)
    return result.exit_code, result.output


@pytest.fixture
def city(tmp_path: Path) -> Path:
    return small_city(tmp_path / "city")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_format_loads_as_the_mini_grid(
    fmt: str, tmp_path: Path, city: Path, mini_grid: Grid
) -> None:
    source, options = source_file(tmp_path, fmt)
    code, out = run("load-grid", source, *options, "--city", city, "--out", city)
    assert code == 0, out
    assert f"converted to WGS-84 from {FORMATS[fmt][3] or FORMATS[fmt][2]}" in out
    loaded = Grid.load(city)
    assert loaded.codes == mini_grid.codes
    assert loaded.parents == mini_grid.parents
    for a, b in zip(loaded.geoms, mini_grid.geoms, strict=True):  # same ground to ~1 cm
        assert shapely.hausdorff_distance(a, b) < 2e-7
    names = {c: a.name_zh for c, a in loaded.areas.items()}
    assert names == {
        "450103": "青秀区",
        "450103901": "测试街道",
        "450103901901": NAMES["450103901901"],
        "450103901902": NAMES["450103901902"],
    }
    west = shapely.union_all(mini_grid.geoms[:4])  # the four cells of 450103901901, in order
    assert loaded.area_geoms["450103901901"].equals(west)
    assert loaded.area_geoms["450103901901"].area == pytest.approx(4e-6)
    assert loaded.locate(108.3005, 22.8015).community == "450103901901"


def test_a_mapping_file_and_english_names(tmp_path: Path, city: Path) -> None:
    geoms, rows = mini_cells()
    for r in rows:
        r["SQMC_EN"] = "West" if r["SQBM"].endswith("901") else "East"
    source = write_layer(tmp_path / "g.gpkg", in_crs(geoms, "EPSG:4545"), rows, driver="GPKG",
                         crs="EPSG:4545")  # fmt: skip
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(
        'layer = "g"\n[columns]\ncode = "WGBM"\ncommunity_name = "SQMC"\n'
        'community_name_en = "SQMC_EN"\n',
        encoding="utf-8",
    )
    code, out = run("load-grid", source, "--mapping", mapping, "--city", city, "--out", city)
    assert code == 0, out
    areas = Grid.load(city).areas
    assert (areas["450103901902"].name_zh, areas["450103901902"].name_en) == ("东社区", "East")
    assert areas["450103901"].name_zh == "450103901"  # no street name column: the code
    assert areas["450103901"].parent == "450103"


def test_the_written_files_are_byte_stable(tmp_path: Path, city: Path) -> None:
    source, options = source_file(tmp_path, "gpkg")
    first, second = tmp_path / "a", tmp_path / "b"
    for out in (first, second):
        code, text = run("load-grid", source, *options, "--city", city, "--out", out)
        assert code == 0, text
    for name in ("cells.geojson", "areas.geojson"):
        assert (first / name).read_bytes() == (second / name).read_bytes()


def test_check_only_writes_nothing(tmp_path: Path, city: Path) -> None:
    source, options = source_file(tmp_path, "geojson")
    code, out = run("load-grid", source, *options, "--city", city)
    assert code == 0, out
    assert "checked only" in out
    assert not (city / "cells.geojson").exists()


# --- refused, nothing written ---------------------------------------------------------


def _refused(tmp_path: Path, city: Path, source: Path, *options: object) -> str:
    """load-grid with --out and --activate refuses: no file, no database, the message."""
    db = tmp_path / "gd.sqlite"
    code, out = run(
        "load-grid", source, *options, "--city", city, "--out", city, "--activate",
        env={"DATABASE_URL": f"sqlite:///{db}"},
    )  # fmt: skip
    assert code == 1, out
    assert "refused, nothing written" in out
    assert not (city / "cells.geojson").exists()
    assert not (city / "areas.geojson").exists()
    assert not db.exists()
    return out


def test_overlapping_cells_are_refused(tmp_path: Path, city: Path) -> None:
    geoms, rows = mini_cells()
    geoms = geoms.copy()
    geoms[1] = shapely.affinity.translate(geoms[1], xoff=-0.0005)  # half over its west neighbour
    source = write_layer(tmp_path / "g.gpkg", geoms, rows, driver="GPKG", crs="EPSG:4326")
    out = _refused(tmp_path, city, source, *OPTIONS)
    assert "feature 450103901901001 (#0): overlaps cell 450103901901002 by" in out


def test_a_missing_column_is_refused(tmp_path: Path, city: Path) -> None:
    source, options = source_file(tmp_path, "gpkg")
    out = _refused(tmp_path, city, source, *options, "--street-name-column", "JDMC_X")
    assert "no column 'JDMC_X' (given for street_name)" in out
    assert "WGBM, SQBM, SQMC, JDBM, JDMC, QXBM, QXMC" in out


def test_a_file_without_a_coordinate_system_is_refused(tmp_path: Path, city: Path) -> None:
    source, _ = source_file(tmp_path, "shp")  # GCJ-02, no .prj, and --source-crs left out
    out = _refused(tmp_path, city, source, *OPTIONS)
    assert "declares no coordinate system" in out
    assert "gcj02" in out


def test_metres_declared_as_degrees_are_refused(tmp_path: Path, city: Path) -> None:
    geoms, rows = mini_cells()
    source = write_layer(tmp_path / "g.gpkg", in_crs(geoms, "EPSG:4545"), rows, driver="GPKG",
                         crs="EPSG:4326")  # fmt: skip
    out = _refused(tmp_path, city, source, *OPTIONS)
    assert "says EPSG:4326 (degrees) but its coordinates reach" in out
    assert "projected" in out


def test_degrees_declared_as_metres_are_refused(tmp_path: Path, city: Path) -> None:
    source, _ = source_file(tmp_path, "geojson")
    out = _refused(tmp_path, city, source, *OPTIONS, "--source-crs", "EPSG:4545")
    assert "look like degrees" in out


def test_a_grid_with_a_routing_hole_is_refused(tmp_path: Path, city: Path) -> None:
    """Cells of street 450103902, which has no 街道办 unit: the catch-all rule finds none."""
    geoms, rows = mini_cells()
    for r in rows:
        if r["SQBM"].endswith("902"):
            r.update(WGBM=r["WGBM"].replace("901902", "902902"), SQBM="450103902902",
                     JDBM="450103902")  # fmt: skip
    source = write_layer(tmp_path / "g.gpkg", geoms, rows, driver="GPKG", crs="EPSG:4326")
    out = _refused(tmp_path, city, source, *OPTIONS)
    assert "HOLE" in out
    assert "450103902902" in out  # a sample cell of the hole


def test_a_name_given_twice_differently_is_refused(tmp_path: Path, city: Path) -> None:
    geoms, rows = mini_cells()
    rows[0]["SQMC"] = "另一个名字"
    source = write_layer(tmp_path / "g.gpkg", geoms, rows, driver="GPKG", crs="EPSG:4326")
    out = _refused(tmp_path, city, source, *OPTIONS)
    assert "community 450103901901 is named" in out


# --- the library below the command ----------------------------------------------------


def test_shapefile_numbers_are_codes(tmp_path: Path) -> None:
    """A numeric code column (Shapefile DBF numbers) gives the same text codes."""
    geoms, rows = mini_cells()
    for r in rows:
        r["WGBM"] = int(r["WGBM"])
    source = write_layer(tmp_path / "n.shp", geoms, rows, driver="ESRI Shapefile", crs="EPSG:4326")
    layer = read_layer(source)
    assert layer.crs == "EPSG:4326"
    files = import_cells(layer, ColumnMap(code="WGBM"))
    assert files.grid.codes[0] == "450103901901001"


def test_an_unknown_column_key_is_named() -> None:
    with pytest.raises(ValueError, match=r"unknown column key.*cell_code.*known: code"):
        ColumnMap.from_mapping({"cell_code": "WGBM"})


def test_a_layer_must_be_chosen_when_there_are_several(tmp_path: Path) -> None:
    geoms, rows = mini_cells()
    path = tmp_path / "two.gpkg"
    write_layer(path, geoms, rows, driver="GPKG", crs="EPSG:4326")
    import pyogrio.raw

    pyogrio.raw.write(path, shapely.to_wkb(geoms), [np.asarray([r["WGBM"] for r in rows])],
                      ["WGBM"], layer="other", driver="GPKG", geometry_type="Polygon",
                      crs="EPSG:4326", append=True)  # fmt: skip
    with pytest.raises(ValueError, match="2 layers"):
        read_layer(path)
    assert len(read_layer(path, layer="other").columns) == 1


def test_the_areas_file_is_geojson_in_the_project_format(tmp_path: Path) -> None:
    source, _ = source_file(tmp_path, "geojson")
    files = import_cells(read_layer(source), ColumnMap(code="WGBM", community_name="SQMC"))
    doc = json.loads(files.areas)
    levels = [f["properties"]["level"] for f in doc["features"]]
    assert levels == ["district", "street", "community", "community"]
    assert all(f["properties"]["generated"] is False for f in doc["features"])
    assert files.checksum == Grid.from_geojson(files.cells, files.areas).meta["checksum"]
