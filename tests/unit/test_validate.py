"""Bad grid files get clear errors naming the feature; gaps are reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import shapely

from geo import Grid, GridDataError
from geo.io import write_features

BOX = [[108.3, 22.8], [108.301, 22.8], [108.301, 22.801], [108.3, 22.801], [108.3, 22.8]]


def fc(features: list) -> dict:
    return {"type": "FeatureCollection", "features": features}


def feat(code: str, coords: list, gtype: str = "Polygon", **extra: object) -> dict:
    return {
        "type": "Feature",
        "properties": {"code": code, **extra},
        "geometry": {"type": gtype, "coordinates": coords},
    }


def load(tmp_path: Path, doc: object) -> Grid:
    path = tmp_path / "cells.geojson"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc), encoding="utf-8")
    return Grid.load(path)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"type": "Feature"}, "not a GeoJSON FeatureCollection"),
        (
            fc([feat("450103901901001", [[108.3, 22.8], [108.31, 22.81]], "LineString")]),
            "450103901901001 \\(#0\\).*Polygon",
        ),
        (fc([feat("450103901901001", [[[108.3, 22.8], [108.3, 22.8]]])]), "450103901901001"),
        (
            fc(
                [
                    {
                        "type": "Feature",
                        "properties": {},
                        "geometry": {"type": "Polygon", "coordinates": [BOX]},
                    }
                ]
            ),
            "#0.*code",
        ),
        (
            fc([feat("450103901901001", [BOX]), feat("450103901901001", [BOX])]),
            "duplicate cell code",
        ),
        (
            fc([feat("450103901901001", [BOX], community="450103902901")]),
            "does not start with its parent",
        ),
        (
            fc([feat("450103901901001", [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]])]),
            "450103901901001.*invalid polygon: Self-intersection",
        ),
        (
            fc(
                [
                    feat(
                        "450103901901001",
                        [
                            [
                                [431000, 2523000],
                                [431100, 2523000],
                                [431100, 2523100],
                                [431000, 2523000],
                            ]
                        ],
                    )
                ]
            ),
            "out of lon/lat range",
        ),
    ],
)
def test_bad_files_name_the_problem(tmp_path: Path, doc: object, message: str) -> None:
    with pytest.raises(GridDataError, match=message):
        load(tmp_path, doc)


def test_overlapping_cells_are_refused(tmp_path: Path) -> None:
    shifted = [[x + 0.0005, y] for x, y in BOX]
    with pytest.raises(GridDataError, match=r"450103901901001.*overlaps cell 450103901901002"):
        load(tmp_path, fc([feat("450103901901001", [BOX]), feat("450103901901002", [shifted])]))


def test_tiny_overlaps_are_tolerated_and_reported(tmp_path: Path) -> None:
    nudged = [[x + 0.001 - 1e-8, y] for x, y in BOX]  # ~1 mm overlap over 110 m: ~0.1 m²
    grid = load(tmp_path, fc([feat("450103901901001", [BOX]), feat("450103901901002", [nudged])]))
    assert grid.validation is not None
    assert grid.validation.mismatched_cells == ["450103901901001", "450103901901002"]


def test_gaps_are_reported_with_size_and_place(tmp_path: Path) -> None:
    ring = shapely.box(108.3, 22.8, 108.303, 22.803)
    hole = shapely.box(108.301, 22.801, 108.302, 22.802)
    cells = [shapely.difference(ring, hole)]
    write_features(tmp_path / "cells.geojson", cells, [{"code": "450103901901001"}])
    grid = Grid.load(tmp_path)
    assert grid.validation is not None
    (gap,) = grid.validation.gaps
    assert gap.area_m2 == pytest.approx(102.5 * 111.2, rel=0.01)  # 0.001° × 0.001° at 22.8°N
    assert hole.contains(shapely.Point(gap.lon, gap.lat))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(GridDataError, match="cannot read"):
        Grid.load(tmp_path / "nope.geojson")
