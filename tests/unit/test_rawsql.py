"""The SQLite writer's own datetime text is the text UTCDateTime's processors make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from dispatch.cases.rawsql import sqlite_utc_text
from dispatch.dbtypes import UTCDateTime

DIALECT = sqlite.dialect()
ORM = UTCDateTime().dialect_impl(DIALECT).bind_processor(DIALECT)

zones = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)
# aware datetimes that have a UTC form (what DbDatetime lets into a request)
stamps = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones
)


@given(stamps)
def test_the_fast_text_is_the_types_text(value: datetime) -> None:
    assert ORM is not None
    assert sqlite_utc_text(value) == ORM(value)


def test_the_text_is_utc_wall_time_with_microseconds() -> None:
    at = datetime(2026, 12, 7, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    assert sqlite_utc_text(at) == "2026-12-07 01:30:00.000000"
    assert sqlite_utc_text(datetime(5, 1, 1, tzinfo=UTC)) == "0005-01-01 00:00:00.000000"


def test_a_naive_datetime_is_refused_like_the_type_refuses_it() -> None:
    assert ORM is not None
    naive = datetime(2026, 12, 7, 9, 30)
    with pytest.raises(ValueError, match="naive"):
        ORM(naive)
    with pytest.raises(ValueError, match="naive"):
        sqlite_utc_text(naive)


def test_driver_errors_come_out_as_sqlalchemys() -> None:
    """The app maps SQLAlchemy's errors (503 for OperationalError, the writer's race
    fallback for IntegrityError); the raw statements must raise those, not the driver's."""
    import sqlite3

    from sqlalchemy import Column, Integer, MetaData, Table, create_engine, exc

    from dispatch.cases.rawsql import Raw

    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True))
    raw = Raw(conn, create_engine("sqlite://").dialect)  # a dialect with its driver loaded
    raw.insert([(table, [{"id": 1}, {"id": 2}])])
    assert raw.rows("SELECT id FROM t WHERE id IN " + raw.marks(2), [1, 2]) == [(1,), (2,)]
    with pytest.raises(exc.IntegrityError):
        raw.insert([(table, [{"id": 2}])])
    with pytest.raises(exc.OperationalError):
        raw.rows("SELECT nothing FROM nowhere", [])
