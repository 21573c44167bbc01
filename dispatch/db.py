"""Engine and session factory. Nothing connects at import time."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, exc
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

#: what a database that is away (stopped, unreachable, restarting, overloaded) raises:
#: requests answer 503 with Retry-After for these, never 500
UNAVAILABLE: tuple[type[Exception], ...] = (
    exc.OperationalError,  # refused, reset, shutting down, statement timeout, SQLite locked
    exc.InterfaceError,  # a connection that was closed under us
    exc.TimeoutError,  # no pooled connection free within the pool timeout
    # the same from the drivers themselves, for the few statements that bypass SQLAlchemy
    # (sequence numbering on SQLite; cases/rawsql.py wraps its own)
    sqlite3.OperationalError,
    psycopg.OperationalError,
)


#: how long a SQLite writer waits for the write lock before it gives up (then a 503)
SQLITE_BUSY_S = 30


def normalize_url(url: str) -> str:
    """Plain postgresql:// URLs use psycopg 3."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def sqlite_file(url: str) -> str | None:
    """The database file of a SQLite URL, without its query string; None in memory."""
    path = make_url(url).database
    return path if path and path != ":memory:" else None


def make_engine(
    url: str, *, writer: bool = True, turn_wait_s: float = SQLITE_BUSY_S, **kwargs: Any
) -> Engine:
    """On SQLite a writer engine takes the write lock at BEGIN; a reader never locks.

    Statement parameters are kept out of error messages (they may hold a reporter's text
    or a token hash, and error messages end up in logs)."""
    url = normalize_url(url)
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        path = sqlite_file(url)
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        if writer and path:
            WriterTurns(Path(path), turn_wait_s).install(engine)
        else:
            event.listen(engine, "begin", _sqlite_begin_immediate if writer else _sqlite_begin)
        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
        kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see below)
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_S * 1000}")
    # a 64 MB page cache and memory-mapped reads keep the indexes in memory; checkpoints
    # every ~40 MB of WAL instead of 4 MB spare commits from copying pages back so often
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA mmap_size=268435456")
    cur.execute("PRAGMA wal_autocheckpoint=10000")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def _sqlite_begin_immediate(conn: Any) -> None:
    """Take the write lock at BEGIN: read-then-write transactions never deadlock-upgrade."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


class TurnTaken(Exception):
    """Another writer has the SQLite file's turn, and the caller asked not to wait."""


_turn_now: ContextVar[bool] = ContextVar("turn_now", default=False)


@contextmanager
def only_if_free() -> Iterator[None]:
    """SQLite write transactions begun inside raise :class:`TurnTaken` instead of waiting
    for another writer's turn (for a caller on the event loop, which must never block)."""
    token = _turn_now.set(True)
    try:
        yield
    finally:
        _turn_now.reset(token)


def turn_pauses(wait_s: float) -> Iterator[float]:
    """The pauses between looks at a taken write turn: 0.2 ms doubling to 2 ms, until
    ``wait_s`` have gone by."""
    deadline = time.monotonic() + wait_s
    pause = 0.0002
    while time.monotonic() < deadline:
        yield pause
        pause = min(pause * 2, 0.002)


def turn_timeout(wait_s: float) -> exc.OperationalError:
    """What a writer that waited ``wait_s`` for its turn raises: one of UNAVAILABLE."""
    orig = sqlite3.OperationalError("database is locked")
    return exc.OperationalError(f"waited {wait_s:g} s for another writer", None, orig)


