"""Evaluation figures at city scale: a year of generated cases on PostGIS, then query times.

    python bench/stats.py --pg postgresql://postgres@127.0.0.1:5432/postgres
                          [--cases 1000000] [--year 2025] [--skip-load] [--skip-rollup]
                          [--fill-places] [--keep]

Builds database ``griddispatch_bench_stats`` with the app's own migrations and the Nanning
demo city, COPYs ``--cases`` case histories (bench/stats_gen.py) spread over ``--year``,
runs the rollup over every day (timed), and prints the time of each figure endpoint's
work (the service call behind it: SQL and Python, no HTTP): first run and the median and
worst of five more. ``--skip-load`` reuses a database left by ``--keep`` (and
``--skip-rollup`` its figures); ``--fill-places`` drops the hotspots' place rows and
times the rollup job writing them again, as it does after migration 0011.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from sqlalchemy import text  # noqa: E402
from stats_gen import CASE_COLS, EVENT_COLS, TICKET_COLS, Buffers, Generator, days_of  # noqa: E402

from dispatch.auth.principal import Principal  # noqa: E402
from dispatch.config import Settings  # noqa: E402
from dispatch.enums import Role  # noqa: E402
from dispatch.state import AppState, build_state  # noqa: E402
from dispatch.stats import hotspots, service  # noqa: E402
from dispatch.stats.cube import PERIOD, PLACE  # noqa: E402
from dispatch.stats.place_rows import fill_places  # noqa: E402
from dispatch.stats.queries import reading  # noqa: E402
from dispatch.stats.report import district_report  # noqa: E402
from dispatch.stats.rollup import rollup, rollup_day  # noqa: E402
from dispatch.stats.schemas import StatsQuery  # noqa: E402

DB = "griddispatch_bench_stats"
DROP = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
COMMANDER = Principal(user_id=1, username="bench", role=Role.commander)


def database(admin_dsn: str, fresh: bool) -> str:
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        if fresh:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB))
            )
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB)))
    return admin_dsn.rsplit("/", 1)[0] + "/" + DB


def load(state: AppState, url: str, cases: int, year: int) -> tuple[int, int, float]:
    """COPY the generated histories, a month at a time; returns (tickets, events, seconds)."""
    t0 = time.perf_counter()
    gen = Generator(state)
    all_days = list(days_of(year))
    with state.db.engine.connect() as conn:
        reporter = conn.execute(
            text("SELECT min(id) FROM user_account WHERE role='worker'")
        ).scalar_one()
    # weekdays busier than weekends; the counts add up to ``cases`` exactly
    weights = [1.1 if d.weekday() < 5 else 0.75 for d in all_days]
    bounds = [round(cases * sum(weights[: i + 1]) / sum(weights)) for i in range(len(all_days))]
    counts = [b - a for a, b in zip([0, *bounds], bounds, strict=False)]
    cid, tid, n_events = 1, 1, 0
    with psycopg.connect(url) as conn:
        for month in range(1, 13):
            buf = Buffers()
            for d, n in zip(all_days, counts, strict=True):
                if d.month == month:
                    tid = gen.day(d, n, cid, tid, reporter, buf)
                    cid += n
            with conn.cursor() as cur:
                for table, cols, data in (
                    ("cases", CASE_COLS, buf.cases),
                    ("ticket", TICKET_COLS, buf.tickets),
                    ("event_log", EVENT_COLS, buf.events),
                ):
                    with cur.copy(f"COPY {table} {cols} FROM STDIN") as copy:
                        copy.write(data.getvalue())
            conn.commit()
            n_events += buf.n_events
            print(f"  {year}-{month:02d}: {cid - 1:,} cases, {n_events:,} events "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
        for table, column in (("cases", "id"), ("ticket", "id"), ("event_log", "id")):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                         f"(SELECT max({column}) FROM {table}))")  # fmt: skip
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    return tid - 1, n_events, time.perf_counter() - t0


def timed(fn: Callable[[], Any], runs: int = 5) -> tuple[float, float, float]:
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), max(times)


def q(first: str, last: str, area: str = "", **extra: Any) -> StatsQuery:
    return StatsQuery.model_validate({"from": first, "to": last, "area": area, **extra})


def queries(state: AppState, year: int) -> list[tuple[str, Callable[[], Any]]]:
    y0, y1 = f"{year}-01-01", f"{year}-12-31"
    district, street = "450103", "450103901"
    community = next(c for c, a in state.grid.areas.items() if a.level == "community"
                     and c.startswith(street))  # fmt: skip
    cell = next(c for c in state.grid.codes if c.startswith(community))
    s, c = service, COMMANDER
    jun = (f"{year}-06-01", f"{year}-06-30")
    edges = (f"{year}-01-15", f"{year}-12-15")
    cls = {"class": "06"}
    return [
        ("units · city · year", lambda: s.units_table(state, c, q(y0, y1))),
        ("units · district · year", lambda: s.units_table(state, c, q(y0, y1, district))),
        ("units · street · year", lambda: s.units_table(state, c, q(y0, y1, street))),
        ("units · community · year", lambda: s.units_table(state, c, q(y0, y1, community))),
        ("units · cell · year", lambda: s.units_table(state, c, q(y0, y1, cell))),
        ("units · city · one month", lambda: s.units_table(state, c, q(*jun))),
        ("units · city · 01-15…12-15 (edge days)", lambda: s.units_table(state, c, q(*edges))),
        ("areas · city → districts · year", lambda: s.areas_table(state, c, q(y0, y1))),
        ("areas · district → streets · year",
         lambda: s.areas_table(state, c, q(y0, y1, district))),
        ("areas · street → communities · year",
         lambda: s.areas_table(state, c, q(y0, y1, street))),
        ("areas · community → cells · year",
         lambda: s.areas_table(state, c, q(y0, y1, community))),
        ("event-types · city · year", lambda: s.types_table(state, c, q(y0, y1))),
        ("event-types by class · city · year",
         lambda: s.types_table(state, c, q(y0, y1), "class")),
        ("days · city · year (365 rows)", lambda: s.days_table(state, c, q(y0, y1))),
        ("hotspots cells · city · year", lambda: hotspots.cells_geojson(state, c, q(y0, y1))),
        ("hotspots cells · city · year · class 06",
         lambda: hotspots.cells_geojson(state, c, q(y0, y1, **cls))),
        ("hotspots streets · city · year",
         lambda: hotspots.streets_geojson(state, c, q(y0, y1))),
        ("repeat places ≥ 3 · city · year",
         lambda: hotspots.repeats_geojson(state, c, q(y0, y1))),
        ("hot cells · city · year · class 06, counted from the cases (before 0011)",
         lambda: live(state, y0, y1, "06", lambda s_, w: hotspots.live_busiest_cells(s_, w, 3000))),
        ("repeat places ≥ 3 · city · year · class 06, counted from the cases",
         lambda: live(state, y0, y1, "06", lambda s_, w: hotspots.live_repeats(s_, w, 3, 40))),
        ("hot cells · city · year · class 06, from the place rows",
         lambda: live(state, y0, y1, "06", lambda s_, w: hotspots.busiest_cells(s_, w, 3000))),
        ("report.html · district · month",
         lambda: district_report(state, c, district=district, month=f"{year}-06")),
        ("figures view · city · one month (its 5 requests at once)",
         lambda: figures_view(state, q(*jun))),
        ("figures view · district · one month",
         lambda: figures_view(state, q(*jun, district))),
        ("figures view · city · year · class 06", lambda: figures_view(state, q(y0, y1, **cls))),
    ]  # fmt: skip


def live(state: AppState, first: str, last: str, cls: str, count: Callable[..., Any]) -> Any:
    """A hotspot count alone (no GeoJSON), for a class's year."""
    types = {c for c in state.city.event_types if c.startswith(cls)}
    w = hotspots.Where.of(date.fromisoformat(first), date.fromisoformat(last),
                          state.stats.tz, "", types)  # fmt: skip
    with reading(state.db.read_engine, roomy=False) as s:
        return count(s, w)


