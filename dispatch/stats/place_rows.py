"""The place rows (cases per cell, packed: :mod:`dispatch.stats.places`): written with each
day's rollup, merged into its month, and filled in for days rolled up before they existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from dispatch.cases.models import Case
from dispatch.db import transaction
from dispatch.stats.cube import (
    CELL_KEY,
    DAY,
    MONTH,
    PERIOD,
    PLACE,
    every_day,
    insert_rows,
    lock_cube,
    month_end,
    month_start,
)
from dispatch.stats.gather import day_bounds
from dispatch.stats.places import merged, pack, unpack

if TYPE_CHECKING:
    from dispatch.stats.rollup import StatsContext


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
        insert_rows(s, CELL_KEY, keys)
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
    insert_rows(s, PLACE, rows)
    return len(rows)


def write_month_places(s: Session, first: date, last: date) -> bool:
    """Write a month's place rows as the merge of its days' if every day has them; whether
    it did (else the month's readers use the day rows)."""
    s.execute(delete(PLACE).where(PLACE.c.span == MONTH, PLACE.c.period_start == first))
    if not every_day(s, PERIOD.c.places, first, last):
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
    insert_rows(s, PLACE, out)
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
            if not lock_cube(s, wait):
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
            if not lock_cube(s, wait):
                break
            month_row = PERIOD.c.span == MONTH, PERIOD.c.period_start == m
            if s.execute(select(func.count()).where(*month_row)).scalar_one():
                done = write_month_places(s, m, month_end(m))
                s.execute(PERIOD.update().where(*month_row).values(places=done))
    return len(todo)
