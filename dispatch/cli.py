"""The ``griddispatch`` command: build and check a city's data, locate points, serve."""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from pathlib import Path

import click

DEFAULT_CITY = Path(__file__).resolve().parents[1] / "grid_data" / "nanning"

city_option = click.option(
    "--city",
    "city_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=DEFAULT_CITY,
    show_default=True,
    help="City data folder (cells.geojson, areas.geojson, event types, units, rules).",
)
#: for commands that read the settings: the city folder overrides GRIDDISPATCH_CITY_DIR
settings_city_option = click.option(
    "--city",
    "city_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="City data folder (default: GRIDDISPATCH_CITY_DIR or the Nanning demo city).",
)


@click.group()
@click.version_option(package_name="griddispatch")
def main() -> None:
    """griddispatch: grid-based urban management event dispatch (网格化城市管理事件派遣)."""


@main.command("build-grid")
@city_option
@click.option("--size", "cell_size_m", default=100.0, show_default=True, help="Cell size, m.")
@click.option("--crs", "metric_crs", default="EPSG:4545", show_default=True, help="Metric CRS.")
@click.option(
    "--sliver",
    "sliver_ratio",
    default=0.25,
    show_default=True,
    help="Pieces smaller than this share of a cell merge into a neighbour.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Output file (default: CITY/cells.geojson).",
)
def build_grid(
    city_dir: Path, cell_size_m: float, metric_crs: str, sliver_ratio: float, out: Path | None
) -> None:
    """Generate unit cells for every community polygon of CITY/areas.geojson."""
    from tqdm import tqdm

    from geo.build import build_cells
    from geo.io import read_features, write_features

    areas = read_features(city_dir / "areas.geojson")
    parents = [
        (str(p["code"]), g)
        for g, p in zip(areas.geoms, areas.props, strict=True)
        if p.get("level") == "community"
    ]
    if not parents:
        raise click.ClickException("areas.geojson has no community-level areas to fill")
    with tqdm(total=len(parents), desc="cells", unit="community") as bar:
        cells = build_cells(
            parents,
            cell_size_m=cell_size_m,
            metric_crs=metric_crs,
            sliver_ratio=sliver_ratio,
            progress=bar.update,
        )
    out = out or city_dir / "cells.geojson"
    write_features(
        out,
        [c.geometry for c in cells],
        [
            {
                "code": c.code,
                "community": c.parent,
                "street": c.parent[:9],
                "district": c.parent[:6],
            }
            for c in cells
        ],
        meta={"grid": {"cell_size_m": cell_size_m, "metric_crs": metric_crs}},
    )
    click.echo(f"{len(cells)} cells from {len(parents)} communities → {out}")


@main.command("check-data")
@city_option
def check_data(city_dir: Path) -> None:
    """Validate the grid and prove every event type in every cell has exactly one lead unit."""
    from dispatch.catalogue.checks import check_grid
    from dispatch.citydata import load_city
    from dispatch.open311.questions import load_catalogue
    from geo import Grid

    t0 = time.perf_counter()
    grid = Grid.load(city_dir)
    assert grid.validation is not None
    click.echo(f"grid: {grid.validation.summary()}")
    for gap in grid.validation.gaps[:10]:
        click.echo(f"  gap of {gap.area_m2:.0f} m² at {gap.lon:.6f}, {gap.lat:.6f}")
    city = load_city(city_dir)
    click.echo(
        f"city: {len(city.event_types)} event types, {len(city.units)} units, "
        f"{len(city.teams)} teams, {len(city.rules)} rules"
    )
    questions = load_catalogue(city_dir, city.event_types).questions
    click.echo(
        f"questions: {sum(map(len, questions.values()))} for {len(questions)} event types "
        "(Open311 service definitions)"
    )
    check = check_grid(city, grid)
    for line in [*check.warnings(), *check.problems()]:
        click.echo(f"  {line}")
    click.echo(f"checked in {time.perf_counter() - t0:.1f} s")
    if check.missing_units:
        raise click.ClickException(f"{len(check.missing_units)} units for areas the grid lacks")
    if check.holes:
        raise click.ClickException(f"{len(check.holes)} routing holes")
    click.echo(
        f"OK: every one of {len(city.event_types)} event types in every one of "
        f"{len(grid)} cells resolves to exactly one lead unit"
    )


