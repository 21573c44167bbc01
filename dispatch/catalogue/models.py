"""Reference tables: the grid's versions with their cells and areas, and the event types.

Cells and areas belong to a grid version (DOMAIN.md: cells change over time, keep
valid-from / valid-to). A case keeps the version it was located in, so a redrawn grid
never moves an old case; new reports are located in the current version, the one in force
(``valid_to`` NULL; the database allows only one).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, LargeBinary, Text
from sqlmodel import Field, SQLModel

from dispatch.dbtypes import time_column

#: ``in_force`` is TRUE exactly when ``valid_to`` is NULL; being unique, only one row has it
IN_FORCE_CHECK = "(in_force IS NULL AND valid_to IS NOT NULL) OR (in_force AND valid_to IS NULL)"


class GridVersion(SQLModel, table=True):
    """One drawing of the grid, in force from ``valid_from`` until ``valid_to``."""

    __tablename__ = "grid_version"
    __table_args__ = (CheckConstraint(IN_FORCE_CHECK, name="ck_grid_version_in_force"),)
    id: int | None = Field(default=None, primary_key=True)
    #: sha256 of cells.geojson + areas.geojson as written (geo.io.grid_checksum)
    checksum: str = Field(max_length=64, index=True)
    #: what it was loaded from: a file or city folder, and how
    source: str = Field(sa_type=Text)
    cells: int
    loaded_at: datetime = time_column()
    valid_from: datetime = time_column()
    valid_to: datetime | None = time_column(default=None)
    #: TRUE for the version new reports are located in, NULL for the others
    in_force: bool | None = Field(default=True, unique=True)


class Area(SQLModel, table=True):
    """District, street office (街道) or community (社区) of one grid version."""

    __tablename__ = "area"
    grid_version: int = Field(foreign_key="grid_version.id", primary_key=True)
    code: str = Field(primary_key=True, max_length=32)
    level: str = Field(max_length=16)
    name_zh: str
    name_en: str
    parent: str | None = Field(default=None, max_length=32, index=True)
    generated: bool = False
    #: the outline as WKB (WGS-84); None for an area known by its code only
    shape: bytes | None = Field(default=None, sa_type=LargeBinary)


class Cell(SQLModel, table=True):
    """A unit grid cell (单元网格) of one grid version. On PostGIS the migration adds a
    ``geom`` polygon, set by a trigger from ``shape``."""

    __tablename__ = "cell"
    grid_version: int = Field(foreign_key="grid_version.id", primary_key=True)
    code: str = Field(primary_key=True, max_length=32)
    community: str = Field(max_length=32, index=True)
    street: str = Field(max_length=32, index=True)
    district: str = Field(max_length=32, index=True)
    lon: float  # a point inside the cell, for labels
    lat: float
    #: the polygon as WKB (WGS-84): old versions are rebuilt from it; None only for cells
    #: carried over from before grid versions whose folder was never seen again
    shape: bytes | None = Field(default=None, sa_type=LargeBinary)


class EventType(SQLModel, table=True):
    """A kind of incident (管理事项), GB/T 47678.5 code or a local ``NN-`` code."""

    __tablename__ = "event_type"
    code: str = Field(primary_key=True, max_length=16)
    standard: str
    old_code: str | None = None
    class_code: str = Field(max_length=8, index=True)
    class_zh: str
    class_en: str
    name_zh: str
    name_en: str
    accept_limit: float
    resolve_limit: float
    verify_limit: float
    limit_unit: str = Field(max_length=16)
    urgent: bool = False
    focus: bool = False
    icon: str = "other"
