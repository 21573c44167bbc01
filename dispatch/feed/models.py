"""The event log: one row per committed change, numbered in commit order by ``seq``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Column, Text
from sqlmodel import Field, SQLModel

from dispatch.dbtypes import time_column, utcnow


class Event(SQLModel, table=True):
    __tablename__ = "event_log"
    #: insertion order; internal (sequences hand these out before commit, so not feed order)
    id: int | None = Field(default=None, primary_key=True)
    #: feed position, gapless and in commit order: set by :mod:`dispatch.feed.sequence` at
    #: commit, NULL only inside the writing transaction
    seq: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True, index=True, unique=True)
    )
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


class FeedHead(SQLModel, table=True):
    """One row: the last ``seq`` handed out. Its row lock orders the writers' commits."""

    __tablename__ = "feed_head"
    __table_args__ = (CheckConstraint("id = 1", name="ck_feed_head_single"),)
    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
