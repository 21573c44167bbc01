"""Pre-aggregated figures (the cube), the close-by time of each case, the rollup's progress.

The cube is derived data: it can be dropped and rebuilt from the event log at any time
(``griddispatch stats-rollup --rebuild``). Its numeric columns are
:func:`dispatch.stats.figures.column_names`; a test keeps the two lists equal.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, LargeBinary, false
from sqlmodel import Field, SQLModel

from dispatch.dbtypes import time_column


def _count() -> Any:
    return Field(default=0)


def _seconds() -> Any:
    return Field(default=0, sa_type=BigInteger)


class StatsCube(SQLModel, table=True):
    """The tally of one (level, span, day or month, area, event type, unit).

    ``level`` is the area level the row is kept at (cell, community, street, district, the
    district with units or types summed away, or the whole city with ``area`` "": the same
    facts several times, so a query reads the coarsest rows that answer it); ``span``
    is ``day`` or ``month`` (month rows exist once every day of the month is sealed);
    ``unit_id`` is "" for case events before the case has a lead unit.
    """

    __tablename__ = "stats_cube"
    #: for area filters: a code prefix is a range of this index (LIKE 'p%' on PostgreSQL
    #: needs the pattern operator class unless the database collation is C)
    __table_args__ = (
        Index(
            "ix_stats_cube_area",
            "level",
            "area",
            "period_start",
            postgresql_ops={"area": "varchar_pattern_ops"},
        ),
    )
    level: str = Field(primary_key=True, max_length=16)
    span: str = Field(primary_key=True, max_length=8)
    period_start: date = Field(primary_key=True)
    area: str = Field(primary_key=True, max_length=32)
    event_type: str = Field(primary_key=True, max_length=16)
    unit_id: str = Field(primary_key=True, max_length=48)
    reports: int = _count()
    cases: int = _count()
    registered: int = _count()
    rejected: int = _count()
    voided: int = _count()
    self_handled: int = _count()
    dispatched: int = _count()
    dispatched_on_time: int = _count()
    reassigned: int = _count()
    reworked: int = _count()
    reopened: int = _count()
    closed: int = _count()
    due: int = _count()
    closed_on_time: int = _count()
    tickets: int = _count()
    accepted: int = _count()
    accepted_on_time: int = _count()
    returned: int = _count()
    #: added by migration 0006 to a table with rows, hence the server default
    extensions: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    resolved: int = _count()
    resolved_on_time: int = _count()
    overdue: int = _count()
    dispatch_n: int = _count()
    dispatch_s: int = _seconds()
    accept_n: int = _count()
    accept_s: int = _seconds()
    resolve_n: int = _count()
    resolve_s: int = _seconds()
    verify_n: int = _count()
    verify_s: int = _seconds()
    close_n: int = _count()
    close_s: int = _seconds()
    #: the log-scale histograms of the steps, packed (dispatch.stats.figures.HIST records)
    hist: bytes | None = Field(default=None, sa_type=LargeBinary)


class StatsCaseDue(SQLModel, table=True):
    """When a registered case had to be closed by: finds the cases that fall due on a day."""

    __tablename__ = "stats_case_due"
    case_id: int = Field(
        sa_column=Column(Integer, ForeignKey("cases.id"), primary_key=True, autoincrement=False)
    )
    close_due: datetime = time_column(index=True)


class StatsPeriod(SQLModel, table=True):
    """A day or month the rollup has written; a sealed one is final and never recomputed."""

    __tablename__ = "stats_period"
    span: str = Field(primary_key=True, max_length=8)
    period_start: date = Field(primary_key=True)
    computed_at: datetime = time_column()
    sealed: bool = False
    #: its place rows (``stats_place``) are written; added by migration 0011, whose
    #: older periods have none until the rollup job fills them in
    places: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class StatsPlace(SQLModel, table=True):
    """The cases reported per cell in one (day or month, event type), packed
    (:data:`dispatch.stats.places.PLACE` records): a year of a class is a few hundred rows."""

    __tablename__ = "stats_place"
    span: str = Field(primary_key=True, max_length=8)
    period_start: date = Field(primary_key=True)
    event_type: str = Field(primary_key=True, max_length=16)
    cells: bytes = Field(sa_type=LargeBinary)


class StatsCellKey(SQLModel, table=True):
    """A cell code's number in the place rows: given on first sight, never changed or
    reused (a cell of an older grid version keeps its number)."""

    __tablename__ = "stats_cell_key"
    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    code: str = Field(max_length=32, unique=True)
    street: str = Field(max_length=32)
