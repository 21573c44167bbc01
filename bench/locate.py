"""Point-location benchmark: our bucket index vs a shapely STRtree vs PostGIS.

    python bench/locate.py [--pg postgresql://postgres@127.0.0.1:5432/postgres]
                           [--points 1000000] [--quick]

Grids: the Nanning demo grid (``grid_data/nanning``) and a synthetic grid of
≥ 200,000 cells of 100 m (≥ 50,000 with ``--quick``) built by
:func:`geo.build.build_cells` from Voronoi parents of ~10 km² near Nanning; the
synthetic grid is cached as GeoJSON under ``var/bench/`` (gitignored).

Batch: points/s of ``grid.locate_indices(x, y, snap=False)``, of
``shapely.STRtree(geoms).query(shapely.points(x, y), predicate="intersects")``
and, with ``--pg``, of one PostGIS join (COPY + GiST-indexed ``ST_Contains``),
each the median of 3 runs. Single: per-call latency of ``grid.locate``, of a
naive ``tree.query(Point)`` + prepared ``contains`` loop and, with ``--pg``, of a
prepared per-point PostGIS query. Prints figures only; asserts nothing.

The PostGIS part uses its own database ``griddispatch_bench_locate`` (dropped
and recreated at the start, dropped at the end).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import shapely

from geo.build import build_cells, partition
from geo.grid import Grid
from geo.index import CellIndex
from geo.io import write_features

ROOT = Path(__file__).resolve().parents[1]
NANNING = ROOT / "grid_data" / "nanning"
CACHE = ROOT / "var" / "bench"
BENCH_DB = "griddispatch_bench_locate"
CENTRE = (108.32, 22.82)  # lon, lat of central Nanning
SEED = 20240601
RUNS = 3

T = TypeVar("T")


# --------------------------------------------------------------------- helpers
def median_time(fn: Callable[[], T], runs: int = RUNS) -> tuple[float, T]:
    """Median wall time in seconds over ``runs`` calls, and the last result."""
    times = []
    result: Any = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def percentiles_us(ns: np.ndarray) -> tuple[float, float]:
    p50, p99 = np.percentile(ns, [50, 99])
    return float(p50) / 1000, float(p99) / 1000


def fmt_rate(points_per_s: float | None) -> str:
    if points_per_s is None:
        return "–"
    if points_per_s >= 1e6:
        return f"{points_per_s / 1e6:.2f} M/s"
    return f"{points_per_s / 1e3:.0f} k/s"


def fmt(v: float | None, spec: str = ".1f") -> str:
    return "–" if v is None else format(v, spec)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def nproc() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ------------------------------------------------------------------- the grids
def synthetic_grid(area_km2: float, n_parents: int, cell_m: float = 100.0) -> tuple[Grid, dict]:
    """A square of ``area_km2`` around Nanning cut into Voronoi parents, then cells.

    Cached under ``var/bench/`` keyed by the parameters; returns the grid and timings.
    """
    key = f"synthetic_{int(area_km2)}km2_{n_parents}p_{int(cell_m)}m_s{SEED}_v1"
    folder = CACHE / key
    cells_path = folder / "cells.geojson"
    info: dict[str, Any] = {"cache": str(cells_path.relative_to(ROOT))}
    if cells_path.exists():
        info["cached"] = True
    else:
        info["cached"] = False
        lon0, lat0 = CENTRE
        half_km = math.sqrt(area_km2) / 2
        hw = half_km / (111.32 * math.cos(math.radians(lat0)))
        hh = half_km / 110.57
        square = shapely.box(lon0 - hw, lat0 - hh, lon0 + hw, lat0 + hh)
        t0 = time.perf_counter()
        parents = partition(square, n_parents, seed=SEED)
        # district 450199, street 3 digits, community 3 digits, cell 4 digits
        named = [(f"450199{i // 10 + 1:03d}{i % 10 + 1:03d}", p) for i, p in enumerate(parents)]
        cells = build_cells(named, cell_size_m=cell_m, digits=4)
        info["generate_s"] = time.perf_counter() - t0
        folder.mkdir(parents=True, exist_ok=True)
        tmp = cells_path.with_suffix(".tmp")
        write_features(
            tmp,
            [c.geometry for c in cells],
            (
                {
                    "code": c.code,
                    "district": c.parent[:6],
                    "street": c.parent[:9],
                    "community": c.parent,
                }
                for c in cells
            ),
            meta={"name": key},
        )
        tmp.replace(cells_path)
    t0 = time.perf_counter()
    grid = Grid.load(folder, validate=False)
    info["load_s"] = time.perf_counter() - t0
    return grid, info


def nanning_grid() -> tuple[Grid, dict]:
    t0 = time.perf_counter()
    grid = Grid.load(NANNING, validate=False)
    return grid, {"load_s": time.perf_counter() - t0, "cached": None}


# --------------------------------------------------------------------- PostGIS
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


# ------------------------------------------------------------------- benchmark
@dataclass
class Result:
    name: str
    cells: int = 0
    info: dict = field(default_factory=dict)
    index_s: float = 0.0
    index_mb: float = 0.0
    tree_s: float = 0.0
    ours_rate: float = 0.0
    tree_rate: float = 0.0
    mismatches: int = 0
    inside_share: float = 0.0
    pg_load_s: float | None = None
    pg_rate: float | None = None
    pg_join_rate: float | None = None
    pg_points: int = 0
    locate_us: tuple[float, float] = (0.0, 0.0)
    naive_us: tuple[float, float] = (0.0, 0.0)
    pg_us: tuple[float, float] | None = None
    n_single: int = 0
    n_pg_single: int = 0


def bench_grid(
    name: str,
    grid: Grid,
    info: dict,
    args: argparse.Namespace,
    pg: PostGIS | None,
    table: str,
) -> Result:
    r = Result(name, len(grid), info)
    print(f"\n== {name}: {len(grid):,} cells ==")
    if info.get("generate_s") is not None:
        print(f"generated by build_cells in {info['generate_s']:.1f} s (cached for next time)")
    elif info.get("cached"):
        print(f"read from the cache {info['cache']}")
    print(f"Grid.load (validate=False, includes one index build): {info['load_s']:.2f} s")
    r.index_s, _ = median_time(lambda: CellIndex(grid.geoms))
    r.index_mb = grid.index.nbytes / 2**20
    print(
        f"CellIndex build: {r.index_s:.2f} s (median of {RUNS}); "
        f"index.nbytes = {grid.index.nbytes:,} ({r.index_mb:.1f} MiB); "
        f"buckets {grid.index.nx} × {grid.index.ny}"
    )

    rng = np.random.default_rng(SEED)
    xmin, ymin, xmax, ymax = grid.bounds
    m = args.points
    x = rng.uniform(xmin, xmax, m)
    y = rng.uniform(ymin, ymax, m)

    # ---- batch
    grid.locate_indices(x[:1000], y[:1000], snap=False)  # warm up
    t_ours, ours = median_time(lambda: grid.locate_indices(x, y, snap=False))
    r.ours_rate = m / t_ours
    r.inside_share = float((ours >= 0).mean())
    print(
        f"ours   locate_indices: {t_ours:.3f} s for {m:,} points = {fmt_rate(r.ours_rate)} "
        f"({r.inside_share:.1%} inside a cell)"
    )

    def build_tree() -> shapely.STRtree:
        t = shapely.STRtree(grid.geoms)
        t.query(shapely.points(x[:1], y[:1]))  # GEOS builds the tree on the first query
        return t

    r.tree_s, tree = median_time(build_tree)
    t_tree, (pi, ci) = median_time(lambda: tree.query(shapely.points(x, y), predicate="intersects"))
    r.tree_rate = m / t_tree
    print(
        f"STRtree query (incl. shapely.points): {t_tree:.3f} s = {fmt_rate(r.tree_rate)}; "
        f"tree build {r.tree_s:.2f} s (separate)"
    )
    # sanity: the lowest cell per point from the tree must equal ours
    lowest = np.full(m, np.iinfo(np.int64).max)
    np.minimum.at(lowest, pi, ci)
    lowest[lowest == np.iinfo(np.int64).max] = -1
    r.mismatches = int((lowest != ours).sum())
    print(f"ours/STRtree = {r.ours_rate / r.tree_rate:.1f}×; disagreements: {r.mismatches}")

    if pg is not None:
        r.pg_load_s = pg.load_cells(table, grid)
        print(f"PostGIS: COPY {len(grid):,} cells + GiST + ANALYZE in {r.pg_load_s:.1f} s")
        mp = min(m, args.pg_points)
        r.pg_points = mp
        runs = [pg.batch(table, x[:mp], y[:mp]) for _ in range(RUNS)]
        t_all = statistics.median(t for t, _, _ in runs)
        t_join = statistics.median(t for _, t, _ in runs)
        r.pg_rate, r.pg_join_rate = mp / t_all, mp / t_join
        n_rows = runs[-1][2]
        print(
            f"PostGIS batch ({mp:,} points): COPY+join {t_all:.2f} s = {fmt_rate(r.pg_rate)}; "
            f"join only {t_join:.2f} s = {fmt_rate(r.pg_join_rate)}; {n_rows:,} rows "
            f"(ours inside: {int((ours[:mp] >= 0).sum()):,})"
        )

    # ---- single lookups, points inside the grid
    inside = np.flatnonzero(ours >= 0)[: args.single]
    xs, ys = x[inside].tolist(), y[inside].tolist()
    r.n_single = len(xs)
    pc = time.perf_counter_ns
    locate = grid.locate
    for a, b in zip(xs[:1000], ys[:1000], strict=False):  # warm up
        locate(a, b)
    ns = np.empty(len(xs), dtype=np.int64)
    for i, (a, b) in enumerate(zip(xs, ys, strict=True)):
        t0 = pc()
        locate(a, b)
        ns[i] = pc() - t0
    r.locate_us = percentiles_us(ns)
    print(
        f"grid.locate, {len(xs):,} single calls: "
        f"p50 {r.locate_us[0]:.1f} µs, p99 {r.locate_us[1]:.1f} µs"
    )

    geoms = grid.geoms
    shapely.prepare(geoms)
    point = shapely.Point
    query = tree.query

    def naive(a: float, b: float) -> int:
        p = point(a, b)
        for c in query(p):
            if geoms[c].contains(p):
                return int(c)
        return -1

    n_naive = len(xs)
    ns = np.empty(n_naive, dtype=np.int64)
    for a, b in zip(xs[:1000], ys[:1000], strict=False):
        naive(a, b)
    for i, (a, b) in enumerate(zip(xs[:n_naive], ys[:n_naive], strict=True)):
        t0 = pc()
        naive(a, b)
        ns[i] = pc() - t0
    r.naive_us = percentiles_us(ns)
    print(
        f"naive tree.query(Point) + prepared contains, {n_naive:,} calls: "
        f"p50 {r.naive_us[0]:.1f} µs, p99 {r.naive_us[1]:.1f} µs"
    )

    if pg is not None:
        n = min(args.pg_single, len(xs))
        r.n_pg_single = n
        r.pg_us = percentiles_us(pg.single(table, xs[:n], ys[:n]))
        print(
            f"PostGIS prepared per-point query, {n:,} calls: "
            f"p50 {r.pg_us[0]:.1f} µs, p99 {r.pg_us[1]:.1f} µs; "
            f"PostGIS/ours p50 = {r.pg_us[0] / r.locate_us[0]:.0f}×"
        )
    return r


def table(results: list[Result], pg: PostGIS | None, args: argparse.Namespace) -> str:
    lines = [
        "| grid | cells | index build | index size | ours batch | STRtree batch "
        "(tree build) | ours/STRtree | PostGIS batch: COPY+join (join only) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        pg_batch = (
            f"{fmt_rate(r.pg_rate)} ({fmt_rate(r.pg_join_rate)})" if r.pg_rate is not None else "–"
        )
        lines.append(
            f"| {r.name} | {r.cells:,} | {r.index_s:.2f} s | {r.index_mb:.1f} MiB | "
            f"{fmt_rate(r.ours_rate)} | {fmt_rate(r.tree_rate)} ({r.tree_s:.2f} s) | "
            f"{r.ours_rate / r.tree_rate:.1f}× | {pg_batch} |"
        )
    lines += [
        "",
        "| grid | `grid.locate` p50 / p99 | naive STRtree loop p50 / p99 "
        "| PostGIS per point p50 / p99 | PostGIS p50 / ours p50 |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        pg_single = f"{r.pg_us[0]:.0f} / {r.pg_us[1]:.0f} µs" if r.pg_us else "–"
        ratio = f"{r.pg_us[0] / r.locate_us[0]:.0f}×" if r.pg_us else "–"
        lines.append(
            f"| {r.name} | {r.locate_us[0]:.1f} / {r.locate_us[1]:.1f} µs | "
            f"{r.naive_us[0]:.1f} / {r.naive_us[1]:.1f} µs | {pg_single} | {ratio} |"
        )
    pg_note = (
        f"PostGIS batch on the first {min(args.pg_points, args.points):,} points; "
        f"per-point PostGIS over {args.pg_single:,} points."
        if pg is not None
        else "PostGIS not run (no --pg)."
    )
    lines += [
        "",
        f"Batch: {args.points:,} random points over each grid's bounding box, median of "
        f"{RUNS} runs. Single: {args.single:,} points inside cells. {pg_note}",
    ]
    return "\n".join(lines)


def targets(results: list[Result]) -> list[str]:
    big = max(results, key=lambda r: r.cells)
    out = []

    def check(ok: bool, text: str) -> None:
        out.append(f"[{'met' if ok else 'MISSED'}] {text}")

    ratio = big.ours_rate / big.tree_rate
    check(ratio >= 3, f"{big.name}: ours ≥ 3× the STRtree batch — {ratio:.1f}×")
    check(
        big.ours_rate >= 3e6,
        f"{big.name}: ours ≥ 3 M points/s — {fmt_rate(big.ours_rate)}",
    )
    for r in results:
        check(r.locate_us[1] <= 20, f"{r.name}: locate p99 ≤ 20 µs — {r.locate_us[1]:.1f} µs")
    for r in results:
        if r.pg_us is not None:
            x = r.pg_us[0] / r.locate_us[0]
            check(x >= 20, f"{r.name}: ≥ 20× faster than per-point PostGIS (p50) — {x:.0f}×")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--pg", help="PostgreSQL DSN of a server with PostGIS (optional)")
    ap.add_argument("--points", type=int, help="batch points per grid (default 1,000,000)")
    ap.add_argument("--single", type=int, help="single-lookup calls (default 100,000)")
    ap.add_argument("--pg-points", type=int, help="PostGIS batch points (default 1,000,000)")
    ap.add_argument("--pg-single", type=int, help="PostGIS per-point queries (default 5,000)")
    ap.add_argument("--quick", action="store_true", help="small run: 50k-cell synthetic grid")
    args = ap.parse_args(argv)
    quick = args.quick
    args.points = args.points or (200_000 if quick else 1_000_000)
    args.single = args.single or (20_000 if quick else 100_000)
    args.pg_points = args.pg_points or (20_000 if quick else 1_000_000)
    args.pg_single = args.pg_single or (1_000 if quick else 5_000)
    area, n_parents = (500, 50) if quick else (2000, 200)

    t_start = time.perf_counter()
    pg = PostGIS(args.pg) if args.pg else None
    try:
        print("# bench/locate.py  " + " ".join(sys.argv[1:]))
        print(f"date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}")
        print(f"machine: {cpu_model()}, {nproc()} CPUs, {platform.system()} {platform.release()}")
        print(
            f"Python {platform.python_version()}, numpy {np.__version__}, "
            f"shapely {shapely.__version__}, GEOS {shapely.geos_version_string}"
            + (
                f", PostGIS {pg.postgis_version} on {pg.server_version} "
                f"(max_parallel_workers_per_gather {pg.parallel_workers})"
                if pg
                else ""
            )
        )
        results = []
        grid, info = nanning_grid()
        results.append(bench_grid("Nanning", grid, info, args, pg, "cells_nanning"))
        del grid
        grid, info = synthetic_grid(area, n_parents)
        results.append(bench_grid(f"synthetic {area} km²", grid, info, args, pg, "cells_synthetic"))
        print("\n" + table(results, pg, args))
        print("\nTargets (checked, not asserted):")
        for line in targets(results):
            print("  " + line)
        print(f"\ntotal run time {time.perf_counter() - t_start:.0f} s")
    finally:
        if pg is not None:
            pg.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
