"""Grid versions in the database: store one and put it in force, list them, read one back.

A version is immutable once stored: its cells and areas (with their outlines as WKB) are
written in the transaction that puts it in force and closes the one before, so a reader
sees either the old current version or the new one, complete. Old versions stay for the
cases located in them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, Engine, bindparam, func, insert, select, text, update

from dispatch.catalogue.models import Area, Cell, GridVersion
from dispatch.db import transaction
from dispatch.dbtypes import table_of, utcnow
from geo import Grid
from geo.grid import Area as GridArea

_CHUNK = 2000
#: before 0005 a grid was known by the first 12 hex digits of its cells file's sha256
LEGACY_CHECKSUM_LEN = 12


@dataclass(frozen=True)
class VersionInfo:
    id: int
    checksum: str
    source: str
    cells: int
    loaded_at: datetime
    valid_from: datetime
    valid_to: datetime | None

    @property
    def current(self) -> bool:
        return self.valid_to is None

    def matches(self, grid: Grid) -> bool:
        """The grid is this version's (a version from before 0005 by its cells' sha256)."""
        if len(self.checksum) == LEGACY_CHECKSUM_LEN:
            return str(grid.meta.get("sha256", "")).startswith(self.checksum)
        return bool(self.checksum == grid.meta.get("checksum"))

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "checksum": self.checksum,
            "source": self.source,
            "cells": self.cells,
            "loaded_at": self.loaded_at,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "current": self.current,
        }


_GV = table_of(GridVersion)
_COLUMNS = (_GV.c.id, _GV.c.checksum, _GV.c.source, _GV.c.cells, _GV.c.loaded_at,
            _GV.c.valid_from, _GV.c.valid_to)  # fmt: skip


def _info(row: Any) -> VersionInfo:
    return VersionInfo(*row)


def current_version(conn: Connection) -> VersionInfo | None:
    row = conn.execute(select(*_COLUMNS).where(_GV.c.in_force.is_(True))).first()
    return _info(row) if row else None


def list_versions(conn: Connection) -> list[VersionInfo]:
    return [_info(r) for r in conn.execute(select(*_COLUMNS).order_by(_GV.c.id))]


def get_version(conn: Connection, version_id: int) -> VersionInfo | None:
    row = conn.execute(select(*_COLUMNS).where(_GV.c.id == version_id)).first()
    return _info(row) if row else None


def add_version(
    engine: Engine, grid: Grid, *, source: str, now: datetime | None = None
) -> tuple[VersionInfo, bool]:
    """Store ``grid`` and put it in force from ``now``, closing the version before.

    One transaction, serialised against other processes doing the same (PostgreSQL: an
    advisory lock; SQLite: the write lock taken at BEGIN). When the grid already is the
    current version nothing is written. Returns the version and whether it is new.
    """
    checksum = str(grid.meta["checksum"])
    with transaction(engine) as s:
        conn = s.connection()
        _lock(conn)
        cur = current_version(conn)
        if cur is not None and cur.matches(grid):
            return cur, False
        start = now or utcnow()
        if cur is not None:
            conn.execute(
                update(_GV)
                .where(_GV.c.id == cur.id)
                .values(valid_to=max(start, cur.valid_from), in_force=None)
            )
        version_id = conn.execute(
            insert(_GV)
            .values(checksum=checksum, source=source, cells=len(grid), loaded_at=utcnow(),
                    valid_from=start, valid_to=None, in_force=True)
            .returning(_GV.c.id)
        ).scalar_one()  # fmt: skip
        _insert(conn, table_of(Area), list(_area_rows(grid, version_id)))
        _insert(conn, table_of(Cell), list(_cell_rows(grid, version_id)))
        info = get_version(conn, version_id)
    assert info is not None
    return info, True


def _lock(conn: Connection) -> None:
    """Serialise version changes across processes (SQLite: BEGIN IMMEDIATE already does)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('griddispatch.grid_version'))"))


