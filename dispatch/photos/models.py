"""Stored photos: re-encoded without EXIF, named by a random id, checked by sha256."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from dispatch.dbtypes import enum_column, time_column, utcnow
from dispatch.enums import PhotoKind


class Photo(SQLModel, table=True):
    __tablename__ = "photo"
    id: str = Field(primary_key=True, max_length=32)
    sha256: str = Field(max_length=64, index=True)
    content_type: str = Field(max_length=32)
    width: int
    height: int
    size_bytes: int
    uploaded_by: int = Field(foreign_key="user_account.id", index=True)
    uploaded_at: datetime = time_column(default_factory=utcnow)
    #: attached when a report, a resolution or a check uses the photo
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    kind: PhotoKind | None = enum_column(PhotoKind, "photo_kind", default=None, nullable=True)
    #: may be shown outside the city's staff (Open311 media_url)
    public: bool = False
