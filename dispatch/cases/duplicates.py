"""Duplicate reports: an open case of the same type nearby absorbs a new report.

One query per intake batch: the cells within the radius of every point come from the
in-memory grid, so the database scans only those cells' open cases (index on cell).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, text
from sqlmodel import Session

from dispatch.dbtypes import UTCDateTime
from dispatch.state import AppState

if TYPE_CHECKING:
    from dispatch.cases.intake import Prepared


# event_type too, so the (cell, event_type, created_at) index serves the search: given only
# the cell, SQLite prefers the status index and reads every open case of the city
_OPEN_IN_CELLS = text(
    "SELECT id, event_type, cell, lon, lat, created_at FROM cases "
    "WHERE cell IN :cells AND event_type IN :types AND status IN ('reported', 'dispatched') "
    "AND created_at >= :since"
).bindparams(
    bindparam("cells", expanding=True),
    bindparam("types", expanding=True),
    bindparam("since", type_=UTCDateTime()),
)


def duplicate_candidates(state: AppState, s: Session, batch: Sequence[Prepared]) -> list[list[int]]:
    """For each report, the open cases of its type within the radius and window, nearest first."""
    r = state.settings.duplicate_radius_m
    since = min(p.received_at for p in batch) - timedelta(
        hours=state.settings.duplicate_window_hours
    )
    grid = state.grid
    near_cells: list[set[str]] = []
    for p in batch:
        dlat = r / 110_574.0
        dlon = r / (111_320.0 * max(math.cos(math.radians(p.loc.lat)), 0.01))
        box = grid.cells_in_bbox(
            p.loc.lon - dlon, p.loc.lat - dlat, p.loc.lon + dlon, p.loc.lat + dlat
        )
        near_cells.append({grid.codes[i] for i in box} | {p.loc.cell})
    cells = sorted(set().union(*near_cells))
    types = sorted({p.event.code for p in batch})
    params = {"cells": cells, "types": types, "since": since}
    rows = s.connection().execute(_OPEN_IN_CELLS, params).all()
    out = []
    window = timedelta(hours=state.settings.duplicate_window_hours)
    for p, mine in zip(batch, near_cells, strict=True):
        near = [
            (distance_m(lon, lat, p.loc.lon, p.loc.lat), cid)
            for cid, et, cell, lon, lat, created in rows
            if et == p.event.code and cell in mine and _aware(created) >= p.received_at - window
        ]
        out.append([cid for d, cid in sorted(near) if d <= r])
    return out


def _aware(t: datetime | str) -> datetime:
    """A timestamp read by raw SQL: SQLite gives ISO text, PostgreSQL an aware datetime."""
    if isinstance(t, str):
        t = datetime.fromisoformat(t)
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Metres between nearby points (local equirectangular: exact enough under 1 km)."""
    k = math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot((lon2 - lon1) * 111_320.0 * k, (lat2 - lat1) * 110_574.0)
