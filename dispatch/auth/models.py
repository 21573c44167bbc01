"""Accounts and their bearer-token sessions."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from dispatch.dbtypes import enum_column, time_column, utcnow
from dispatch.enums import Role


class User(SQLModel, table=True):
    __tablename__ = "user_account"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, max_length=64)
    password_hash: str
    role: Role = enum_column(Role, "role")
    display_name: str = ""
    unit_id: str | None = Field(default=None, foreign_key="unit.id", max_length=48)
    team_id: str | None = Field(default=None, foreign_key="team.id", max_length=64)
    #: a grid worker's beat: the area-code prefix of the cells they walk
    area_prefix: str | None = Field(default=None, max_length=32)
    active: bool = True
    created_at: datetime = time_column(default_factory=utcnow)


class AuthSession(SQLModel, table=True):
    """One issued token, stored only as its sha256; revoked at logout."""

    __tablename__ = "auth_session"
    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user_account.id", index=True)
    created_at: datetime = time_column(default_factory=utcnow)
    expires_at: datetime = time_column()
    revoked_at: datetime | None = time_column(default=None)
