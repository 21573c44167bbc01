"""The bucket index against brute force on irregular tilings, holes and near-matching edges."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.index import CellIndex


def brute(geoms: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    pi, ci = shapely.STRtree(geoms).query(shapely.points(x, y), predicate="intersects")
    res = np.full(len(x), np.iinfo(np.int64).max)
    np.minimum.at(res, pi, ci)
    res[res == np.iinfo(np.int64).max] = -1
    return res


def jittered_quads(seed: int, nx: int, ny: int, jitter: float, d: float = 0.001) -> np.ndarray:
    rng = np.random.default_rng(seed)
    gx, gy = np.meshgrid(np.arange(nx + 1) * d + 108.2, np.arange(ny + 1) * d + 22.7)
    gx = gx + rng.uniform(-jitter, jitter, gx.shape) * d
    gy = gy + rng.uniform(-jitter, jitter, gy.shape) * d
    return np.array(
        [
            shapely.Polygon(
                [
                    (gx[j, i], gy[j, i]),
                    (gx[j, i + 1], gy[j, i + 1]),
                    (gx[j + 1, i + 1], gy[j + 1, i + 1]),
                    (gx[j + 1, i], gy[j + 1, i]),
                ]
            )
            for j in range(ny)
            for i in range(nx)
        ],
        dtype=object,
    )


def sample(geoms: np.ndarray, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Random points plus every vertex and points interpolated along edges."""
    b = shapely.total_bounds(geoms)
    x = rng.uniform(b[0] - 0.001, b[2] + 0.001, n)
    y = rng.uniform(b[1] - 0.001, b[3] + 0.001, n)
    xy = shapely.get_coordinates(geoms)
    t = rng.uniform(0, 1, len(xy) - 1)
    ex = xy[:-1, 0] + t * (xy[1:, 0] - xy[:-1, 0])
    ey = xy[:-1, 1] + t * (xy[1:, 1] - xy[:-1, 1])
    return np.concatenate([x, xy[:, 0], ex]), np.concatenate([y, xy[:, 1], ey])


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31), st.floats(0.0, 0.45), st.integers(1, 8))
def test_jittered_tilings_match_brute_force(seed: int, jitter: float, resolution: int) -> None:
    geoms = jittered_quads(seed, 20, 15, jitter)
    index = CellIndex(geoms, resolution=resolution)
    x, y = sample(geoms, np.random.default_rng(seed), 5000)
    got = index.lookup(x, y)
    assert (got == brute(geoms, x, y)).all()
    assert [index.lookup_one(a, b) for a, b in zip(x[:300], y[:300], strict=True)] == list(
        got[:300]
    )


def test_a_cell_inside_another_cells_hole() -> None:
    outer = shapely.box(108.3, 22.8, 108.303, 22.803).difference(
        shapely.box(108.301, 22.801, 108.302, 22.802)
    )
    inner = shapely.box(108.301, 22.801, 108.302, 22.802)
    geoms = np.array([outer, inner], dtype=object)
    index = CellIndex(geoms)
    x, y = sample(geoms, np.random.default_rng(1), 20000)
    assert (index.lookup(x, y) == brute(geoms, x, y)).all()
    assert index.lookup_one(108.3015, 22.8015) == 1
    assert index.lookup_one(108.3005, 22.8015) == 0


def test_edges_that_match_only_nearly() -> None:
    geoms = jittered_quads(3, 12, 10, 0.3)
    rng = np.random.default_rng(5)
    # move each cell's vertices by up to 1e-10 degrees, differently per cell (a ring's
    # first and last points move alike): neighbours' shared edges no longer coincide
    geoms = np.array(
        [
            shapely.transform(g, lambda c, k=k: c + 1e-10 * np.sin(c * 1e6 + k))
            for k, g in enumerate(geoms)
        ],
        dtype=object,
    )
    geoms = geoms[shapely.is_valid(geoms)]
    index = CellIndex(geoms)
    x, y = sample(geoms, rng, 20000)
    assert (index.lookup(x, y) == brute(geoms, x, y)).all()


def test_multipolygon_cells_and_far_points() -> None:
    a = shapely.MultiPolygon([shapely.box(0, 0, 1, 1), shapely.box(2, 0, 3, 1)])
    b = shapely.box(1, 0, 2, 1)
    geoms = np.array([a, b], dtype=object)
    index = CellIndex(geoms)
    assert list(
        index.lookup(np.array([0.5, 1.5, 2.5, 9.0, -5.0]), np.array([0.5] * 4 + [0.5]))
    ) == [
        0,
        1,
        0,
        -1,
        -1,
    ]
