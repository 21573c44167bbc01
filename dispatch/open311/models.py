"""Open311 API keys: one service account per client, its keys stored only as sha256."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from dispatch.dbtypes import time_column, utcnow


class Open311Key(SQLModel, table=True):
    """One issued key of a client (a hotline CRM, a citizen app); revoked keys stay listed."""

    __tablename__ = "open311_key"
    id: int | None = Field(default=None, primary_key=True)
    client: str = Field(max_length=48, index=True)
    #: the client's service account: the reporter of every request it files
    user_id: int = Field(foreign_key="user_account.id", index=True)
    key_hash: str = Field(unique=True, max_length=64)
    #: the first characters of the key, so an operator can tell keys apart
    key_prefix: str = Field(max_length=8)
    created_at: datetime = time_column(default_factory=utcnow)
    revoked_at: datetime | None = time_column(default=None)
