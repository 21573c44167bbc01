"""The SQLite intake writer's statements, handed straight to the driver.

Why: the writer holds SQLite's only write lock for the whole batch, so its time per batch
bounds intake. SQLAlchemy spends about 30 µs of Python on each statement it runs (more
with expanding ``IN`` lists, which it compiles anew each time) and the driver sends
``executemany`` rows one step at a time, giving up the interpreter lock for each, while
the event loop thread wants it too. Here a batch's rows of one table go in one multi-row
``INSERT``, and the few lookups run as plain SQL. Values still pass through each column
type's own bind processor, so what is stored is what the ORM would store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from dispatch.dbtypes import UTCDateTime

#: rows per INSERT: the widest table (cases, 31 columns) stays under SQLite's 32,766
#: bound variables
CHUNK = 500

_inserts: dict[tuple[str, tuple[str, ...], int], str] = {}
_processors: dict[tuple[str, tuple[str, ...], str], list[Any]] = {}


def driver(s: Session) -> tuple[sqlite3.Connection, Dialect] | None:
    """The session's sqlite3 connection and dialect; None on any other database."""
    conn = s.connection()
    if conn.dialect.name != "sqlite":
        return None
    raw = conn.connection.dbapi_connection
    assert isinstance(raw, sqlite3.Connection)
    return raw, conn.dialect


def marks(n: int) -> str:
    """``(?, ?, …)`` for an ``IN`` list of ``n`` values."""
    return "(" + ",".join("?" * n) + ")"


def insert_rows(
    raw: sqlite3.Connection, dialect: Dialect, table: Table, rows: Sequence[Mapping[str, Any]]
) -> None:
    """INSERT ``rows`` (dicts with the same keys) in as few statements as SQLite allows."""
    if not rows:
        return
    cols = tuple(rows[0])
    procs = _bind_processors(dialect, table, cols)
    for start in range(0, len(rows), CHUNK):
        part = rows[start : start + CHUNK]
        values: list[Any] = []
        for row in part:
            for col, proc in zip(cols, procs, strict=True):
                v = row[col]
                values.append(v if proc is None or v is None else proc(v))
        raw.execute(_insert_sql(dialect, table, cols, len(part)), values)


def _bind_processors(dialect: Dialect, table: Table, cols: tuple[str, ...]) -> list[Any]:
    key = (table.name, cols, dialect.name)
    procs = _processors.get(key)
    if procs is None:
        procs = _processors[key] = [_bind_processor(dialect, table.c[c].type) for c in cols]
    return procs


def _bind_processor(dialect: Dialect, type_: Any) -> Any:
    if isinstance(type_, UTCDateTime) and dialect.name == "sqlite":
        return sqlite_utc_text
    return type_.dialect_impl(dialect).bind_processor(dialect)


def sqlite_utc_text(value: datetime) -> str:
    """What :class:`UTCDateTime` stores on SQLite, made in C: a report writes ~20 times, and
    the type's own chain (a decorator, then a format with a dict) took a tenth of the
    writer's time. A test holds the two equal."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _insert_sql(dialect: Dialect, table: Table, cols: tuple[str, ...], n: int) -> str:
    key = (table.name, cols, n)
    sql = _inserts.get(key)
    if sql is None:
        quote = dialect.identifier_preparer.quote
        row = marks(len(cols))
        sql = _inserts[key] = (
            f"INSERT INTO {quote(table.name)} ({','.join(quote(c) for c in cols)}) VALUES "
            + ",".join([row] * n)
        )
    return sql
