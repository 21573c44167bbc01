"""Tests for geo.crs: reference values, exact round trips, identities and input validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from geo.crs import CRS_NAMES, from_wgs84, normalize_crs, to_wgs84
from geo.errors import InvalidCoordinateError, UnknownCRSError

ROUND_TRIP_M = 0.01
NANNING = (108.3200, 22.8170)  # WGS-84, central Nanning

china_lon = st.floats(73.0, 135.0)
china_lat = st.floats(18.0, 53.0)
shifted = st.sampled_from(["gcj02", "bd09"])
any_crs = st.sampled_from(CRS_NAMES)
# Points outside the public GCJ-02 box (lon 72.004..137.8347, lat 0.8293..55.8271).
outside = st.one_of(
    st.tuples(st.floats(-180.0, 72.0) | st.floats(137.84, 180.0), st.floats(-90.0, 90.0)),
    st.tuples(st.floats(-180.0, 180.0), st.floats(-90.0, 0.829) | st.floats(55.828, 90.0)),
)
shapes = hnp.array_shapes(min_dims=1, max_dims=2, min_side=0, max_side=16)


def dist_m(lon1: object, lat1: object, lon2: object, lat2: object) -> np.ndarray:
    """Haversine distance in metres on a 6371 km sphere (element-wise)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    h = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return np.asarray(2 * 6371008.8 * np.arcsin(np.sqrt(h)))


# --- reference values -------------------------------------------------------------------------


def test_nanning_gcj02_offset_is_about_half_a_kilometre() -> None:
    lon, lat = from_wgs84(*NANNING, "gcj02")
    assert 400.0 < float(dist_m(*NANNING, lon, lat)) < 600.0
    assert lon > NANNING[0]  # GCJ-02 shifts Nanning east


def test_nanning_bd09_offset_is_about_one_kilometre() -> None:
    lon, lat = from_wgs84(*NANNING, "bd09")
    assert 1000.0 < float(dist_m(*NANNING, lon, lat)) < 1300.0
    assert lat > NANNING[1]


# Published results of the public algorithm for (116.404, 39.915), Beijing, as printed in
# wandergis/coordtransform test/app.js.  The two "to" values there come from the common one-step
# approximate inverses, so our exact inverses must agree only to a few centimetres.
def test_published_wgs84_to_gcj02() -> None:
    lon, lat = from_wgs84(116.404, 39.915, "gcj02")
    assert lon == pytest.approx(116.41024449916938, abs=1e-9)
    assert lat == pytest.approx(39.91640428150164, abs=1e-9)


def test_published_gcj02_to_bd09() -> None:
    wgs = to_wgs84(116.404, 39.915, "gcj02")  # the WGS-84 point whose GCJ-02 is (116.404, 39.915)
    lon, lat = from_wgs84(*wgs, "bd09")
    assert lon == pytest.approx(116.41036949371029, abs=1e-9)
    assert lat == pytest.approx(39.92133699351021, abs=1e-9)


def test_published_approximate_inverses_are_close() -> None:
    lon, lat = to_wgs84(116.404, 39.915, "gcj02")
    assert float(dist_m(lon, lat, 116.39775550083061, 39.91359571849836)) < 0.1
    gcj = from_wgs84(*to_wgs84(116.404, 39.915, "bd09"), "gcj02")
    assert float(dist_m(*gcj, 116.39762729119315, 39.90865673957631)) < 0.1


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("WGS-84", "wgs84"),
        ("wgs84", "wgs84"),
        ("EPSG:4326", "wgs84"),
        ("epsg:4326", "wgs84"),
        ("4326", "wgs84"),
        ("EPSG:4490", "cgcs2000"),
        ("CGCS2000", "cgcs2000"),
        ("GCJ-02", "gcj02"),
        (" gcj02 ", "gcj02"),
        ("gcj_02", "gcj02"),
        ("bd-09", "bd09"),
        ("BD09", "bd09"),
        ("bd09ll", "bd09"),
    ],
)
def test_normalize_crs_aliases(alias: str, expected: str) -> None:
    assert normalize_crs(alias) == expected


@pytest.mark.parametrize("name", ["epsg:3857", "mars", "", "wgs", "EPSG:4490x"])
def test_unknown_crs_names_the_accepted_ones(name: str) -> None:
    with pytest.raises(UnknownCRSError, match="unknown coordinate system") as info:
        normalize_crs(name)
    assert repr(name) in str(info.value)
    assert all(c in str(info.value) for c in CRS_NAMES)
    with pytest.raises(UnknownCRSError):
        to_wgs84(108.3, 22.8, name)
    with pytest.raises(UnknownCRSError):
        from_wgs84([108.3], [22.8], name)


# --- properties -------------------------------------------------------------------------------


@given(china_lon, china_lat, shifted)
def test_scalar_round_trip_is_exact(lon: float, lat: float, crs: str) -> None:
    back = to_wgs84(*from_wgs84(lon, lat, crs), crs)
    assert isinstance(back[0], float)
    assert isinstance(back[1], float)
    assert float(dist_m(lon, lat, *back)) < ROUND_TRIP_M
    forth = from_wgs84(*to_wgs84(lon, lat, crs), crs)  # the inverse is exact from either side
    assert float(dist_m(lon, lat, *forth)) < ROUND_TRIP_M


