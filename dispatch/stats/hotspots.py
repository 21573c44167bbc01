"""Hotspots for the command map: cases per cell and per street, and the repeat places.

A case counts on the day it was reported (``cases.created_at``, written once at intake, the
time of its ``case.reported`` event), so a past period's map never changes. The counts
come from the place rows the rollup writes (``dispatch.stats.places``: a year of a class
is a few hundred rows, not hundreds of thousands of cases), like every other figure; a
period with a day not rolled up yet is counted from the cases instead. Geometry comes
from the grid in memory.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from weakref import WeakKeyDictionary
from zoneinfo import ZoneInfo

import numpy as np
import shapely
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from dispatch.auth.principal import Principal
from dispatch.cases.models import Case
from dispatch.feed.log import json_default
from dispatch.state import AppState
from dispatch.stats import places
from dispatch.stats.cube import CELL_KEY, DAY, MONTH, PERIOD, PLACE
from dispatch.stats.gather import day_bounds, like_prefix
from dispatch.stats.places import Repeat
from dispatch.stats.queries import plan, reading
from dispatch.stats.schemas import StatsQuery
from dispatch.stats.service import scope_of
from geo import Grid
from geo.io import geometry_json

CASES = Case.__table__  # type: ignore[attr-defined]
#: the most features one answer holds (the busiest first)
MAX_FEATURES = 5000


@dataclass(frozen=True, slots=True)
class Where:
    """A period of whole local days (``first``…``last``, from ``start`` to ``end``), an
    area prefix and optional event types."""

    first: date
    last: date
    start: datetime
    end: datetime
    prefix: str = ""
    types: Collection[str] | None = None

    @classmethod
    def of(cls, first: date, last: date, tz: ZoneInfo, prefix: str = "",
           types: Collection[str] | None = None) -> Where:  # fmt: skip
        return cls(first, last, day_bounds(first, tz)[0], day_bounds(last, tz)[1], prefix, types)


# ------------------------------------------------ from the place rows (the rollup's)


def stored_places(s: Session, w: Where) -> dict[str, list[np.ndarray]] | None:
    """The period's place records per event type, or None when a day of it has no place
    rows yet (not rolled up since migration 0011, or not at all: then the cases answer)."""
    p = plan(s, w.first, w.last, places=True)
    need = sum((b - a).days + 1 for a, b in p.day_ranges)
    spans = [and_(PLACE.c.span == MONTH, PLACE.c.period_start.in_(p.months))] if p.months else []
    days_in = [PERIOD.c.period_start.between(a, b) for a, b in p.day_ranges]
    if need:
        have = s.execute(
            select(func.count()).where(
                PERIOD.c.span == DAY, PERIOD.c.places.is_(True), or_(*days_in)
            )
        ).scalar_one()
        if have < need:
            return None
        spans += [and_(PLACE.c.span == DAY, PLACE.c.period_start.between(a, b))
                  for a, b in p.day_ranges]  # fmt: skip
    out: dict[str, list[np.ndarray]] = {}
    if not spans:
        return out
    query = select(PLACE.c.event_type, PLACE.c.cells).where(or_(*spans))
    if w.types is not None:
        query = query.where(PLACE.c.event_type.in_(sorted(w.types)))
    for et, blob in s.execute(query):
        out.setdefault(et, []).append(places.unpack(bytes(blob)))
    return out


#: each database's cell numbers as last read (they only ever grow)
_BOOKS: WeakKeyDictionary[Any, places.CellBook] = WeakKeyDictionary()


def cell_book(s: Session) -> places.CellBook:
    """The cell numbers of the place rows, read again when more have been given."""
    bind = s.get_bind()
    book = _BOOKS.get(bind)
    top = s.execute(select(func.coalesce(func.max(CELL_KEY.c.id), -1))).scalar_one()
    if book is None or len(book) != top + 1:
        rows = s.execute(
            select(CELL_KEY.c.id, CELL_KEY.c.code, CELL_KEY.c.street).order_by(CELL_KEY.c.id)
        ).all()
        if [r[0] for r in rows] != list(range(len(rows))):
            raise RuntimeError("stats_cell_key must number its cells 0, 1, 2, …")
        book = places.CellBook(tuple(r[1] for r in rows), tuple(r[2] for r in rows))
        _BOOKS[bind] = book
    return book


# ------------------------------------------------ the counts, stored or counted live


def _filtered(query: Any, w: Where) -> Any:
    c = CASES.c
    query = query.where(c.created_at >= w.start, c.created_at < w.end)
    if w.prefix:
        query = query.where(c.cell.like(like_prefix(w.prefix), escape="\\"))
    if w.types is not None:
        query = query.where(c.event_type.in_(sorted(w.types)))
    return query


def counts_by(s: Session, w: Where, column: str) -> dict[str, int]:
    """Cases reported in the period per cell (``column="cell"``) or per street."""
    stored = stored_places(s, w)
    if stored is None:
        return live_counts_by(s, w, column)
    book = cell_book(s)
    totals = places.cell_totals(book, [a for p in stored.values() for a in p], w.prefix)
    if column == "street":
        return places.street_totals(book, totals)
    return {book.codes[i]: int(totals[i]) for i in np.flatnonzero(totals)}


def busiest_cells(s: Session, w: Where, limit: int, min_cases: int = 1) -> list[tuple[str, int]]:
    """The ``limit`` busiest cells with at least ``min_cases``, busiest first (ties by
    code): a year of a city hands back only them."""
    stored = stored_places(s, w)
    if stored is None:
        return live_busiest_cells(s, w, limit, min_cases)
    book = cell_book(s)
    totals = places.cell_totals(book, [a for p in stored.values() for a in p], w.prefix)
    return places.busiest(book, totals, limit, min_cases)


def repeats(s: Session, w: Where, min_cases: int, limit: int = MAX_FEATURES) -> list[Repeat]:
    """The ``limit`` cells × event types with the most cases (at least ``min_cases``) in the
    period, most first (ties by cell and type)."""
    stored = stored_places(s, w)
    if stored is None:
        return live_repeats(s, w, min_cases, limit)
    return places.repeats(cell_book(s), stored, min_cases, limit, w.prefix)


def live_counts_by(s: Session, w: Where, column: str) -> dict[str, int]:
    col = CASES.c[column]
    query = _filtered(select(col, func.count()), w).group_by(col)
    return {str(k): int(n) for k, n in s.execute(query)}


def live_busiest_cells(
    s: Session, w: Where, limit: int, min_cases: int = 1
) -> list[tuple[str, int]]:
    """The database sorts and cuts (no larger ``work_mem``: see ``queries.reading``)."""
    col, n = CASES.c.cell, func.count()
    query = _filtered(select(col, n), w).group_by(col)
    if min_cases > 1:
        query = query.having(n >= min_cases)
    query = query.order_by(n.desc(), col).limit(limit)
    return [(str(k), int(c)) for k, c in s.execute(query)]


def live_repeats(s: Session, w: Where, min_cases: int, limit: int = MAX_FEATURES) -> list[Repeat]:
    c, n = CASES.c, func.count()
    query = _filtered(
        select(c.cell, c.event_type, n, func.min(c.created_at), func.max(c.created_at)), w
    )
    query = query.group_by(c.cell, c.event_type).having(n >= min_cases)
    query = query.order_by(n.desc(), c.cell, c.event_type).limit(limit)
    return [Repeat(cell, et, int(k), first, last) for cell, et, k, first, last in s.execute(query)]


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=json_default)


def collection(features: Sequence[tuple[dict[str, Any], str]]) -> str:
    """GeoJSON FeatureCollection text from (properties, geometry JSON) pairs."""
    parts = [
        '{"type":"Feature","properties":' + _dumps(p) + ',"geometry":' + g + "}"
        for p, g in features
    ]
    return '{"type":"FeatureCollection","features":[' + ",".join(parts) + "]}"


#: each grid's cell geometries as GeoJSON text, made once (a map asks for thousands)
_GEOMETRY: WeakKeyDictionary[Grid, dict[tuple[str, str], str]] = WeakKeyDictionary()


def cell_geometry(grid: Grid, code: str, shape: str) -> str:
    cache = _GEOMETRY.setdefault(grid, {})
    text = cache.get((code, shape))
    if text is None:
        geom = grid.geoms[grid.position(code)]
        if shape == "point":  # a point inside the cell, for a heat layer
            p = shapely.point_on_surface(geom)
            text = f'{{"type":"Point","coordinates":[{round(p.x, 7)},{round(p.y, 7)}]}}'
        else:
            text = geometry_json(geom)
        cache[(code, shape)] = text
    return text


# ---------------------------------------------------------------- the GeoJSON answers


def _where(state: AppState, principal: Principal, q: StatsQuery) -> Where:
    scope = scope_of(state, principal, q, city_only=True)
    return Where.of(q.first, q.last, state.stats.tz, q.area, scope.types)


def cells_geojson(
    state: AppState,
    principal: Principal,
    q: StatsQuery,
    *,
    min_cases: int = 1,
    limit: int = MAX_FEATURES,
    shape: str = "polygon",
) -> str:
    """The cells with at least ``min_cases`` cases, busiest first, with their counts."""
    w, grid = _where(state, principal, q), state.grid
    with reading(state.db.read_engine, roomy=False) as s:
        top = busiest_cells(s, w, limit, min_cases)
    features = []
    for code, n in top:
        if code not in grid:
            continue  # a cell of an older grid version
        i = grid.position(code)
        props = {
            "code": code,
            "cases": n,
            "community": grid.parents["community"][i],
            "street": grid.parents["street"][i],
            "district": grid.parents["district"][i],
        }
        features.append((props, cell_geometry(grid, code, shape)))
    return collection(features)


def streets_geojson(state: AppState, principal: Principal, q: StatsQuery) -> str:
    """Every street of the area with its count of cases (zero included), as polygons."""
    w, grid = _where(state, principal, q), state.grid
    with reading(state.db.read_engine, roomy=False) as s:
        counts = counts_by(s, w, "street")
    features = []
    for code in sorted(c for c, a in grid.areas.items() if a.level == "street"):
        if not (code.startswith(q.area) or q.area.startswith(code)):
            continue
        a, geom = grid.areas[code], grid.area_geoms.get(code)
        props = {
            "code": code,
            "name_zh": a.name_zh,
            "name_en": a.name_en,
            "district": a.parent,
            "generated": a.generated,
            "cases": counts.get(code, 0),
        }
        features.append((props, "null" if geom is None else geometry_json(geom)))
    return collection(features)


def repeats_geojson(
    state: AppState,
    principal: Principal,
    q: StatsQuery,
    *,
    min_cases: int = 3,
    limit: int = MAX_FEATURES,
) -> str:
    """重复发生点位: cells with at least ``min_cases`` cases of one event type in the period
    (the ``limit`` with the most)."""
    w, grid, types = _where(state, principal, q), state.grid, state.city.event_types
    with reading(state.db.read_engine, roomy=False) as s:
        found = repeats(s, w, min_cases, limit)
    features = []
    for r in found:
        if r.cell not in grid:
            continue
        et = types.get(r.event_type)
        props = {
            "cell": r.cell,
            "street": grid.parents["street"][grid.position(r.cell)],
            "event_type": r.event_type,
            "name_zh": et.name_zh if et else r.event_type,
            "name_en": et.name_en if et else r.event_type,
            "cases": r.cases,
            "first": r.first,
            "last": r.last,
        }
        features.append((props, cell_geometry(grid, r.cell, "polygon")))
    return collection(features)