def figures_view(state: AppState, query: StatsQuery) -> None:
    """What the command center's figures view asks for on each load (web/static/js/command/
    figures.js): the units and areas tables, the trend, the hot cells and the repeat places,
    side by side as the browser sends them (``Promise.all``)."""
    c = COMMANDER
    with ThreadPoolExecutor(max_workers=5) as pool:
        parts = [
            pool.submit(service.units_table, state, c, query),
            pool.submit(service.areas_table, state, c, query),
            pool.submit(service.days_table, state, c, query),
            pool.submit(hotspots.cells_geojson, state, c, query, limit=3000),
            pool.submit(hotspots.repeats_geojson, state, c, query, limit=40),
        ]
        for part in parts:
            part.result()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--year", type=int, default=2025)
    ap.add_argument("--skip-load", action="store_true", help="reuse the database (--keep)")
    ap.add_argument("--skip-rollup", action="store_true", help="reuse its figures too")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--fill-places", action="store_true",
                    help="drop the place rows and time the job filling them in again "
                         "(what it does after migration 0011)")  # fmt: skip
    args = ap.parse_args()
    url = database(args.pg, fresh=not args.skip_load)
    settings = Settings(database_url=url, demo_password="bench-pass-123", stats_interval_s=3600)
    state = build_state(settings)
    print(f"{platform.node()}: Python {platform.python_version()}, {platform.platform()}")
    if not args.skip_load:
        print(f"loading {args.cases:,} cases over {args.year} …", flush=True)
        tickets, events, took = load(state, url, args.cases, args.year)
        print(f"loaded {args.cases:,} cases, {tickets:,} tickets, {events:,} events "
              f"in {took:.0f} s", flush=True)  # fmt: skip
    if not args.skip_rollup:
        first, last = date(args.year, 1, 1), date(args.year + 1, 1, 31)
        n_days = (last - first).days + 1
        t0 = time.perf_counter()
        now = datetime.now(UTC)
        rollup(state.db.engine, state.stats, (first + timedelta(i) for i in range(n_days)), now)
        took = time.perf_counter() - t0
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ANALYZE")  # what autovacuum would do on a live system
        print(f"rollup of {n_days} days (and their months): {took:.0f} s, "
              f"{took / n_days:.2f} s a day", flush=True)  # fmt: skip
    if args.fill_places:
        with state.db.engine.begin() as conn:
            conn.execute(PLACE.delete())
            conn.execute(PERIOD.update().values(places=False))
        t0 = time.perf_counter()
        filled = fill_places(state.db.engine, state.stats, max_days=1_000_000, wait=True)
        print(f"place rows of {filled} days (and their months) filled in "
              f"{time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
    with psycopg.connect(url, autocommit=True) as conn:  # no statement timeout: a cold count
        for query in (
            "SELECT count(*) FROM cases", "SELECT count(*) FROM event_log",
            "SELECT count(*) FROM event_log WHERE type = 'ticket.extended'",
            "SELECT level || '/' || span, count(*) FROM stats_cube GROUP BY 1 ORDER BY 1",
            "SELECT pg_size_pretty(pg_total_relation_size('stats_cube'))",
            "SELECT span, count(*), sum(length(cells)) FROM stats_place GROUP BY 1",
            "SELECT count(*) FROM stats_cell_key",
            "SELECT pg_size_pretty(pg_total_relation_size('event_log'))",
        ):  # fmt: skip
            print(" ", query, "→", [tuple(r) for r in conn.execute(query)])
    busy = date(args.year, 6, 16)
    t0 = time.perf_counter()
    rollup_day(state.db.engine, state.stats, busy, datetime.now(UTC), wait=True)
    print(f"recomputing one day ({busy}, what the job does for today): "
          f"{time.perf_counter() - t0:.2f} s")  # fmt: skip
    print("\n| query | first run | median of 5 | worst of 5 |\n|---|---:|---:|---:|")
    for name, fn in queries(state, args.year):
        first_s, median_s, worst_s = timed(fn)
        print(f"| {name} | {first_s * 1000:.0f} ms | {median_s * 1000:.0f} ms | "
              f"{worst_s * 1000:.0f} ms |", flush=True)  # fmt: skip
    state.db.dispose()
    if not args.keep:
        with psycopg.connect(args.pg, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB))
            )


if __name__ == "__main__":
    main()
