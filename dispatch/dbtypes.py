"""Column helpers shared by the domain models, and the input types the columns can hold."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime
from sqlalchemy import DateTime, Enum, Table, TypeDecorator, inspect
from sqlmodel import Field

#: ids are positive ``integer`` (int4) columns on PostgreSQL; an id or page offset past this
#: in a request is refused (422) instead of overflowing the database driver (a 500)
DB_INT_MAX = 2**31 - 1


def _no_nul(v: str) -> str:
    if "\x00" in v:
        raise ValueError("NUL characters are not allowed")
    return v


def _utc_representable(v: datetime) -> datetime:
    try:
        v.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None
    return v


#: request text that reaches the database: PostgreSQL text cannot hold NUL characters
DbStr = Annotated[str, AfterValidator(_no_nul)]
#: a request time that UTCDateTime can store (0001-01-01T00:00+01:00 has no UTC form)
DbDatetime = Annotated[AwareDatetime, AfterValidator(_utc_representable)]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def enum_column(enum: type[StrEnum], name: str, **kw: Any) -> Any:
    """A string column the database restricts to the enum's values (CHECK constraint)."""
    return Field(
        sa_type=Enum(
            enum,
            name=name,
            native_enum=False,
            create_constraint=True,
            length=24,
            values_callable=lambda e: [m.value for m in e],
            validate_strings=True,
        ),
        **kw,
    )


def time_column(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime(), **kw)


def table_of(model: type[Any]) -> Table:
    """The Core table of a SQLModel class, for multi-row statements without ORM objects."""
    table = inspect(model).local_table
    assert isinstance(table, Table)
    return table