@settings(deadline=None)
@given(st.data(), shapes, shifted)
def test_array_round_trip_is_exact(data: st.DataObject, shape: tuple[int, ...], crs: str) -> None:
    lon = data.draw(hnp.arrays(np.float64, shape, elements=china_lon))
    lat = data.draw(hnp.arrays(np.float64, shape, elements=china_lat))
    out = from_wgs84(lon, lat, crs)
    back = to_wgs84(*out, crs)
    for arr in (*out, *back):
        assert arr.shape == shape
        assert arr.dtype == np.float64
    assert (dist_m(lon, lat, *back) < ROUND_TRIP_M).all()


def test_round_trip_at_the_lon_105_kink() -> None:
    # The GCJ-02 polynomial has sqrt(|lon - 105|), whose slope is unbounded at 105.
    lon = 105.0 + np.array([0.0, 1e-15, -1e-12, 1e-9, -1e-6])
    lat = np.full(lon.shape, 30.0)
    for crs in ("gcj02", "bd09"):
        back = to_wgs84(*from_wgs84(lon, lat, crs), crs)
        assert (dist_m(lon, lat, *back) < ROUND_TRIP_M).all()


@given(outside, any_crs)
def test_identity_outside_china(point: tuple[float, float], crs: str) -> None:
    assert from_wgs84(*point, crs) == point
    assert to_wgs84(*point, crs) == point


@given(st.floats(-180.0, 180.0), st.floats(-90.0, 90.0), st.sampled_from(["wgs84", "cgcs2000"]))
def test_wgs84_and_cgcs2000_are_identity(lon: float, lat: float, crs: str) -> None:
    assert from_wgs84(lon, lat, crs) == (lon, lat)
    assert to_wgs84(lon, lat, crs) == (lon, lat)


@settings(deadline=None)
@given(st.lists(st.tuples(china_lon, china_lat), min_size=1, max_size=20), any_crs, st.booleans())
def test_scalar_and_array_agree(points: list[tuple[float, float]], crs: str, inv: bool) -> None:
    func = to_wgs84 if inv else from_wgs84
    lons, lats = func([p[0] for p in points], [p[1] for p in points], crs)
    for i, (lon, lat) in enumerate(points):
        one = func(lon, lat, crs)
        assert one == pytest.approx((lons[i], lats[i]), abs=1e-11, rel=0)


def test_empty_and_2d_arrays() -> None:
    for crs in CRS_NAMES:
        lon, lat = to_wgs84(np.empty(0), np.empty(0), crs)
        assert lon.shape == lat.shape == (0,)
    grid_lon, grid_lat = np.meshgrid(np.linspace(108.1, 108.6, 4), np.linspace(22.6, 23.0, 3))
    lon, lat = from_wgs84(grid_lon, grid_lat, "bd09")
    assert lon.shape == lat.shape == (3, 4)
    one = from_wgs84(float(grid_lon[2, 1]), float(grid_lat[2, 1]), "bd09")
    assert one == pytest.approx((lon[2, 1], lat[2, 1]), abs=1e-12)


def test_inputs_are_not_modified() -> None:
    lon, lat = np.array([108.32, 10.0]), np.array([22.817, 60.0])
    out_lon, _ = to_wgs84(lon, lat, "wgs84")
    out_lon[0] = 0.0
    from_wgs84(lon, lat, "gcj02")
    assert lon.tolist() == [108.32, 10.0]
    assert lat.tolist() == [22.817, 60.0]


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lon", "lat", "shown"),
    [
        (math.nan, 22.8, "lon=nan"),
        (108.3, math.nan, "lat=nan"),
        (math.inf, 22.8, "lon=inf"),
        (108.3, -math.inf, "lat=-inf"),
        (200.0, 22.8, "lon=200.0"),
        (-180.5, 22.8, "lon=-180.5"),
        (108.3, -95.0, "lat=-95.0"),
        (108.3, 90.0001, "lat=90.0001"),
    ],
)
@pytest.mark.parametrize("crs", CRS_NAMES)
def test_bad_scalars_raise(lon: float, lat: float, shown: str, crs: str) -> None:
    for func in (to_wgs84, from_wgs84):
        with pytest.raises(InvalidCoordinateError, match=r"invalid coordinate") as info:
            func(lon, lat, crs)
        assert shown in str(info.value)
        assert "[-180, 180]" in str(info.value)


def test_bad_array_element_names_first_index() -> None:
    lon = np.array([108.3, 108.4, np.nan, 200.0])
    lat = np.array([22.8, 22.8, 22.8, 22.8])
    with pytest.raises(InvalidCoordinateError, match=r"at index 2: lon=nan"):
        to_wgs84(lon, lat, "gcj02")
    lon2 = np.array([[108.3, 108.4], [108.5, 108.6]])
    lat2 = np.array([[22.8, 22.8], [-95.0, 22.8]])
    with pytest.raises(InvalidCoordinateError, match=r"at index \(1, 0\): lon=108.5, lat=-95.0"):
        from_wgs84(lon2, lat2, "bd09")


def test_mismatched_shapes_and_non_numbers_raise() -> None:
    with pytest.raises(InvalidCoordinateError, match="shape"):
        to_wgs84([108.3, 108.4], [22.8], "gcj02")
    with pytest.raises(InvalidCoordinateError, match="must be numbers"):
        to_wgs84("east", 22.8, "gcj02")


def test_errors_are_value_errors() -> None:
    assert issubclass(InvalidCoordinateError, ValueError)
    assert issubclass(UnknownCRSError, ValueError)
