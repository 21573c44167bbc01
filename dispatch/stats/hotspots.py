"""Hotspots for the command map: cases per cell and per street, and the repeat places.

A case counts on the day it was reported (``cases.created_at``, written once at intake, the
time of its ``case.reported`` event), so a past period's map never changes. Geometry
comes from the grid in memory; the database only counts.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

import shapely
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dispatch.auth.principal import Principal
from dispatch.cases.models import Case
from dispatch.feed.log import json_default
from dispatch.state import AppState
from dispatch.stats.gather import day_bounds, like_prefix
from dispatch.stats.queries import reading
from dispatch.stats.schemas import StatsQuery
from dispatch.stats.service import scope_of
from geo import Grid
from geo.io import geometry_json

CASES = Case.__table__  # type: ignore[attr-defined]
#: the most features one answer holds (the busiest first)
MAX_FEATURES = 5000


@dataclass(frozen=True, slots=True)
class Where:
    start: datetime
    end: datetime
    prefix: str = ""
    types: Collection[str] | None = None


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
    col = CASES.c[column]
    query = _filtered(select(col, func.count()), w).group_by(col)
    return {str(k): int(n) for k, n in s.execute(query)}


def busiest_counts(
    s: Session, w: Where, column: str, limit: int, min_cases: int = 1
) -> list[tuple[str, int]]:
    """The ``limit`` busiest cells (or streets) with at least ``min_cases``, busiest first
    (ties by code): the database sorts and cuts, so a year of a city sends back only them."""
    col = CASES.c[column]
    n = func.count()
    query = _filtered(select(col, n), w).group_by(col)
    if min_cases > 1:
        query = query.having(n >= min_cases)
    query = query.order_by(n.desc(), col).limit(limit)
    return [(str(k), int(c)) for k, c in s.execute(query)]


@dataclass(frozen=True, slots=True)
class Repeat:
    cell: str
    event_type: str
    cases: int
    first: datetime
    last: datetime


def repeats(s: Session, w: Where, min_cases: int, limit: int = MAX_FEATURES) -> list[Repeat]:
    """The ``limit`` cells × event types with the most cases (at least ``min_cases``) in the
    period, most first (ties by cell and type)."""
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
    start, _ = day_bounds(q.first, state.stats.tz)
    _, end = day_bounds(q.last, state.stats.tz)
    return Where(start, end, q.area, scope.types)


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
        top = busiest_counts(s, w, "cell", limit, min_cases)
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
