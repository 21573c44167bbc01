"""Duplicate reports: an open case of the same type nearby absorbs a new report.

One query per intake batch: the cells within the radius of every point come from the
in-memory grid, so the database scans only those cells' open cases (index on cell).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from dispatch.cases.rawsql import Raw, driver
from dispatch.dbtypes import UTCDateTime
from dispatch.state import AppState
from geo import Location

if TYPE_CHECKING:
    from dispatch.cases.intake import Prepared


# SQLite is told which index serves this search: its planner, with no statistics, weighs a
# hundred cells × the batch's types against the status index and picks the latter, reading
# every open case of the city, a cost that grows with the city's backlog (measured: 4.5 ms
# a batch at 5,000 open cases, 0.5 ms this way). PostgreSQL plans from its statistics.
_OPEN_IN_CELLS = (
    "SELECT id, event_type, cell, lon, lat, created_at FROM cases {hint}"
    "WHERE cell IN {cells} AND event_type IN {types} AND created_at >= {since} "
    "AND status IN ('reported', 'dispatched')"
)
_SQLITE_HINT = "INDEXED BY ix_cases_cell_type_time "


def open_cases_sql(raw: Raw, cells: int, types: int) -> str:
    """The open cases of ``types`` event types in ``cells`` cells since a time, as the driver
    runs it (its plan is checked in tests/integration/test_query_plans.py)."""
    return _OPEN_IN_CELLS.format(
        hint=_SQLITE_HINT if raw.sqlite else "",
        cells=raw.marks(cells),
        types=raw.marks(types),
        since=raw.mark,
    )


def cells_near(state: AppState, loc: Location) -> frozenset[str]:
    """The cells within the duplicate radius of a point: found when the report is
    prepared, so the intake writer, which holds the write lock, need not."""
    r = state.settings.duplicate_radius_m
    dlat = r / 110_574.0
    dlon = r / (111_320.0 * max(math.cos(math.radians(loc.lat)), 0.01))
    grid = state.grid
    box = grid.cells_in_bbox(loc.lon - dlon, loc.lat - dlat, loc.lon + dlon, loc.lat + dlat)
    return frozenset([*(grid.codes[i] for i in box), loc.cell])


def duplicate_candidates(state: AppState, s: Session, batch: Sequence[Prepared]) -> list[list[int]]:
    """For each report, the open cases of its type within the radius and window, nearest first."""
    r = state.settings.duplicate_radius_m
    since = min(p.received_at for p in batch) - timedelta(
        hours=state.settings.duplicate_window_hours
    )
    near_cells = [p.near_cells or cells_near(state, p.loc) for p in batch]
    cells = sorted(set().union(*near_cells))
    types = sorted({p.event.code for p in batch})
    raw = driver(s)
    sql = open_cases_sql(raw, len(cells), len(types))
    at = _since_sqlite(raw.dialect)(since) if raw.sqlite else since
    found = raw.rows(sql, [*cells, *types, at])
    rows = [(cid, et, cell, lon, lat, _aware(at)) for cid, et, cell, lon, lat, at in found]
    out = []
    window = timedelta(hours=state.settings.duplicate_window_hours)
    for p, mine in zip(batch, near_cells, strict=True):
        near = [
            (distance_m(lon, lat, p.loc.lon, p.loc.lat), cid)
            for cid, et, cell, lon, lat, created in rows
            if et == p.event.code and cell in mine and created >= p.received_at - window
        ]
        out.append([cid for d, cid in sorted(near) if d <= r])
    return out


def _since_sqlite(dialect: Any) -> Any:
    """How a UTCDateTime is written on SQLite (the column's own bind processor)."""
    return UTCDateTime().dialect_impl(dialect).bind_processor(dialect)


def _aware(t: datetime | str) -> datetime:
    """A timestamp read by raw SQL: SQLite gives ISO text, PostgreSQL an aware datetime."""
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Metres between nearby points (local equirectangular: exact enough under 1 km)."""
    k = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon2 - lon1) * 111_320.0 * k, (lat2 - lat1) * 110_574.0)
