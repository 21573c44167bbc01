"""API shapes for reading cases: the detail view, the list page and the list's filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from dispatch.cases.schemas import CaseOut
from dispatch.catalogue.views import BBox, parse_bbox
from dispatch.dbtypes import DB_INT_MAX, DbDatetime, DbStr
from dispatch.enums import CaseStatus

DEFAULT_PAGE_SIZE = 50


class PhotoRef(BaseModel):
    id: str
    kind: str | None
    ticket_id: int | None
    url: str


class TimelineEntry(BaseModel):
    seq: int
    type: str
    at: datetime
    #: username; null for the system; the role alone where the reporter is hidden
    actor: str | None
    actor_role: str | None
    #: true when the actor's identity is withheld from this caller (the reporter, for teams)
    actor_hidden: bool = False
    ticket_id: int | None
    unit_id: str | None
    from_status: str | None
    to_status: str | None
    data: dict[str, Any]


class CaseDetail(CaseOut):
    photos: list[PhotoRef]
    timeline: list[TimelineEntry]


class CasePage(BaseModel):
    items: list[CaseOut]
    total: int
    limit: int
    offset: int


class CaseListParams(BaseModel):
    """Filters of GET /cases. The page cap comes from the validation context (settings)."""

    model_config = ConfigDict(extra="forbid")

    status: CaseStatus | None = None
    unit: DbStr | None = Field(default=None, min_length=1, max_length=48)
    area: str | None = Field(default=None, pattern=r"^[0-9]{1,32}$")
    event_type: DbStr | None = Field(default=None, min_length=1, max_length=16)
    bbox: BBox | None = None
    overdue: bool | None = None
    since: DbDatetime | None = None
    limit: int = Field(default=DEFAULT_PAGE_SIZE, ge=1)
    offset: int = Field(default=0, ge=0, le=DB_INT_MAX)

    @field_validator("bbox", mode="before")
    @classmethod
    def _bbox(cls, v: Any) -> Any:
        return parse_bbox(v) if isinstance(v, str) else v

    @field_validator("limit")
    @classmethod
    def _cap(cls, v: int, info: ValidationInfo) -> int:
        cap = (info.context or {}).get("max_page_size")
        if cap is not None and v > cap:
            raise ValueError(f"limit must be at most {cap}")
        return v
