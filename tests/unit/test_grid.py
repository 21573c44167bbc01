"""Point location on the named test grid and the Nanning grid."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import (
    Grid,
    InvalidCoordinateError,
    OutsideServedAreaError,
    UnknownCRSError,
    from_wgs84,
)

# named points of the mini grid (cells are 0.001° squares from 108.300, 22.800)
CENTRE_NW = (108.3005, 22.8015)  # centre of the north-west cell
EDGE_N = (108.301, 22.8015)  # on the edge between the two western north cells
CORNER = (108.301, 22.801)  # shared by four cells
EDGE_COMMUNITIES = (108.302, 22.8005)  # edge between the two communities
M_PER_DEG_LON = 111_320 * math.cos(math.radians(22.8))


def brute_force(grid: Grid, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The documented rule, the slow way: lowest position whose closed cell holds the point."""
    pi, ci = shapely.STRtree(grid.geoms).query(shapely.points(x, y), predicate="intersects")
    res = np.full(len(x), np.iinfo(np.int64).max)
    np.minimum.at(res, pi, ci)
    res[res == np.iinfo(np.int64).max] = -1
    return res


def test_centre_gives_cell_and_parents(mini_grid: Grid) -> None:
    loc = mini_grid.locate(*CENTRE_NW)
    assert (loc.cell, loc.community, loc.street, loc.district) == (
        "450103901901001",
        "450103901901",
        "450103901",
        "450103",
    )
    assert loc.snapped_m == 0.0


def test_edge_and_corner_go_to_the_smallest_code(mini_grid: Grid) -> None:
    assert mini_grid.locate(*EDGE_N).cell == "450103901901001"
    assert mini_grid.locate(*CORNER).cell == "450103901901001"
    assert mini_grid.locate(*EDGE_COMMUNITIES).cell == "450103901901004"
    many = mini_grid.locate_many([EDGE_N[0], CORNER[0]], [EDGE_N[1], CORNER[1]])
    assert list(many) == ["450103901901001", "450103901901001"]


def test_gps_drift_just_outside_snaps_and_says_so(mini_grid: Grid) -> None:
    lon = 108.300 - 10 / M_PER_DEG_LON  # 10 m west of the west edge
    loc = mini_grid.locate(lon, 22.8015)
    assert loc.cell == "450103901901001"
    assert loc.snapped_m == pytest.approx(10, abs=0.5)
    assert mini_grid.locate_many([lon], [22.8015])[0] == "450103901901001"
    assert mini_grid.locate_many([lon], [22.8015], snap=False)[0] == ""


def test_farther_than_tolerance_is_outside_with_distance(mini_grid: Grid) -> None:
    lon = 108.300 - 100 / M_PER_DEG_LON
    with pytest.raises(OutsideServedAreaError) as err:
        mini_grid.locate(lon, 22.8015)
    assert err.value.distance_m == pytest.approx(100, abs=1)
    assert "outside the served area" in str(err.value)
    assert mini_grid.locate_many([lon, 0.0], [22.8015, 0.0])[0] == ""


def test_other_crs_are_converted_before_locating(mini_grid: Grid) -> None:
    for crs in ("gcj02", "bd09", "cgcs2000"):
        lon, lat = from_wgs84(*CENTRE_NW, crs)
        assert mini_grid.locate(lon, lat, crs=crs).cell == "450103901901001"
        assert mini_grid.locate_many([lon], [lat], crs=crs)[0] == "450103901901001"
    # the raw GCJ-02 point read as WGS-84 lands ~500 m away: outside this tiny grid
    lon, lat = from_wgs84(*CENTRE_NW, "gcj02")
    with pytest.raises(OutsideServedAreaError):
        mini_grid.locate(lon, lat)


def test_accuracy_circle_crossing_an_edge_is_flagged(mini_grid: Grid) -> None:
    lon = 108.301 - 3 / M_PER_DEG_LON  # 3 m west of an edge
    loc = mini_grid.locate(lon, 22.8015, accuracy_m=10)
    assert loc.near_edge is True
    assert loc.edge_m == pytest.approx(3, abs=0.2)
    assert mini_grid.locate(*CENTRE_NW, accuracy_m=10).near_edge is False


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(math.nan, 22.8), (108.3, math.inf), (200.0, 22.8), (108.3, -95.0), ("x", 22.8)],
)
def test_bad_coordinates_are_refused(mini_grid: Grid, lon: object, lat: object) -> None:
    with pytest.raises(InvalidCoordinateError):
        mini_grid.locate(lon, lat)  # type: ignore[arg-type]