class WriterTurns:
    """Writers to one SQLite file take turns on an OS file lock before ``BEGIN IMMEDIATE``.

    Why: SQLite makes a writer that finds the file locked sleep and retry (1, 2, 5, 10 …
    100 ms), so with two ``serve`` processes each batch often waited several milliseconds
    after the other's commit, and p99 went past a second (measured 1,235 → 50 ms). Here a
    waiting writer looks again every 0.2–2 ms, and gives up like SQLite's busy timeout
    (``wait_s``) with an OperationalError, which requests answer as 503. The lock is per
    connection (one open file each), so it orders threads of one process as well; the
    kernel drops it if a process dies. Anything else writing the file (the sqlite3
    shell) still meets SQLite's own lock.
    """

    def __init__(self, db_path: Path, wait_s: float = SQLITE_BUSY_S) -> None:
        self.path = db_path.with_name(db_path.name + "-writer.lock")
        self.wait_s = wait_s

    def install(self, engine: Engine) -> None:
        event.listen(engine, "connect", self._open)
        event.listen(engine, "close", self._close)
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._release)
        event.listen(engine, "rollback", self._release)

    def _open(self, _dbapi_conn: Any, record: Any) -> None:
        record.info["writer_lock"] = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    @staticmethod
    def _close(_dbapi_conn: Any, record: Any) -> None:
        fd = record.info.pop("writer_lock", None)
        if fd is not None:
            os.close(fd)  # also lets go of the lock

    def _take(self, fd: int) -> None:
        pauses = turn_pauses(self.wait_s)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if _turn_now.get():
                    raise TurnTaken from None
                pause = next(pauses, None)
                if pause is None:
                    raise turn_timeout(self.wait_s) from None
                time.sleep(pause)

    def _begin(self, conn: Any) -> None:
        self._take(conn.connection.info["writer_lock"])
        conn.connection.info["writer_locked"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            WriterTurns._release(conn)
            raise

    @staticmethod
    def _release(conn: Any) -> None:
        info = conn.connection.info
        if info.pop("writer_locked", False):
            fcntl.flock(info["writer_lock"], fcntl.LOCK_UN)


def pg_connect_args(connect_timeout_s: float, statement_timeout_s: float) -> dict[str, Any]:
    """libpq's bounds: giving up on a connection attempt, and on one statement (0 = none)."""
    args: dict[str, Any] = {"connect_timeout": max(2, round(connect_timeout_s))}
    if statement_timeout_s > 0:
        args["options"] = f"-c statement_timeout={round(statement_timeout_s * 1000)}"
    return args


class Database:
    """The write engine and, on SQLite, a separate read engine (WAL readers never block);
    and a probe engine for health checks and metrics.

    On PostgreSQL every connection attempt gives up after ``connect_timeout_s`` (an
    unreachable server otherwise hangs a request for minutes), every statement after
    ``statement_timeout_s``, and a request waits at most ``pool_timeout_s`` for a pooled
    connection; each of these raises one of :data:`UNAVAILABLE`.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout_s: float = 5.0,
        statement_timeout_s: float = 0.0,
        pool_timeout_s: float = 30.0,
        probe_timeout_s: float = 2.0,
    ) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        #: the SQLite database's file; None for PostgreSQL and an in-memory database
        self.sqlite_path: Path | None = None
        if self.is_sqlite:
            path = sqlite_file(self.url)
            if path and not path.startswith("file:"):
                self.sqlite_path = Path(path)
            self.engine = make_engine(self.url)
            self.read_engine = make_engine(self.url, writer=False)
            self.probe_engine = _sqlite_probe(self.url, probe_timeout_s) or self.read_engine
        else:
            self.engine = self.read_engine = make_engine(
                self.url,
                pool_timeout=pool_timeout_s,
                connect_args=pg_connect_args(connect_timeout_s, statement_timeout_s),
            )
            # a connection of its own per check: never queued behind a busy pool, and it
            # proves the server takes new connections
            self.probe_engine = make_engine(
                self.url,
                poolclass=NullPool,
                connect_args=pg_connect_args(probe_timeout_s, probe_timeout_s),
            )

    def dispose(self) -> None:
        for engine in {self.engine, self.read_engine, self.probe_engine}:
            engine.dispose()


def _sqlite_probe(url: str, timeout_s: float) -> Engine | None:
    """A fresh read-only-open connection per check (``mode=rw`` never creates a missing file),
    so a database file that went away is noticed; None for an in-memory database."""
    path = sqlite_file(url)
    if not path:
        return None
    return create_engine(
        f"sqlite:///file:{path}?mode=rw&uri=true",
        poolclass=NullPool,
        connect_args={"check_same_thread": False, "timeout": timeout_s},
        hide_parameters=True,
    )


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session, session.begin():
        yield session
