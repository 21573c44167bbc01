"""API shapes for reports and cases. Write schemas never carry server-owned fields."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dispatch.dbtypes import DbDatetime, DbStr
from geo import CRS_NAMES, normalize_crs
from geo.errors import UnknownCRSError


class ReportIn(BaseModel):
    """What a grid worker's phone sends. Unknown fields are refused (no mass assignment)."""

    model_config = ConfigDict(extra="forbid")

    event_type: str = Field(min_length=1, max_length=16, examples=["06014"])
    lon: float = Field(ge=-180, le=180, examples=[108.3208])
    lat: float = Field(ge=-90, le=90, examples=[22.8165])
    crs: str = Field(default="wgs84", description=f"one of {', '.join(CRS_NAMES)}")
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, description="GPS radius")
    captured_at: DbDatetime | None = Field(
        default=None, description="when the phone took the report (kept apart from receipt)"
    )
    #: 4,000 as in Open311 (a 12345 hotline transcript is long); Open311 files through here
    description: DbStr = Field(default="", max_length=4000)
    photo_ids: list[DbStr] = Field(default_factory=list, max_length=9)
    #: 自处理: the worker fixed a minor issue on the spot; needs before and after photos
    self_handled: bool = False
    after_photo_ids: list[DbStr] = Field(default_factory=list, max_length=9)

    @field_validator("crs")
    @classmethod
    def _crs(cls, v: str) -> str:
        try:
            return normalize_crs(v)
        except UnknownCRSError as exc:
            raise ValueError(str(exc)) from None


class UnitTicketOut(BaseModel):
    ticket_id: int
    unit_id: str
    unit_name_zh: str
    unit_name_en: str
    role: str
    status: str
    version: int
    accept_due: datetime
    resolve_due: datetime
    deadline_state: str


class LocationOut(BaseModel):
    lon: float
    lat: float
    input_crs: str
    input_lon: float
    input_lat: float
    accuracy_m: float | None
    near_edge: bool
    snapped_m: float
    cell: str
    community: str
    street: str
    district: str
    #: the grid version the case was located in (GET /api/v1/grid/cells?version=)
    grid_version: int
    community_name: str
    street_name: str
    district_name: str


class EventTypeRef(BaseModel):
    code: str
    name_zh: str
    name_en: str
    class_code: str
    urgent: bool


class CaseOut(BaseModel):
    id: int
    case_no: str
    status: str
    version: int
    event_type: EventTypeRef
    location: LocationOut
    description: str
    units: list[UnitTicketOut]
    report_count: int
    rework_count: int
    self_handled: bool
    created_at: datetime
    captured_at: datetime
    dispatched_at: datetime | None
    resolved_at: datetime | None
    verify_due: datetime | None
    closed_at: datetime | None
    reject_reason: str | None
    photo_ids: list[str] = Field(default_factory=list)


class ReportOut(CaseOut):
    """The answer to a report: the case it opened, or the open case it joined."""

    report_id: int
    joined_existing: bool
