"""Everything the app holds while it runs, built in the lifespan and kept on app.state."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dispatch.config import Settings
from dispatch.db import Database

if TYPE_CHECKING:
    from dispatch.auth.service import AuthService
    from dispatch.cases.writer import IntakeWriter
    from dispatch.catalogue.grids import GridVersions
    from dispatch.citydata import CityData
    from dispatch.feed.hub import FeedHub
    from dispatch.open311.questions import ServiceCatalogue
    from dispatch.routing.rules import RuleTable
    from dispatch.stats.rollup import StatsContext
    from dispatch.tickets.deadlines import WorkingCalendar
    from geo import Grid

log = logging.getLogger("griddispatch")


@dataclass
class AppState:
    settings: Settings
    db: Database
    grid: Grid
    city: CityData
    rules: RuleTable
    calendar: WorkingCalendar
    auth: AuthService
    #: the id of the grid version in force (``grid``): every new case is located in it
    grid_version: int
    #: that version and the older ones, for showing old cases with their own areas
    grids: GridVersions
    #: per-type extra questions (Open311 service definitions) and the catalogue's changeset
    services: ServiceCatalogue
    #: built from the state itself, so it is set right after construction
    intake: IntakeWriter = field(init=False)
    #: made in the app's lifespan (it needs the running loop)
    feed: FeedHub = field(init=False)
    #: what the evaluation figures are judged by (dispatch.stats)
    stats: StatsContext = field(init=False)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


def build_state(settings: Settings) -> AppState:
    """Migrate, load the city, sync reference data, open the grid version in force, create
    demo accounts (blocking)."""
    from dispatch.auth.service import AuthService
    from dispatch.cases.writer import IntakeWriter
    from dispatch.catalogue.grids import GridVersions, open_grid
    from dispatch.catalogue.service import ensure_demo_accounts, sync_reference
    from dispatch.citydata import load_city
    from dispatch.migrate import upgrade
    from dispatch.open311.questions import load_catalogue
    from dispatch.routing.rules import RuleTable
    from dispatch.stats.rollup import StatsContext
    from dispatch.tickets.deadlines import WorkingCalendar

    upgrade(settings.database_url)
    db = Database(settings.database_url)
    city = load_city(settings.city_dir)
    sync_reference(db.engine, city)
    grid, version = open_grid(db.engine, settings.city_dir, city, settings.snap_tolerance_m)
    grid.index  # noqa: B018  (built now, not by the first report)
    if settings.create_demo_accounts:
        demo = ensure_demo_accounts(db.engine, city, settings.demo_password)
        if demo:
            shown = demo.password if demo.generated else "(from GRIDDISPATCH_DEMO_PASSWORD)"
            print(
                f"demo accounts created: admin, dispatcher, commander, worker1..worker5, "
                f"team-<unit id> ({len(demo.usernames)} in all); password: {shown}",
                flush=True,
            )
    state = AppState(
        settings=settings,
        db=db,
        grid=grid,
        city=city,
        rules=RuleTable.from_city(city),
        calendar=WorkingCalendar.from_city(city),
        auth=AuthService(db.engine, db.read_engine, settings.token_ttl_minutes),
        grid_version=version.id,
        grids=GridVersions(db.read_engine, version, grid, settings.snap_tolerance_m),
        services=load_catalogue(settings.city_dir, city.event_types),
    )
    state.intake = IntakeWriter(state)
    state.stats = StatsContext.build(settings, city, state.calendar, grid)
    return state
