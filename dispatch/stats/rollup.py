"""The rollup job: each day's facts summed into cube rows, kept current and then sealed.

Why a job and not a hook on every write: the figures of a day are recomputed whole from the
event log, so the rollup is idempotent, needs no change to the write path (intake stays
lean and hot rows stay uncontended) and never depends on the order in which concurrent
transactions commit. Today (and yesterday, until the grace period has passed) is
recomputed every ``stats_interval_s``; a day whose end is more than ``stats_seal_grace_s``
ago is recomputed once more and sealed: its rows are final. When every day of a month is
sealed, the month's rows are written as the sum of its days, so a year reads twelve
months of rows instead of 365 days.

On PostgreSQL a transaction-level advisory lock lets one process at a time write the
cube; SQLite serialises writers anyway.
"""

from __future__ import annotations

import asyncio
import calendar
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from dispatch.cases.models import Case
from dispatch.db import transaction
from dispatch.dbtypes import utcnow
from dispatch.feed.models import Event
from dispatch.stats.figures import Tally, add_packed, check_weights, column_names
from dispatch.stats.gather import CaseArea, Computed, day_bounds, days, facts, local_day
from dispatch.stats.history import Fact, Rules
from dispatch.stats.models import StatsCaseDue, StatsCellKey, StatsCube, StatsPeriod, StatsPlace
from dispatch.stats.places import merged, pack, unpack
from dispatch.waits import event_set

if TYPE_CHECKING:
    from dispatch.citydata import CityData
    from dispatch.config import Settings
    from dispatch.tickets.deadlines import WorkingCalendar
    from geo import Grid

log = logging.getLogger(__name__)

LEVELS = ("district", "street", "community")
#: cube rows per cell too: a community's cells for a year read twelve months of rows
#: instead of replaying thousands of cases (the cube about doubles for it)
CELL = "cell"
#: district rows with event types, units or both summed: the city's league table, its
#: event types, its trend and its districts read a few hundred rows a month, not thousands
BY_UNIT, BY_TYPE, SUMMARY = "district-unit", "district-type", "summary"
#: city-wide rows (area ""), per event type and unit and per event type: the city's figures
#: for an event class (its league table, its trend) read one row where the district rows
#: hold one per district, and merge one histogram instead of one per district
CITY, CITY_TYPE = "city", "city-type"
DAY, MONTH = "day", "month"
_LOCK_KEY = 0x6764_7374  # "gdst": one writer of the cube at a time (PostgreSQL)
_BATCH = 5000

K = TypeVar("K")
CUBE = StatsCube.__table__  # type: ignore[attr-defined]
DUE = StatsCaseDue.__table__  # type: ignore[attr-defined]
PERIOD = StatsPeriod.__table__  # type: ignore[attr-defined]
PLACE = StatsPlace.__table__  # type: ignore[attr-defined]
CELL_KEY = StatsCellKey.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class StatsContext:
    """What the rollup and the queries judge by; built from the settings and the city."""

    rules: Rules
    tz: ZoneInfo
    #: code length of each area level (district, street, community) and of cells
    lengths: Mapping[str, int]
    seal_grace: timedelta = timedelta(minutes=10)

    @classmethod
    def build(
        cls, settings: Settings, city: CityData, calendar: WorkingCalendar, grid: Grid
    ) -> StatsContext:
        check_weights(settings.stats_weights)
        rules = Rules(
            calendar=calendar,
            limits=city.event_types,
            dispatch_limit=timedelta(minutes=settings.stats_dispatch_limit_min),
            dispatch_limit_urgent=timedelta(minutes=settings.stats_dispatch_limit_urgent_min),
        )
        lengths = {
            level: max((len(c) for c, a in grid.areas.items() if a.level == level), default=0)
            for level in LEVELS
        }
        lengths["cell"] = max((len(c) for c in grid.codes), default=0)
        grace = timedelta(seconds=settings.stats_seal_grace_s)
        return cls(rules, calendar.tz, lengths, grace)


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def cube_row(
    level: str, span: str, start: date, key: tuple[str, str, str], t: Tally
) -> dict[str, Any]:
    """A cube row of ``t`` for ``key`` = (area, event type, unit)."""
    area, event_type, unit = key
    return {
        "level": level,
        "span": span,
        "period_start": start,
        "area": area,
        "event_type": event_type,
        "unit_id": unit,
        **t.columns(),
        "hist": t.packed_hists(),
    }


def _lock(s: Session, wait: bool) -> bool:
    """Take the cube's writer lock for the transaction; False if busy and not ``wait``."""
    if s.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        return True
    return bool(s.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_KEY}).scalar())


