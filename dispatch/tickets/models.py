"""Tickets: one per responsible unit of a case (lead 主办 or support 协办)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, text
from sqlmodel import Field, SQLModel

from dispatch.dbtypes import enum_column, time_column, utcnow
from dispatch.enums import TicketRole, TicketStatus

#: the tickets still being worked (SQL, for the partial index below)
LIVE_TICKET = "status IN ('dispatched', 'accepted', 'in_progress')"


class Ticket(SQLModel, table=True):
    __tablename__ = "ticket"
    #: overdue-now counts and the escalation job read the live tickets by due (migration 0006)
    __table_args__ = (
        Index(
            "ix_ticket_live_resolve_due",
            "resolve_due",
            postgresql_include=["case_id", "unit_id"],
            postgresql_where=text(LIVE_TICKET),
            sqlite_where=text(LIVE_TICKET),
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    unit_id: str = Field(foreign_key="unit.id", index=True, max_length=48)
    role: TicketRole = enum_column(TicketRole, "ticket_role")
    status: TicketStatus = enum_column(TicketStatus, "ticket_status", index=True)
    version: int = 1
    team_id: str | None = Field(default=None, foreign_key="team.id", max_length=64)
    accepted_by: int | None = Field(default=None, foreign_key="user_account.id")
    resolved_by: int | None = Field(default=None, foreign_key="user_account.id")
    dispatched_at: datetime = time_column(default_factory=utcnow)
    accept_due: datetime = time_column(index=True)
    resolve_due: datetime = time_column(index=True)
    accepted_at: datetime | None = time_column(default=None)
    started_at: datetime | None = time_column(default=None)
    resolved_at: datetime | None = time_column(default=None)
    returned_at: datetime | None = time_column(default=None)
    return_reason: str | None = Field(default=None, sa_type=Text)
    resolution_note: str | None = Field(default=None, sa_type=Text)
    rework_count: int = 0
    #: set once when the deadline passes: escalation happens exactly once per deadline
    accept_escalated_at: datetime | None = time_column(default=None)
    resolve_escalated_at: datetime | None = time_column(default=None)
    updated_at: datetime = time_column(default_factory=utcnow)
