"""Cases (案卷), the reports that feed them, and intake idempotency records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.dbtypes import enum_column, time_column, utcnow
from dispatch.enums import CaseStatus


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        #: hotspots and repeat places read cases by cell and type over a period (dispatch.stats)
        Index("ix_cases_cell_type_time", "cell", "event_type", "created_at"),
        #: the cell of the grid version the case was located in
        ForeignKeyConstraint(
            ["grid_version", "cell"],
            ["cell.grid_version", "cell.code"],
            name="fk_cases_cell_version",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_no: str = Field(unique=True, max_length=32)
    event_type: str = Field(foreign_key="event_type.code", index=True, max_length=16)
    status: CaseStatus = enum_column(CaseStatus, "case_status", index=True)
    version: int = 1
    urgent: bool = False
    # where: WGS-84 is the truth; the point as reported is kept too
    lon: float
    lat: float
    input_crs: str = Field(default="wgs84", max_length=16)
    input_lon: float
    input_lat: float
    accuracy_m: float | None = None
    near_edge: bool = False
    snapped_m: float = 0.0
    cell: str = Field(index=True, max_length=32)
    community: str = Field(max_length=32)
    street: str = Field(max_length=32)
    district: str = Field(max_length=32, index=True)
    #: the grid version the case was located in: its cell and areas are that version's
    grid_version: int = Field(foreign_key="grid_version.id")
    description: str = Field(default="", sa_type=Text)
    reporter_id: int = Field(foreign_key="user_account.id", index=True)
    #: the rule that routed the case ("event|prefix"), for "why did this go to unit X"
    routing_rule: str | None = None
    self_handled: bool = False
    report_count: int = 1
    rework_count: int = 0
    reject_reason: str | None = None
    captured_at: datetime = time_column()
    created_at: datetime = time_column(default_factory=utcnow, index=True)
    dispatched_at: datetime | None = time_column(default=None)
    resolved_at: datetime | None = time_column(default=None)
    verify_due: datetime | None = time_column(default=None)
    closed_at: datetime | None = time_column(default=None)
    updated_at: datetime = time_column(default_factory=utcnow, index=True)
    closed_by: int | None = Field(default=None, foreign_key="user_account.id")


class Report(SQLModel, table=True):
    """One grid worker's report; duplicates join an open case instead of opening one."""

    __tablename__ = "report"
    __table_args__ = (UniqueConstraint("reporter_id", "client_key", name="uq_report_client_key"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    reporter_id: int = Field(foreign_key="user_account.id")
    #: the phone's idempotency key: permanent, so a report queued for days is never doubled
    client_key: str = Field(max_length=255)
    joined_existing: bool = False
    lon: float
    lat: float
    input_crs: str = Field(default="wgs84", max_length=16)
    input_lon: float
    input_lat: float
    accuracy_m: float | None = None
    description: str = Field(default="", sa_type=Text)
    captured_at: datetime = time_column()
    received_at: datetime = time_column(default_factory=utcnow)
    #: what a channel adds, as JSON (Open311: the client, its answers, media_url, address)
    extra: str | None = Field(default=None, sa_type=Text)


class IdempotencyRecord(SQLModel, table=True):
    """The first answer to (user, key), returned to every retry with the same body."""

    __tablename__ = "idempotency_record"
    user_id: int = Field(foreign_key="user_account.id", primary_key=True)
    key: str = Field(primary_key=True, max_length=255)
    fingerprint: str = Field(max_length=64)
    status_code: int
    body: str = Field(sa_type=Text)
    created_at: datetime = time_column(default_factory=utcnow)
