"""Reference tables loaded from a city folder (grid_data/<city>) at start-up."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Area(SQLModel, table=True):
    """District, street office (街道) or community (社区)."""

    __tablename__ = "area"
    code: str = Field(primary_key=True, max_length=32)
    level: str = Field(max_length=16)
    name_zh: str
    name_en: str
    parent: str | None = Field(default=None, max_length=32, index=True)
    generated: bool = False


class Cell(SQLModel, table=True):
    """A unit grid cell (单元网格). On PostGIS the migration adds a ``geom`` polygon."""

    __tablename__ = "cell"
    code: str = Field(primary_key=True, max_length=32)
    community: str = Field(max_length=32, index=True)
    street: str = Field(max_length=32, index=True)
    district: str = Field(max_length=32, index=True)
    #: sha256 prefix of the cells file the cell came from: old cases keep their version
    grid_version: str = Field(max_length=16)
    lon: float  # a point inside the cell, for labels
    lat: float


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