@main.command()
@city_option
@click.argument("lon", type=float)
@click.argument("lat", type=float)
@click.option(
    "--crs",
    default="wgs84",
    show_default=True,
    help="Input coordinate system: wgs84, cgcs2000, gcj02 (AMap/Tencent), bd09 (Baidu).",
)
@click.option("--event", "event_code", default=None, help="Also route this event type code.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def locate(
    city_dir: Path, lon: float, lat: float, crs: str, event_code: str | None, as_json: bool
) -> None:
    """Find the cell, community, street and district of a point (and who handles EVENT there)."""
    from geo import GeoError, Grid

    grid = Grid.load(city_dir, validate=False)
    try:
        loc = grid.locate(lon, lat, crs=crs)
    except GeoError as exc:
        raise click.ClickException(str(exc)) from None
    result: dict[str, object] = {
        "cell": loc.cell,
        "community": loc.community,
        "street": loc.street,
        "district": loc.district,
        "names": {
            lvl: grid.areas[getattr(loc, lvl)].name_zh
            for lvl in ("community", "street", "district")
        },
        "wgs84": [round(loc.lon, 7), round(loc.lat, 7)],
        "snapped_m": round(loc.snapped_m, 1),
    }
    if event_code:
        from dispatch.citydata import load_city
        from dispatch.routing.rules import RoutingError, RuleTable

        city = load_city(city_dir)
        if event_code not in city.event_types:
            raise click.ClickException(f"unknown event type {event_code}")
        try:
            a = RuleTable.from_city(city).resolve(event_code, loc.cell)
        except RoutingError as exc:
            raise click.ClickException(str(exc)) from None
        result["lead"] = {"id": a.lead, "name_zh": city.units[a.lead].name_zh}
        result["support"] = [{"id": u, "name_zh": city.units[u].name_zh} for u in a.support]
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    for key, value in result.items():
        click.echo(f"{key:10} {value}")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@settings_city_option
@click.option("--log-level", default="info", show_default=True)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=int,
    help="Worker processes (each holds the grid and its own intake writer).",
)
@click.option(
    "--access-log/--no-access-log",
    default=None,
    help="Log every request (default: GRIDDISPATCH_ACCESS_LOG, on).",
)
@click.option(
    "--log-format",
    type=click.Choice(["auto", "json", "text"]),
    default=None,
    help="Log lines as JSON objects or text; auto = text on a terminal, else JSON "
    "(default: GRIDDISPATCH_LOG_FORMAT, auto).",
)
def serve(
    host: str,
    port: int,
    city_dir: Path | None,
    log_level: str,
    workers: int,
    access_log: bool | None,
    log_format: str | None,
) -> None:
    """Start the web service. Settings come from the environment (DATABASE_URL, REDIS_URL…)."""
    import logging
    import logging.config
    import os

    import uvicorn

    from dispatch.config import Settings
    from dispatch.ops.logs import logging_config

    # the app (in each worker) reads its settings from the environment
    if city_dir:
        os.environ["GRIDDISPATCH_CITY_DIR"] = str(city_dir)
    if access_log is not None:
        os.environ["GRIDDISPATCH_ACCESS_LOG"] = str(access_log).lower()
    os.environ.setdefault("GRIDDISPATCH_GC_FREEZE", "true")
    if log_format is not None:
        os.environ["GRIDDISPATCH_LOG_FORMAT"] = log_format
    settings = Settings()
    log_config = logging_config(settings.log_format, log_level)
    logging.config.dictConfig(log_config)
    where = "SQLite" if settings.is_sqlite else "PostgreSQL"
    logging.getLogger("griddispatch").info(
        "griddispatch on http://%s:%d  (%s; city %s)", host, port, where, settings.city_dir.name
    )
    # the intake writer thread makes many short database calls, each giving up the GIL;
    # a 1 ms switch interval (default 5 ms) lets it back in sooner: p99 112 → 72 ms measured
    sys.setswitchinterval(0.001)
    if workers > 1:  # migrate once, before the workers would race to do it
        from dispatch.migrate import upgrade

        upgrade(settings.database_url)
        _metrics_dir_for_workers()
    uvicorn.run(
        "dispatch.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_config=log_config,
        log_level=log_level,
        proxy_headers=True,
        server_header=False,
        workers=workers,
        access_log=False,  # the app writes its own (dispatch.ops.middleware)
        ws_per_message_deflate=settings.ws_deflate,
        # uvicorn's own websockets protocol, handing the feed its transport (feed/wire.py)
        ws="dispatch.feed.wire:FeedWebSocketProtocol",
    )


