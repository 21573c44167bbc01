"""Cross-check ``Grid.locate_many`` against PostGIS ``ST_Contains`` on the Nanning grid.

100,000 random points over the grid's bounding box are located twice: by our
bucket index and by one PostGIS join against a GiST-indexed cell table. Every
point PostGIS puts in exactly one cell must get that cell from us; every point
PostGIS puts in no cell and that lies more than ~1 m from every cell must get "".
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import shapely

from geo import Grid

if TYPE_CHECKING:
    import psycopg

NANNING = Path(__file__).resolve().parents[2] / "grid_data" / "nanning"
N_POINTS = 100_000
SEED = 20240601
#: 1e-5 degree is ≥ 1.02 m in both directions at Nanning's latitude (22.8° N).
FAR_DEG = 1e-5

pytestmark = pytest.mark.postgis


@pytest.fixture(scope="module")
def grid() -> Grid:
    return Grid.load(NANNING, validate=False)


def _copy_cells(conn: psycopg.Connection, grid: Grid) -> None:
    geoms = np.asarray(grid.geoms, dtype=object)
    kinds = set(shapely.get_type_id(geoms).tolist())
    if kinds == {3}:
        kind = "Polygon"
    else:  # mixed: store everything as MultiPolygon
        kind = "MultiPolygon"
        single = shapely.get_type_id(geoms) == 3
        geoms = geoms.copy()
        geoms[single] = [shapely.MultiPolygon([g]) for g in geoms[single]]
    wkb = shapely.to_wkb(shapely.set_srid(geoms, 4326), hex=True, include_srid=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE cells (code text PRIMARY KEY, geom geometry({kind}, 4326))")
        with cur.copy("COPY cells (code, geom) FROM STDIN") as copy:
            for code, hexwkb in zip(grid.codes, wkb.tolist(), strict=True):
                copy.write_row((code, hexwkb))
        cur.execute("CREATE INDEX cells_geom_gist ON cells USING gist (geom)")
        cur.execute("ANALYZE cells")


def _copy_points(conn: psycopg.Connection, x: np.ndarray, y: np.ndarray) -> None:
    wkb = shapely.to_wkb(shapely.set_srid(shapely.points(x, y), 4326), hex=True, include_srid=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE pts (id integer PRIMARY KEY, geom geometry(Point, 4326))")
        with cur.copy("COPY pts (id, geom) FROM STDIN") as copy:
            for i, hexwkb in enumerate(wkb.tolist()):
                copy.write_row((i, hexwkb))
        cur.execute("CREATE INDEX pts_geom_gist ON pts USING gist (geom)")
        cur.execute("ANALYZE pts")


def test_locate_many_matches_postgis(pg_dsn: str, grid: Grid) -> None:
    import psycopg  # here, not at the top: without it pg_dsn fails in CI, skips elsewhere

    rng = np.random.default_rng(SEED)
    xmin, ymin, xmax, ymax = grid.bounds
    x = rng.uniform(xmin, xmax, N_POINTS)
    y = rng.uniform(ymin, ymax, N_POINTS)

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        _copy_cells(conn, grid)
        _copy_points(conn, x, y)
        # the WKB round trip must be exact, or the comparison below means nothing
        back = conn.execute(
            "SELECT ST_X(geom), ST_Y(geom) FROM pts WHERE id IN (0, %s) ORDER BY id",
            (N_POINTS - 1,),
        ).fetchall()
        assert back == [(x[0], y[0]), (x[-1], y[-1])]
        pairs = conn.execute(
            "SELECT p.id, c.code FROM pts p JOIN cells c ON ST_Contains(c.geom, p.geom)"
        ).fetchall()
        # points in no cell and more than FAR_DEG from every cell
        far_ids = [
            r[0]
            for r in conn.execute(
                "SELECT p.id FROM pts p WHERE NOT EXISTS "
                "(SELECT 1 FROM cells c WHERE ST_DWithin(c.geom, p.geom, %s))",
                (FAR_DEG,),
            )
        ]

    hits = Counter(pid for pid, _ in pairs)
    pg_code = np.full(N_POINTS, "", dtype=object)
    for pid, code in pairs:
        pg_code[pid] = code
    n_cells = np.zeros(N_POINTS, dtype=np.int64)
    n_cells[list(hits)] = list(hits.values())
    far = np.zeros(N_POINTS, dtype=bool)
    far[far_ids] = True

    ours = grid.locate_many(x, y, snap=False)

    one = n_cells == 1
    agree = one & (ours == pg_code.astype(str))
    wrong_inside = np.flatnonzero(one & ~agree)
    wrong_outside = np.flatnonzero(far & (ours != ""))
    near_gap = (n_cells == 0) & ~far  # within ~1 m of a cell: not checked
    print(
        f"\n{N_POINTS} points: {int(one.sum())} in exactly one cell (agree {int(agree.sum())}), "
        f"{int((n_cells > 1).sum())} in several, {int(far.sum())} far outside "
        f"(ours '' for {int((far & (ours == '')).sum())}), {int(near_gap.sum())} near an edge "
        f"outside every cell (not checked)"
    )
    assert (n_cells == 0)[far].all(), "a point far from every cell is inside one"
    assert len(wrong_inside) == 0, [
        (float(x[i]), float(y[i]), pg_code[i], str(ours[i])) for i in wrong_inside[:10]
    ]
    assert len(wrong_outside) == 0, [
        (float(x[i]), float(y[i]), str(ours[i])) for i in wrong_outside[:10]
    ]
    assert int(agree.sum()) > 50_000, "too few points inside cells: the check is vacuous"
    assert int(far.sum()) > 1_000, "too few points outside the grid: the '' check is vacuous"
