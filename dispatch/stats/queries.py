"""Reading the figures from the cube.

A request names a period of whole local days, an area prefix, and a grouping (by unit, by
event type, by child area, by day). The cube answers from the coarsest level whose rows
are whole for the prefix (city rows for the whole city by event type, district rows for
the city or a district, street, community or cell rows below that), reading month rows
for every sealed month of the period and day rows for the rest.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, or_, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from dispatch.cases.models import Case
from dispatch.stats.cube import (
    BY_TYPE,
    BY_UNIT,
    CELL,
    CITY,
    CITY_TYPE,
    CUBE,
    DAY,
    LEVELS,
    MONTH,
    PERIOD,
    SUMMARY,
    month_end,
)
from dispatch.stats.figures import Tally, add_packed, column_names
from dispatch.stats.gather import like_prefix
from dispatch.tickets.models import LIVE_TICKET, Ticket

TICKET = Ticket.__table__  # type: ignore[attr-defined]
CASES = Case.__table__  # type: ignore[attr-defined]

#: area levels from coarse to fine, each with its cube rows
AREA_LEVELS = (*LEVELS, CELL)
#: groupings: by unit, by event type, by area (at ``area_level``), by day
GROUPS = ("unit", "event_type", "area", "day")


@contextmanager
def reading(engine: Engine, *, roomy: bool = True) -> Iterator[Session]:
    """A read session for figures: on PostgreSQL no JIT (these queries are short; compiling
    them costs more than it saves) and, when ``roomy``, room to aggregate in memory.

    The hotspot counts are not roomy: with room, the planner hashes a year's (cell, type)
    pairs (it guesses 30,000 where there are 500,000, and needs 100 MB), twice as slow as
    grouping them straight off the (cell, event_type, created_at) index.
    """
    with Session(engine) as s:
        if engine.dialect.name == "postgresql":
            if roomy:
                s.execute(text("SET LOCAL work_mem = '64MB'"))
            s.execute(text("SET LOCAL jit = off"))
        yield s


@dataclass(frozen=True, slots=True)
class Plan:
    """Which stored rows make up a period: sealed months, and the days outside them."""

    months: tuple[date, ...]
    day_ranges: tuple[tuple[date, date], ...]


def plan(
    s: Session, first: date, last: date, *, days_only: bool = False, places: bool = False
) -> Plan:
    """``places``: only the months whose place rows are written count as built."""
    built: set[date] = set()
    if not days_only:
        query = select(PERIOD.c.period_start).where(
            PERIOD.c.span == MONTH, PERIOD.c.period_start.between(first, last)
        )
        rows = s.execute(query.where(PERIOD.c.places.is_(True)) if places else query)
        built = {r[0] for r in rows}
    months: list[date] = []
    ranges: list[tuple[date, date]] = []
    d = first
    while d <= last:
        m_end = month_end(d)
        if d.day == 1 and m_end <= last and d in built:
            months.append(d)
        elif ranges and ranges[-1][1] == d - timedelta(days=1):
            ranges[-1] = (ranges[-1][0], min(m_end, last))
        else:
            ranges.append((d, min(m_end, last)))
        d = m_end + timedelta(days=1)
    return Plan(tuple(months), tuple(ranges))


def level_for(prefix: str, lengths: Mapping[str, int], need: str | None = None) -> str:
    """The coarsest area level whose codes are whole for ``prefix`` (and no coarser than
    ``need``, the level a grouping by area needs)."""
    start = AREA_LEVELS.index(need) if need else 0
    for level in AREA_LEVELS[start:-1]:
        if len(prefix) <= lengths[level]:
            return level
    return CELL


@dataclass(frozen=True, slots=True)
class Scope:
    """What to count: a period of local days, an area prefix, and optional unit / types."""

    first: date
    last: date
    prefix: str = ""
    unit: str | None = None
    types: Collection[str] | None = None


def tallies(
    s: Session,
    scope: Scope,
    group: str,
    lengths: Mapping[str, int],
    area_level: str | None = None,
) -> dict[str, Tally]:
    """The tallies of a scope per group key (unit id, event type, area code or ISO day)."""
    if group not in GROUPS:
        raise ValueError(f"unknown grouping {group!r}")
    need = area_level if group == "area" else None
    level = level_for(scope.prefix, lengths, need)
    if level == "district":
        level = _summed(group, scope)
    return _cube(s, scope, group, level, plan(s, scope.first, scope.last, days_only=group == "day"))


def _summed(group: str, scope: Scope) -> str:
    """The district rows with what the question does not need summed away, or the city's
    rows when the question is about the whole city by event type and not per district."""
    by_unit = group == "unit" or scope.unit is not None
    by_type = group == "event_type" or scope.types is not None
    if by_type and not scope.prefix and group != "area":
        return CITY if by_unit else CITY_TYPE
    if by_unit and by_type:
        return "district"
    if by_unit:
        return BY_UNIT
    return BY_TYPE if by_type else SUMMARY


def _cube(s: Session, scope: Scope, group: str, level: str, p: Plan) -> dict[str, Tally]:
    column = {"unit": "unit_id", "event_type": "event_type", "area": "area", "day": "period_start"}
    key = CUBE.c[column[group]]
    spans = [and_(CUBE.c.span == MONTH, CUBE.c.period_start.in_(p.months))] if p.months else []
    spans += [and_(CUBE.c.span == DAY, CUBE.c.period_start.between(a, b)) for a, b in p.day_ranges]
    where = [CUBE.c.level == level, or_(*spans)]
    if scope.prefix:
        where.append(CUBE.c.area.like(like_prefix(scope.prefix), escape="\\"))
    if scope.unit is not None:
        where.append(CUBE.c.unit_id == scope.unit)
    if scope.types is not None:
        # a filter on the rows read, not an index condition: as one, PostgreSQL (< 17) would
        # walk the key range once per type and month (44 × 12 walks for a class's year)
        where.append(CUBE.c.event_type.concat("").in_(sorted(scope.types)))
    sums = [func.sum(CUBE.c[c]).label(c) for c in column_names()]
    out: dict[str, Tally] = {}
    for r in s.execute(select(key.label("k"), *sums).where(*where).group_by(key)).mappings():
        out[str(r["k"])] = Tally.from_columns(r)
    hist_rows = s.execute(select(key, CUBE.c.hist).where(*where, CUBE.c.hist.is_not(None)))
    keys, blobs = [], []
    for k, h in hist_rows.all():  # one fetch: tens of thousands of rows for a year of days
        keys.append(str(k))
        blobs.append(bytes(h))
    add_packed(out, keys, blobs)
    return out


def overdue_now(
    s: Session, scope: Scope, group: str, now: datetime, area_level: str | None = None
) -> dict[str, int]:
    """Live tickets past their resolve due right now, per group (not a period figure).

    The live-ticket condition is the partial index's own text (``LIVE_TICKET``), not bound
    parameters, so the planner can use that index in a prepared statement too; the cases
    are joined only when the area or the event type matters.
    """
    t, c = TICKET, CASES
    if group == "unit":
        expr = t.c.unit_id
    elif group == "event_type":
        expr = c.c.event_type
    elif group == "area" and area_level in AREA_LEVELS:
        expr = c.c[area_level]
    else:
        return {}
    needs_case = group != "unit" or bool(scope.prefix) or scope.types is not None
    source = t.join(c, c.c.id == t.c.case_id) if needs_case else t
    query = (
        select(expr, func.count())
        .select_from(source)
        .where(text(f"ticket.{LIVE_TICKET}"), t.c.resolve_due < now)
    )
    if scope.prefix:
        query = query.where(c.c.cell.like(like_prefix(scope.prefix), escape="\\"))
    if scope.unit is not None:
        query = query.where(t.c.unit_id == scope.unit)
    if scope.types is not None:
        query = query.where(c.c.event_type.in_(sorted(scope.types)))
    return {str(k): int(n) for k, n in s.execute(query.group_by(expr))}
