"""The PostGIS side of bench/locate.py: the same cells in a GiST-indexed table."""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING

import numpy as np
import shapely

if TYPE_CHECKING:
    from geo.grid import Grid

BENCH_DB = "griddispatch_bench_locate"


class PostGIS:
    """A benchmark database with PostGIS; cells are loaded per grid."""

    def __init__(self, admin_dsn: str) -> None:
        import psycopg
        from psycopg import sql
        from psycopg.conninfo import make_conninfo

        self.psycopg = psycopg
        self.admin = psycopg.connect(admin_dsn, autocommit=True)
        self.drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(BENCH_DB)
        )
        self.admin.execute(self.drop)
        self.admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))
        self.conn = psycopg.connect(make_conninfo(admin_dsn, dbname=BENCH_DB), autocommit=True)
        self.conn.execute("CREATE EXTENSION postgis")
        row = self.conn.execute("SELECT postgis_lib_version(), version()").fetchone()
        assert row is not None
        self.postgis_version = row[0]
        self.server_version = row[1].split(",")[0]
        workers = self.conn.execute("SHOW max_parallel_workers_per_gather").fetchone()
        self.parallel_workers = workers[0] if workers else "?"

    def close(self) -> None:
        self.conn.close()
        self.admin.execute(self.drop)
        self.admin.close()

    def load_cells(self, table: str, grid: Grid) -> float:
        """COPY the cells into ``table`` with a GiST index; returns seconds."""
        t0 = time.perf_counter()
        wkb = shapely.to_wkb(shapely.set_srid(grid.geoms, 4326), hex=True, include_srid=True)
        buf = io.StringIO()
        for code, hexwkb in zip(grid.codes, wkb.tolist(), strict=True):
            buf.write(f"{code}\t{hexwkb}\n")
        with self.conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
            cur.execute(
                f"CREATE TABLE {table} (code text PRIMARY KEY, geom geometry(Geometry, 4326))"
            )
            with cur.copy(f"COPY {table} (code, geom) FROM STDIN") as copy:
                copy.write(buf.getvalue())
            cur.execute(f"CREATE INDEX {table}_gist ON {table} USING gist (geom)")
            cur.execute(f"VACUUM ANALYZE {table}")
        return time.perf_counter() - t0

    def batch(self, table: str, x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
        """COPY the points (EWKB) into a fresh table and join them to the cells.

        Returns (seconds for encoding + COPY + join + fetch, seconds for join + fetch, rows).
        """
        t0 = time.perf_counter()
        wkb = shapely.to_wkb(
            shapely.set_srid(shapely.points(x, y), 4326), hex=True, include_srid=True
        )
        buf = io.StringIO()
        for i, hexwkb in enumerate(wkb.tolist()):
            buf.write(f"{i}\t{hexwkb}\n")
        with self.conn.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS pts")
            cur.execute("CREATE UNLOGGED TABLE pts (id integer, geom geometry(Point, 4326))")
            with cur.copy("COPY pts (id, geom) FROM STDIN") as copy:
                copy.write(buf.getvalue())
            cur.execute("ANALYZE pts")
            t1 = time.perf_counter()
            cur.execute(
                f"SELECT p.id, c.code FROM pts p JOIN {table} c ON ST_Contains(c.geom, p.geom)"
            )
            rows = cur.fetchall()
        t2 = time.perf_counter()
        return t2 - t0, t2 - t1, len(rows)

    def single(self, table: str, xs: list[float], ys: list[float]) -> np.ndarray:
        """Per-point latency (ns) of a prepared ``ST_Contains`` query, one round trip each."""
        query = (
            f"SELECT code FROM {table} "
            "WHERE ST_Contains(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326))"
        )
        out = np.empty(len(xs), dtype=np.int64)
        pc = time.perf_counter_ns
        with self.conn.cursor() as cur:
            for a, b in zip(xs[:50], ys[:50], strict=False):  # warm up, prepare
                cur.execute(query, (a, b), prepare=True)
                cur.fetchall()
            for i, (a, b) in enumerate(zip(xs, ys, strict=True)):
                t0 = pc()
                cur.execute(query, (a, b), prepare=True)
                cur.fetchall()
                out[i] = pc() - t0
        return out