def adopt_legacy(engine: Engine, version: VersionInfo, grid: Grid) -> VersionInfo:
    """The version made by migration 0005 is this grid: give it its checksum and outlines."""
    cells, areas = table_of(Cell), table_of(Area)
    with transaction(engine) as s:
        conn = s.connection()
        _lock(conn)
        again = get_version(conn, version.id)
        if again is not None and len(again.checksum) != LEGACY_CHECKSUM_LEN:
            return again  # another process adopted it meanwhile
        for table, rows in (
            (cells, _cell_rows(grid, version.id)),
            (areas, _area_rows(grid, version.id)),
        ):
            present = set(
                conn.execute(
                    select(table.c.code).where(table.c.grid_version == version.id)
                ).scalars()
            )
            fresh: list[dict[str, Any]] = []
            known: list[dict[str, Any]] = []
            for row in rows:
                (known if row["code"] in present else fresh).append(row)
            _insert(conn, table, fresh)
            for start in range(0, len(known), _CHUNK):
                conn.execute(
                    update(table)
                    .where(table.c.grid_version == version.id, table.c.code == bindparam("b_code"))
                    .values(shape=bindparam("b_shape")),
                    [
                        {"b_code": r["code"], "b_shape": r["shape"]}
                        for r in known[start : start + _CHUNK]
                    ],
                )
        count = conn.execute(
            select(func.count()).select_from(cells).where(cells.c.grid_version == version.id)
        ).scalar_one()
        conn.execute(
            update(_GV)
            .where(_GV.c.id == version.id)
            .values(checksum=str(grid.meta["checksum"]), cells=count)
        )
        info = get_version(conn, version.id)
    assert info is not None
    return info


def load_version(conn: Connection, version_id: int, *, snap_tolerance_m: float) -> Grid:
    """A stored version as a Grid (its outlines from WKB; validated when it was stored)."""
    cells = table_of(Cell)
    rows = conn.execute(
        select(cells.c.code, cells.c.community, cells.c.street, cells.c.district, cells.c.shape)
        .where(cells.c.grid_version == version_id, cells.c.shape.is_not(None))
        .order_by(cells.c.code)
    ).all()
    codes = [r[0] for r in rows]
    parents = {
        "community": [r[1] for r in rows],
        "street": [r[2] for r in rows],
        "district": [r[3] for r in rows],
    }
    geoms = np.asarray(shapely.from_wkb([r[4] for r in rows]), dtype=object)
    areas, area_geoms = _areas(conn, version_id)
    info = get_version(conn, version_id)
    meta = {"checksum": info.checksum if info else "", "version": version_id}
    return Grid(codes, geoms, parents, areas, snap_tolerance_m=snap_tolerance_m, meta=meta,
                area_geoms=area_geoms)  # fmt: skip


def version_areas(conn: Connection, version_id: int) -> dict[str, GridArea]:
    """A version's areas without their outlines: the names an old case is shown with."""
    return _areas(conn, version_id, outlines=False)[0]


def _areas(
    conn: Connection, version_id: int, *, outlines: bool = True
) -> tuple[dict[str, GridArea], dict[str, Any]]:
    t = table_of(Area)
    columns = [t.c.code, t.c.level, t.c.name_zh, t.c.name_en, t.c.parent, t.c.generated]
    if outlines:
        columns.append(t.c.shape)
    areas: dict[str, GridArea] = {}
    geoms: dict[str, Any] = {}
    for row in conn.execute(select(*columns).where(t.c.grid_version == version_id)):
        areas[row[0]] = GridArea(row[0], row[1], row[2], row[3], row[4], bool(row[5]))
        if outlines and row[6] is not None:
            geoms[row[0]] = shapely.from_wkb(row[6])
    return areas, geoms


def _area_rows(grid: Grid, version_id: int) -> Iterator[dict[str, Any]]:
    for a in grid.areas.values():
        outline = grid.area_geoms.get(a.code)
        shape = None if outline is None else shapely.to_wkb(outline)
        yield {"grid_version": version_id, **asdict(a), "shape": shape}


def _cell_rows(grid: Grid, version_id: int) -> Iterator[dict[str, Any]]:
    labels = shapely.point_on_surface(grid.geoms)
    shapes = shapely.to_wkb(shapely.force_2d(grid.geoms))
    for i, code in enumerate(grid.codes):
        yield {
            "grid_version": version_id,
            "code": code,
            "community": grid.parents["community"][i],
            "street": grid.parents["street"][i],
            "district": grid.parents["district"][i],
            "lon": labels[i].x,
            "lat": labels[i].y,
            "shape": shapes[i],
        }


def _insert(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        conn.execute(insert(table), rows[start : start + _CHUNK])
