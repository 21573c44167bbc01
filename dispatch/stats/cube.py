"""The evaluation cube's tables and the primitives every writer of them shares: the row
levels and spans, the writer lock, batched inserts and upserts on both backends.

Apart from the rollup job so that the place rows (:mod:`dispatch.stats.place_rows`) and the
readers use them without importing the job.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from dispatch.stats.models import StatsCaseDue, StatsCellKey, StatsCube, StatsPeriod, StatsPlace

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

CUBE = StatsCube.__table__  # type: ignore[attr-defined]
DUE = StatsCaseDue.__table__  # type: ignore[attr-defined]
PERIOD = StatsPeriod.__table__  # type: ignore[attr-defined]
PLACE = StatsPlace.__table__  # type: ignore[attr-defined]
CELL_KEY = StatsCellKey.__table__  # type: ignore[attr-defined]


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def lock_cube(s: Session, wait: bool) -> bool:
    """Take the cube's writer lock for the transaction; False if busy and not ``wait``."""
    if s.get_bind().dialect.name != "postgresql":
        return True
    if wait:
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        return True
    return bool(s.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _LOCK_KEY}).scalar())


def insert_rows(s: Session, table: Any, rows: Sequence[dict[str, Any]]) -> None:
    for i in range(0, len(rows), _BATCH):
        s.execute(insert(table), rows[i : i + _BATCH])


def upsert_rows(
    s: Session, table: Any, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
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


def every_day(s: Session, flag: Any, first: date, last: date) -> bool:
    """Whether every day from ``first`` to ``last`` has a period row with ``flag`` set."""
    n = s.execute(
        select(func.count()).where(
            PERIOD.c.span == DAY, flag.is_(True), PERIOD.c.period_start.between(first, last)
        )
    ).scalar_one()
    return bool(n >= (last - first).days + 1)
