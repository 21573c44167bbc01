"""Enforcement units (城管执法大队, 交警大队, 街道办…) and their teams."""

from __future__ import annotations

from sqlmodel import Field, SQLModel


class Unit(SQLModel, table=True):
    __tablename__ = "unit"
    id: str = Field(primary_key=True, max_length=48)
    kind: str = Field(max_length=16, index=True)
    area_code: str = Field(max_length=32, index=True)
    name_zh: str
    name_en: str


class Team(SQLModel, table=True):
    __tablename__ = "team"
    id: str = Field(primary_key=True, max_length=64)
    unit_id: str = Field(foreign_key="unit.id", index=True, max_length=48)
    name_zh: str
    name_en: str
