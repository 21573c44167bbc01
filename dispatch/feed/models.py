"""The event log: one row per committed change, in a global ``seq`` order."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from dispatch.dbtypes import time_column, utcnow


class Event(SQLModel, table=True):
    __tablename__ = "event_log"
    seq: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=40, index=True)  # e.g. case.reported, ticket.accepted
    at: datetime = time_column(default_factory=utcnow, index=True)  # figures read by time
    actor_id: int | None = Field(default=None, foreign_key="user_account.id")
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    #: the unit a ticket event concerns, so feeds filter by unit without joins
    unit_id: str | None = Field(default=None, max_length=48)
    #: for state changes: "case" or "ticket", with from/to (checked against the transitions)
    entity: str | None = Field(default=None, max_length=8)
    from_status: str | None = Field(default=None, max_length=24)
    to_status: str | None = Field(default=None, max_length=24)
    data: str = Field(default="{}", sa_type=Text)  # JSON summary of the change