def test_bad_coordinates_in_a_batch_name_the_index(mini_grid: Grid) -> None:
    with pytest.raises(InvalidCoordinateError, match="index 2"):
        mini_grid.locate_many([108.3, 108.3, math.nan], [22.8, 22.8, 22.8])


def test_unknown_crs_is_refused(mini_grid: Grid) -> None:
    with pytest.raises(UnknownCRSError):
        mini_grid.locate(*CENTRE_NW, crs="epsg:3857")
    with pytest.raises(UnknownCRSError):
        mini_grid.locate_many([CENTRE_NW[0]], [CENTRE_NW[1]], crs="mars")


def test_parent_areas_are_loaded_with_names(mini_grid: Grid) -> None:
    assert mini_grid.areas["450103901902"].name_zh == "东社区"
    assert mini_grid.areas["450103901"].generated is True
    assert "450103901902002" in mini_grid
    assert list(mini_grid.cells_in_bbox(108.3021, 22.8001, 108.3029, 22.8009)) == [
        mini_grid.position("450103901902002")
    ]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 4), st.sampled_from([0, 0.25, 0.5, 0.999])),
        min_size=1,
        max_size=50,
    )
)
def test_exactly_one_cell_on_lattice_points(mini_grid: Grid, picks: list) -> None:
    """Vertices, edge points and interiors: one cell each, by the documented rule."""
    x = np.array([108.300 + min(i + f, 6) * 0.0005 for i, _, f in picks])
    y = np.array([22.800 + j * 0.0005 for _, j, _ in picks])
    got = mini_grid.locate_indices(x, y, snap=False)
    assert (got == brute_force(mini_grid, x, y)).all()
    assert (got >= 0).all()
    singles = [mini_grid.position(mini_grid.locate(a, b).cell) for a, b in zip(x, y, strict=True)]
    assert singles == list(got)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["vertex", "edge", "random"]))
def test_nanning_points_agree_with_brute_force(nanning_grid: Grid, seed: int, kind: str) -> None:
    rng = np.random.default_rng(seed)
    if kind == "random":
        b = nanning_grid.bounds
        x = rng.uniform(b[0], b[2], 2000)
        y = rng.uniform(b[1], b[3], 2000)
    else:
        cells = nanning_grid.geoms[rng.integers(0, len(nanning_grid), 500)]
        xy, ring = shapely.get_coordinates(shapely.get_exterior_ring(cells), return_index=True)
        starts = np.flatnonzero(ring[:-1] == ring[1:])  # vertices that begin an edge
        pick = starts[rng.integers(0, len(starts), 2000)]
        if kind == "vertex":
            x, y = xy[pick, 0], xy[pick, 1]
        else:  # points along edges: exactly on them or within rounding of them
            t = rng.uniform(0, 1, 2000)
            x = xy[pick, 0] + t * (xy[pick + 1, 0] - xy[pick, 0])
            y = xy[pick, 1] + t * (xy[pick + 1, 1] - xy[pick, 1])
    got = nanning_grid.locate_indices(x, y, snap=False)
    assert (got == brute_force(nanning_grid, x, y)).all()
    if kind == "vertex":
        assert (got >= 0).all()  # every vertex of a cell is covered
    if kind == "edge":  # on an outer edge, rounding may put a point a hair outside: it snaps
        assert (nanning_grid.locate_indices(x, y) >= 0).all()
    some = rng.integers(0, len(x), 50)
    for i in some:
        if got[i] >= 0:
            assert nanning_grid.locate(x[i], y[i]).cell == nanning_grid.codes[got[i]]


def test_locate_many_keeps_input_shape(mini_grid: Grid) -> None:
    x = np.full((2, 3), CENTRE_NW[0])
    y = np.full((2, 3), CENTRE_NW[1])
    out = mini_grid.locate_many(x, y)
    assert out.shape == (2, 3)
    assert (out == "450103901901001").all()
    assert mini_grid.locate_many([], []).shape == (0,)