def _insert(s: Session, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    for i in range(0, len(rows), _BATCH):
        s.execute(insert(table), rows[i : i + _BATCH])


def _upsert(s: Session, table: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """INSERT … ON CONFLICT DO UPDATE on both backends."""
    if not rows:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    pg = s.get_bind().dialect.name == "postgresql"
    for i in range(0, len(rows), _BATCH):
        stmt: Any = postgresql.insert(table) if pg else sqlite.insert(table)
        update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
        stmt = stmt.on_conflict_do_update(index_elements=keys, set_=update)
        s.execute(stmt, rows[i : i + _BATCH])


def _base_key(a: CaseArea, f: Fact) -> tuple[str, str, str, str, str]:
    return a.community, a.street, a.district, a.event_type, f.unit


def _cell_key(a: CaseArea, f: Fact) -> tuple[str, str, str]:
    return a.cell, a.event_type, f.unit


def _sum_by(
    tallies: Mapping[Any, Tally], pick: Callable[[Any], tuple[str, str, str]]
) -> dict[tuple[str, str, str], Tally]:
    sums: dict[tuple[str, str, str], Tally] = {}
    for k, t in tallies.items():
        target = sums.get(key := pick(k))
        if target is None:
            sums[key] = target = Tally()
        target.add(t)
    return sums


def day_rows(computed: Computed, day: date) -> list[dict[str, Any]]:
    """The cube rows of one day: the facts summed per cell, and per community then rolled
    up (two passes over the facts cost less than rolling the many cell rows up); the city's
    rows are summed from the districts'."""
    rows = [cube_row(CELL, DAY, day, k, t) for k, t in computed.tallies(_cell_key).items()]
    base = computed.tallies(_base_key)
    by_level: dict[str, dict[tuple[str, str, str], Tally]] = {}
    for level, pick in (
        ("community", lambda k: (k[0], k[3], k[4])),
        ("street", lambda k: (k[1], k[3], k[4])),
        ("district", lambda k: (k[2], k[3], k[4])),
        (BY_UNIT, lambda k: (k[2], "", k[4])),
        (BY_TYPE, lambda k: (k[2], k[3], "")),
        (SUMMARY, lambda k: (k[2], "", "")),
    ):
        by_level[level] = _sum_by(base, pick)
    by_level[CITY] = _sum_by(by_level["district"], lambda k: ("", k[1], k[2]))
    by_level[CITY_TYPE] = _sum_by(by_level[BY_TYPE], lambda k: ("", k[1], ""))
    for level, sums in by_level.items():
        rows += [cube_row(level, DAY, day, key, t) for key, t in sums.items()]
    return rows


# ---------------------------------------------------------------- place rows


def cell_numbers(s: Session, streets: Mapping[str, str]) -> dict[str, int]:
    """The numbers of these cell codes (code → street), new ones numbered after the last.
    Called under the cube's writer lock, so two processes never number one code twice."""
    known: dict[str, int] = {}
    codes = sorted(streets)
    for i in range(0, len(codes), 1000):
        batch = codes[i : i + 1000]
        found = s.execute(select(CELL_KEY.c.code, CELL_KEY.c.id).where(CELL_KEY.c.code.in_(batch)))
        known.update({code: int(n) for code, n in found})
    new = [c for c in codes if c not in known]
    if new:
        top = s.execute(select(func.coalesce(func.max(CELL_KEY.c.id), -1))).scalar_one()
        keys = [{"id": top + 1 + i, "code": c, "street": streets[c]} for i, c in enumerate(new)]
        _insert(s, CELL_KEY, keys)
        known.update({k["code"]: k["id"] for k in keys})
    return known


def write_day_places(s: Session, day: date, start: datetime, end: datetime) -> int:
    """Write one day's place rows from the cases reported in it (``cases.created_at``, the
    time of their ``case.reported``); how many."""
    c = Case.__table__.c  # type: ignore[attr-defined]
    found = s.execute(
        select(c.event_type, c.cell, c.street, func.count(), func.min(c.created_at),
               func.max(c.created_at))
        .where(c.created_at >= start, c.created_at < end)
        .group_by(c.event_type, c.cell, c.street)
    ).all()  # fmt: skip
    numbers = cell_numbers(s, {cell: street for _, cell, street, *_ in found})
    by_type: dict[str, list[tuple[int, int, datetime, datetime]]] = {}
    for et, cell, _, n, first, last in found:
        by_type.setdefault(et, []).append((numbers[cell], int(n), first, last))
    s.execute(delete(PLACE).where(PLACE.c.span == DAY, PLACE.c.period_start == day))
    rows = [
        {"span": DAY, "period_start": day, "event_type": et, "cells": pack(records)}
        for et, records in sorted(by_type.items())
    ]
    _insert(s, PLACE, rows)
    return len(rows)


def _every_day(s: Session, flag: Any, first: date, last: date) -> bool:
    """Whether every day from ``first`` to ``last`` has a period row with ``flag`` set."""
    n = s.execute(
        select(func.count()).where(
            PERIOD.c.span == DAY, flag.is_(True), PERIOD.c.period_start.between(first, last)
        )
    ).scalar_one()
    return bool(n >= (last - first).days + 1)


def write_month_places(s: Session, first: date, last: date) -> bool:
    """Write a month's place rows as the merge of its days' if every day has them; whether
    it did (else the month's readers use the day rows)."""
    s.execute(delete(PLACE).where(PLACE.c.span == MONTH, PLACE.c.period_start == first))
    if not _every_day(s, PERIOD.c.places, first, last):
        return False
    parts: dict[str, list[Any]] = {}
    rows = s.execute(
        select(PLACE.c.event_type, PLACE.c.cells).where(
            PLACE.c.span == DAY, PLACE.c.period_start.between(first, last)
        )
    )
    for et, blob in rows:
        parts.setdefault(et, []).append(unpack(bytes(blob)))
    out = [
        {"span": MONTH, "period_start": first, "event_type": et, "cells": merged(p).tobytes()}
        for et, p in sorted(parts.items())
    ]
    _insert(s, PLACE, out)
    return True


def fill_places(engine: Engine, ctx: StatsContext, max_days: int = 31, wait: bool = False) -> int:
    """Write the place rows of up to ``max_days`` stored days that have none (rolled up
    before migration 0011), oldest first, then of their months; how many days (it stops
    when another process holds the cube and ``wait`` is false)."""
    with Session(engine) as s:
        todo = [
            d if isinstance(d, date) else date.fromisoformat(d)
            for d in s.execute(
                select(PERIOD.c.period_start)
                .where(PERIOD.c.span == DAY, PERIOD.c.places.is_(False))
                .order_by(PERIOD.c.period_start)
                .limit(max_days)
            ).scalars()
        ]
    months: set[date] = set()
    for d in todo:
        start, end = day_bounds(d, ctx.tz)
        with transaction(engine) as s:
            if not _lock(s, wait):
                return 0
            write_day_places(s, d, start, end)
            s.execute(
                PERIOD.update()
                .where(PERIOD.c.span == DAY, PERIOD.c.period_start == d)
                .values(places=True)
            )
        months.add(month_start(d))
    for m in sorted(months):
        with transaction(engine) as s:
            if not _lock(s, wait):
                break
            month_row = PERIOD.c.span == MONTH, PERIOD.c.period_start == m
            if s.execute(select(func.count()).where(*month_row)).scalar_one():
                done = write_month_places(s, m, month_end(m))
                s.execute(PERIOD.update().where(*month_row).values(places=done))
    return len(todo)


def rollup_day(
    engine: Engine, ctx: StatsContext, day: date, now: datetime, wait: bool = False
) -> bool | None:
    """Recompute one day's cube rows (one transaction); True if the day is now sealed.

    None when another process holds the cube (PostgreSQL) and ``wait`` is false: nothing
    was written.
    """
    start, end = day_bounds(day, ctx.tz)
    sealed = now >= end + ctx.seal_grace
    with transaction(engine) as s:
        if not _lock(s, wait):
            return None
        computed = facts(s, ctx.rules, start, end, now)
        s.execute(delete(CUBE).where(CUBE.c.span == DAY, CUBE.c.period_start == day))
        _insert(s, CUBE, day_rows(computed, day))
        dues = [  # the cases registered this day; older ones are stored already
            {"case_id": cid, "close_due": r.close_due}
            for cid, r in computed.results.items()
            if r.close_due is not None and r.close_due_set and start <= r.close_due_set < end
        ]
        _upsert(s, DUE, dues, ["case_id"])
        write_day_places(s, day, start, end)
        period = {
            "span": DAY, "period_start": day, "computed_at": now, "sealed": sealed, "places": True
        }  # fmt: skip
        _upsert(s, PERIOD, [period], ["span", "period_start"])
    return sealed


def _stored_sums(
    s: Session, where: Sequence[Any], key: Callable[[Mapping[Any, Any]], K]
) -> dict[K, Tally]:
    """The stored cube rows matching ``where`` summed per ``key(row)``, histograms too."""
    sums: dict[K, Tally] = {}
    query = select(*(CUBE.c[k] for k in ("level", "area", "event_type", "unit_id")))
    query = query.add_columns(*(CUBE.c[c] for c in column_names()), CUBE.c.hist).where(*where)
    keys_h: list[K] = []
    blobs: list[bytes] = []
    for r in s.execute(query).mappings():
        k = key(r)
        t = Tally.from_columns(r)
        if k in sums:
            sums[k].add(t)
        else:
            sums[k] = t
        if r["hist"] is not None:
            keys_h.append(k)
            blobs.append(bytes(r["hist"]))
    add_packed(sums, keys_h, blobs)
    return sums


def add_city_rows(s: Session, span: str, start: date) -> int:
    """Write the city rows of one stored day or month as the sum of its district rows;
    how many. For cubes rolled up before the city rows existed (migration 0009): the
    rollup writes them itself."""
    rows = []
    for source, level in (("district", CITY), (BY_TYPE, CITY_TYPE)):
        sums = _stored_sums(
            s,
            [CUBE.c.level == source, CUBE.c.span == span, CUBE.c.period_start == start],
            lambda r: ("", r["event_type"], r["unit_id"]),
        )
        rows += [cube_row(level, span, start, k, t) for k, t in sums.items()]
    s.execute(
        delete(CUBE).where(
            CUBE.c.level.in_((CITY, CITY_TYPE)), CUBE.c.span == span, CUBE.c.period_start == start
        )
    )
    _insert(s, CUBE, rows)
    return len(rows)


def build_month(engine: Engine, month: date, now: datetime, wait: bool = False) -> bool:
    """Write a month's rows as the sum of its days, if every day is sealed; True if written."""
    first, last = month_start(month), month_end(month)
    with transaction(engine) as s:
        if not _lock(s, wait):
            return False
        if not _every_day(s, PERIOD.c.sealed, first, last):
            return False
        sums = _stored_sums(
            s,
            [CUBE.c.span == DAY, CUBE.c.period_start.between(first, last)],
            lambda r: (r["level"], (r["area"], r["event_type"], r["unit_id"])),
        )
        s.execute(delete(CUBE).where(CUBE.c.span == MONTH, CUBE.c.period_start == first))
        _insert(s, CUBE, [cube_row(lv, MONTH, first, k, t) for (lv, k), t in sums.items()])
        places = write_month_places(s, first, last)
        period = {
            "span": MONTH, "period_start": first, "computed_at": now, "sealed": True,
            "places": places,
        }  # fmt: skip
        _upsert(s, PERIOD, [period], ["span", "period_start"])
    return True


def rollup(
    engine: Engine, ctx: StatsContext, days_: Iterable[date], now: datetime, wait: bool = True
) -> int:
    """Recompute the given days in order, then every month they complete; days written.

    ``wait=False`` (the background job) gives up at once when another process is writing.
    """
    done = 0
    months: set[date] = set()
    for d in sorted(set(days_)):
        sealed = rollup_day(engine, ctx, d, now, wait)
        if sealed is None:
            break
        done += 1
        if sealed:
            months.add(month_start(d))
    for m in sorted(months):
        build_month(engine, m, now, wait)
    return done


def pending_days(engine: Engine, ctx: StatsContext, now: datetime) -> list[date]:
    """The days from the first one not sealed (or the first with events) through today."""
    today = local_day(now, ctx.tz)
    with Session(engine) as s:
        last = s.execute(
            select(func.max(PERIOD.c.period_start)).where(
                PERIOD.c.span == DAY, PERIOD.c.sealed.is_(True)
            )
        ).scalar_one()
        if last is not None:
            first = (date.fromisoformat(last) if isinstance(last, str) else last) + timedelta(1)
        else:
            earliest = s.execute(select(func.min(Event.at))).scalar_one()
            first = local_day(earliest, ctx.tz) if earliest is not None else today
    return list(days(first, today))


def catch_up(
    engine: Engine, ctx: StatsContext, now: datetime | None = None, max_days: int = 31
) -> int:
    """One run of the job: up to ``max_days`` pending days; returns how many were written."""
    now = now or utcnow()
    done = rollup(engine, ctx, pending_days(engine, ctx, now)[:max_days], now, wait=False)
    return done + fill_places(engine, ctx, max_days - done) if done < max_days else done


async def stats_loop(
    engine: Engine, ctx: StatsContext, interval_s: float, stop: asyncio.Event, max_days: int = 31
) -> None:
    """Run :func:`catch_up` every ``interval_s`` seconds (at once again while catching up)."""
    while not stop.is_set():
        wait = interval_s
        try:
            if await asyncio.to_thread(catch_up, engine, ctx, None, max_days) >= max_days:
                wait = 0.1  # a backlog of days: keep going
        except Exception:
            log.exception("stats rollup failed; retrying in %s s", interval_s)
        await event_set(stop, wait)
