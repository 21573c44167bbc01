"""Unit-cell generation: coverage, numbering, slivers, determinism."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from geo.build import build_cells, partition
from geo.io import write_features
from geo.validate import area_m2

TO_M = Transformer.from_crs("EPSG:4326", "EPSG:4545", always_xy=True)
TO_DEG = Transformer.from_crs("EPSG:4545", "EPSG:4326", always_xy=True)


def metric_polygon(coords_m: list[tuple[float, float]]) -> shapely.Polygon:
    """A WGS-84 polygon from metric EPSG:4545 coordinates (so tests reason in metres)."""
    xs, ys = zip(*coords_m, strict=True)
    lon, lat = TO_DEG.transform(xs, ys)
    return shapely.Polygon(zip(lon, lat, strict=True))


def to_metric(g: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(g, lambda c: np.column_stack(TO_M.transform(*c.T)))


X0, Y0 = 533_000.0, 2_523_000.0  # a lattice-aligned point in Nanning (EPSG:4545 metres)


def test_a_lattice_aligned_rectangle_gives_whole_numbered_squares() -> None:
    parent = metric_polygon([(X0, Y0), (X0 + 300, Y0), (X0 + 300, Y0 + 200), (X0, Y0 + 200)])
    cells = build_cells([("450103901901", parent)])
    assert [c.code for c in cells] == [f"450103901901{i:03d}" for i in range(1, 7)]
    cents = [to_metric(c.geometry).centroid for c in cells]
    # north row first, west to east
    assert [(round(p.x - X0), round(p.y - Y0)) for p in cents] == [
        (50, 150),
        (150, 150),
        (250, 150),
        (50, 50),
        (150, 50),
        (250, 50),
    ]
    assert all(abs(to_metric(c.geometry).area - 10_000) < 1 for c in cells)


def test_slivers_merge_into_a_neighbour_and_the_parent_stays_covered() -> None:
    # 310 m wide: the last column is a 10 m sliver, merged into its neighbours
    parent = metric_polygon([(X0, Y0), (X0 + 310, Y0), (X0 + 310, Y0 + 200), (X0, Y0 + 200)])
    cells = build_cells([("450103901901", parent)], sliver_ratio=0.25)
    assert len(cells) == 6
    areas = sorted(to_metric(c.geometry).area for c in cells)
    assert areas == pytest.approx([10_000] * 4 + [11_000] * 2, abs=2)  # 1 cm output rounding
    union = shapely.union_all([c.geometry for c in cells])
    assert shapely.symmetric_difference(union, parent).area < 1e-4 * parent.area  # 1 cm rounding


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.tuples(st.floats(0, 900), st.floats(0, 900)), min_size=3, max_size=12, unique=True),
    st.floats(0.0, 0.5),
)
def test_any_parent_is_tiled_without_gaps_or_overlaps(pts: list, ratio: float) -> None:
    hull = shapely.MultiPoint([(X0 + x, Y0 + y) for x, y in pts]).convex_hull.buffer(30)
    parent = metric_polygon(list(hull.exterior.coords))
    cells = build_cells([("450103901901", parent)], sliver_ratio=ratio)
    geoms = np.array([c.geometry for c in cells], dtype=object)
    assert shapely.is_valid(geoms).all()
    total = area_m2(geoms).sum()
    assert total == pytest.approx(area_m2([parent])[0], rel=1e-4)  # 1 cm output rounding
    union = shapely.union_all(geoms)
    assert abs(area_m2([union])[0] - total) < 1.0  # no overlaps beyond rounding
    assert len({c.code for c in cells}) == len(cells)
    again = build_cells([("450103901901", parent)], sliver_ratio=ratio)
    assert [shapely.to_wkb(c.geometry) for c in again] == [
        shapely.to_wkb(c.geometry) for c in cells
    ]


def test_written_cells_are_byte_identical(tmp_path: Path) -> None:
    parent = metric_polygon(
        [(X0 - 37, Y0 + 11), (X0 + 480, Y0 - 20), (X0 + 420, Y0 + 390), (X0, Y0 + 300)]
    )
    digests = []
    for n in range(2):
        cells = build_cells([("450103901901", parent)])
        out = tmp_path / f"cells{n}.geojson"
        write_features(out, [c.geometry for c in cells], [{"code": c.code} for c in cells])
        digests.append(hashlib.sha256(out.read_bytes()).hexdigest())
    assert digests[0] == digests[1]


def test_too_many_cells_for_the_digits_is_an_error() -> None:
    parent = metric_polygon([(X0, Y0), (X0 + 1100, Y0), (X0 + 1100, Y0 + 1000), (X0, Y0 + 1000)])
    with pytest.raises(ValueError, match="do not fit 2-digit"):
        build_cells([("450103901901", parent)], digits=2)


def test_partition_is_deterministic_and_covers_the_polygon() -> None:
    poly = metric_polygon([(X0, Y0), (X0 + 3000, Y0), (X0 + 3000, Y0 + 2000), (X0, Y0 + 2000)])
    a = partition(poly, 5, seed=7)
    b = partition(poly, 5, seed=7)
    assert [shapely.to_wkb(g) for g in a] == [shapely.to_wkb(g) for g in b]
    assert len(a) == 5
    # edges are straight in metres, not in degrees: along a 2 km edge they differ by ~0.1 m
    assert shapely.union_all(a).symmetric_difference(poly).area < 1e-4 * poly.area


@pytest.mark.slow
def test_the_nanning_demo_grid_regenerates_byte_identically(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    shared = root.parent / "shared" / "data" / "nanning"
    if not shared.exists():
        pytest.skip("shared/data/nanning not beside the checkout")
    subprocess.run(
        [
            sys.executable,
            str(root / "grid_data/nanning/generate.py"),
            "--shared",
            str(shared),
            "--out",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    for name in ("districts.geojson", "areas.geojson", "cells.geojson"):
        assert (tmp_path / name).read_bytes() == (root / "grid_data/nanning" / name).read_bytes(), (
            name
        )