def _metrics_dir_for_workers() -> None:
    """Workers share one port, so a scrape reaches any one of them: they write their
    metrics to files in one directory (prometheus_client's multiprocess mode), which every
    worker adds up. PROMETHEUS_MULTIPROC_DIR chooses it; else a fresh temporary one."""
    import atexit
    import os
    import shutil
    import tempfile

    # (prometheus_client is not imported here: this process would write files of its own)
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:  # the previous run's files would add up with this one's
        Path(given).mkdir(parents=True, exist_ok=True)
        for old in Path(given).glob("*.db"):
            old.unlink()
        return
    made = tempfile.mkdtemp(prefix="griddispatch-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    atexit.register(shutil.rmtree, made, True)


@main.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True)
@click.option("--rate", default="5/s", show_default=True, help="Reports per second, e.g. 20/s.")
@click.option("--duration", default=60.0, show_default=True, help="Seconds to run.")
@click.option(
    "--password",
    envvar="GRIDDISPATCH_DEMO_PASSWORD",
    required=True,
    help="The demo accounts' password (env GRIDDISPATCH_DEMO_PASSWORD).",
)
@city_option
@click.option("--seed", default=1, show_default=True)
def simulate(
    url: str, rate: str, duration: float, password: str, city_dir: Path, seed: int
) -> None:
    """Realistic traffic: workers report, teams act on tickets, workers verify."""
    import asyncio

    from dispatch.simulate import Simulation, summary
    from geo import Grid

    per_s = float(rate.removesuffix("/s"))
    grid = Grid.load(city_dir, validate=False)
    sim = Simulation(url, password, grid, seed=seed)
    stats = asyncio.run(sim.run(per_s, duration))
    click.echo(summary(stats, duration))


@main.command("stats-rollup")
@settings_city_option
@click.option("--from", "first", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--to", "last", type=click.DateTime(["%Y-%m-%d"]), default=None)
def stats_rollup(city_dir: Path | None, first: datetime | None, last: datetime | None) -> None:
    """Compute the evaluation figures of these days (default: every day not yet final).

    Days are recomputed whole from the event log, so this also repairs or rebuilds them
    (e.g. after loading old events); days rolled up before migration 0011 get their place
    rows (the hotspots') too. The database is DATABASE_URL.
    """
    from dispatch.citydata import load_city
    from dispatch.config import Settings
    from dispatch.db import Database
    from dispatch.dbtypes import utcnow
    from dispatch.migrate import upgrade
    from dispatch.stats.gather import days
    from dispatch.stats.place_rows import fill_places
    from dispatch.stats.rollup import StatsContext, pending_days, rollup
    from dispatch.tickets.deadlines import WorkingCalendar
    from geo import Grid

    settings = Settings()
    if city_dir:
        settings = settings.model_copy(update={"city_dir": city_dir})
    upgrade(settings.database_url)
    db = Database(settings.database_url)
    city = load_city(settings.city_dir)
    grid = Grid.load(settings.city_dir, validate=False)
    ctx = StatsContext.build(settings, city, WorkingCalendar.from_city(city), grid)
    now = utcnow()
    if first is None:
        todo = pending_days(db.engine, ctx, now)
    else:
        todo = list(days(first.date(), (last or first).date()))
    started = time.perf_counter()
    done = rollup(db.engine, ctx, todo, now)
    filled = fill_places(db.engine, ctx, max_days=1_000_000, wait=True)
    took = time.perf_counter() - started
    click.echo(
        f"{done} day(s) computed in {took:.1f} s" + (f": {todo[0]} … {todo[-1]}" if todo else "")
    )
    if filled:
        click.echo(f"place rows written for {filled} older day(s)")
    db.dispose()


from dispatch.auth.cli import user  # noqa: E402  (registered below)
from dispatch.catalogue.cli import grid_versions, load_grid  # noqa: E402
from dispatch.open311.cli import open311_key  # noqa: E402
from dispatch.ops.cli import backup, restore, stack  # noqa: E402

for command in (load_grid, grid_versions, user, open311_key, backup, restore, stack):
    main.add_command(command)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
