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
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from dispatch.db import transaction
from dispatch.dbtypes import utcnow
from dispatch.feed.models import Event
from dispatch.stats.cube import (
    BY_TYPE,
    BY_UNIT,
    CELL,
    CITY,
    CITY_TYPE,
    CUBE,
    DAY,
    DUE,
    LEVELS,
    MONTH,
    PERIOD,
    SUMMARY,
    every_day,
    insert_rows,
    lock_cube,
    month_end,
    month_start,
    upsert_rows,
)
from dispatch.stats.figures import Tally, add_packed, check_weights, column_names
from dispatch.stats.gather import CaseArea, Computed, day_bounds, days, facts, local_day
from dispatch.stats.history import Fact, Rules
from dispatch.stats.place_rows import fill_places, write_day_places, write_month_places
from dispatch.waits import event_set

if TYPE_CHECKING:
    from dispatch.citydata import CityData
    from dispatch.config import Settings
    from dispatch.tickets.deadlines import WorkingCalendar
    from geo import Grid

log = logging.getLogger(__name__)

K = TypeVar("K")


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
        if not lock_cube(s, wait):
            return None
        computed = facts(s, ctx.rules, start, end, now)
        s.execute(delete(CUBE).where(CUBE.c.span == DAY, CUBE.c.period_start == day))
        insert_rows(s, CUBE, day_rows(computed, day))
        dues = [  # the cases registered this day; older ones are stored already
            {"case_id": cid, "close_due": r.close_due}
            for cid, r in computed.results.items()
            if r.close_due is not None and r.close_due_set and start <= r.close_due_set < end
        ]
        upsert_rows(s, DUE, dues, ["case_id"])
        write_day_places(s, day, start, end)
        period = {
            "span": DAY, "period_start": day, "computed_at": now, "sealed": sealed, "places": True
        }  # fmt: skip
        upsert_rows(s, PERIOD, [period], ["span", "period_start"])
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
    insert_rows(s, CUBE, rows)
    return len(rows)


def build_month(engine: Engine, month: date, now: datetime, wait: bool = False) -> bool:
    """Write a month's rows as the sum of its days, if every day is sealed; True if written."""
    first, last = month_start(month), month_end(month)
    with transaction(engine) as s:
        if not lock_cube(s, wait):
            return False
        if not every_day(s, PERIOD.c.sealed, first, last):
            return False
        sums = _stored_sums(
            s,
            [CUBE.c.span == DAY, CUBE.c.period_start.between(first, last)],
            lambda r: (r["level"], (r["area"], r["event_type"], r["unit_id"])),
        )
        s.execute(delete(CUBE).where(CUBE.c.span == MONTH, CUBE.c.period_start == first))
        insert_rows(s, CUBE, [cube_row(lv, MONTH, first, k, t) for (lv, k), t in sums.items()])
        places = write_month_places(s, first, last)
        period = {
            "span": MONTH, "period_start": first, "computed_at": now, "sealed": True,
            "places": places,
        }  # fmt: skip
        upsert_rows(s, PERIOD, [period], ["span", "period_start"])
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
