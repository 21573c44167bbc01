"""The intake writer's statements, handed straight to the driver (sqlite3 or psycopg).

Why: the writer's time per batch bounds intake. On SQLite it holds the only write lock;
SQLAlchemy spends about 30 µs of Python on each statement (more with expanding ``IN``
lists, compiled anew each time), and the driver sends ``executemany`` rows one step at a
time. On PostgreSQL every round trip is a wait, and under load a thread that waited must
win the interpreter back from the busy event loop: through SQLAlchemy a batch of eight
reports took 28 round trips (measured), here it takes four. So a batch's rows of one
table go in one multi-row ``INSERT``, PostgreSQL's inserts go out together in one
pipeline, and the few lookups run as plain SQL. Values still pass through each column
type's own bind processor, so what is stored is what the ORM would store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, exc
from sqlalchemy.engine import Dialect
from sqlmodel import Session

from dispatch.dbtypes import UTCDateTime

#: rows per INSERT: the widest table (cases, 31 columns) stays under SQLite's 32,766 and
#: PostgreSQL's 65,535 bound variables
CHUNK = 500

_inserts: dict[tuple[str, tuple[str, ...], int, str], str] = {}
_processors: dict[tuple[str, tuple[str, ...], str], list[Any]] = {}


class Raw:
    """A session's own DBAPI connection (inside the session's transaction), and how to
    write statements for it."""

    __slots__ = ("conn", "dialect", "mark", "sqlite")

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect
        self.sqlite = dialect.name == "sqlite"
        #: the driver's placeholder
        self.mark = "?" if self.sqlite else "%s"

    def marks(self, n: int) -> str:
        """``(?, ?, …)`` for an ``IN`` list or a row of ``n`` values."""
        return "(" + ",".join([self.mark] * n) + ")"

    def rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self._errors(sql):
            if self.sqlite:
                return list(self.conn.execute(sql, params).fetchall())
            with self._cursor() as cur:
                cur.execute(numbered(sql), params, prepare=False)
                return [tuple(r) for r in cur.fetchall()]

    @contextmanager
    def _errors(self, sql: str) -> Iterator[None]:
        """The driver's errors as SQLAlchemy's (IntegrityError, OperationalError …), as if
        the statement had gone through it: callers and the app's 503 mapping know those."""
        base = self.dialect.loaded_dbapi.Error
        try:
            yield
        except base as e:
            raise exc.DBAPIError.instance(
                sql, None, e, base, hide_parameters=True, dialect=self.dialect
            ) from e

    def _cursor(self) -> Any:
        """psycopg's cursor for ``$n`` placeholders: its usual ``%s`` ones are parsed on every
        call, and a multi-row INSERT is too long for its parse cache (0.7 ms a statement,
        measured)."""
        from psycopg import RawCursor

        return RawCursor(self.conn)

    def insert(self, writes: Iterable[tuple[Table, Sequence[Mapping[str, Any]]]]) -> None:
        """INSERT each table's rows (dicts with the same keys) in as few statements as the
        database allows; on PostgreSQL all of them in one pipeline, one round trip."""
        statements = [
            (self._insert_sql(table, cols, len(part)), values)
            for table, rows in writes
            if rows
            for cols in [tuple(rows[0])]
            for part, values in self._chunks(table, cols, rows)
        ]
        with self._errors(statements[0][0] if statements else ""):
            if self.sqlite:
                for sql, values in statements:
                    self.conn.execute(sql, values)
                return
            with self.conn.pipeline(), self._cursor() as cur:
                for sql, values in statements:
                    cur.execute(sql, values, prepare=False)

    def _chunks(
        self, table: Table, cols: tuple[str, ...], rows: Sequence[Mapping[str, Any]]
    ) -> Iterable[tuple[Sequence[Mapping[str, Any]], list[Any]]]:
        procs = _bind_processors(self.dialect, table, cols)
        for start in range(0, len(rows), CHUNK):
            part = rows[start : start + CHUNK]
            values: list[Any] = []
            for row in part:
                for col, proc in zip(cols, procs, strict=True):
                    v = row[col]
                    values.append(v if proc is None or v is None else proc(v))
            yield part, values

    def _insert_sql(self, table: Table, cols: tuple[str, ...], n: int) -> str:
        key = (table.name, cols, n, self.dialect.name)
        sql = _inserts.get(key)
        if sql is None:
            quote = self.dialect.identifier_preparer.quote
            row = self.marks(len(cols))
            sql = (
                f"INSERT INTO {quote(table.name)} ({','.join(quote(c) for c in cols)}) VALUES "
                + ",".join([row] * n)
            )
            sql = _inserts[key] = sql if self.sqlite else numbered(sql)  # as the driver runs it
        return sql


def numbered(sql: str) -> str:
    """``%s`` placeholders as PostgreSQL's own ``$1, $2, …`` (our SQL has no other ``%``)."""
    parts = sql.split("%s")
    out = [parts[0]]
    for i, part in enumerate(parts[1:], 1):
        out.append(f"${i}")
        out.append(part)
    return "".join(out)


def driver(s: Session) -> Raw:
    """The session's connection as its driver sees it: sqlite3, or psycopg 3 (what
    ``db.normalize_url`` makes of every PostgreSQL URL)."""
    conn = s.connection()
    name, dbapi = conn.dialect.name, conn.connection.dbapi_connection
    if name == "sqlite":
        assert isinstance(dbapi, sqlite3.Connection)
    elif (name, conn.dialect.driver) != ("postgresql", "psycopg"):
        raise ValueError(
            f"the intake writes through sqlite3 or psycopg, not {name}+{conn.dialect.driver}"
        )
    return Raw(dbapi, conn.dialect)


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
