"""SqliteBus: processes sharing a SQLite file wake on each other's commits and hear
revocations through the side file. Here the buses share one process, each with its own
connection, which is what the file sees of two processes; side-file lines carry each
bus's own random sender id (not the pid, which two containers can share)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dispatch.db import Database, sqlite_file
from dispatch.feed.bus import SqliteBus, make_bus, next_period

WAIT_S = 10.0


class Inbox:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def __call__(self, message: dict[str, Any]) -> None:
        self.queue.put_nowait(message)

    async def next(self, check: Any = None) -> dict[str, Any]:
        async with asyncio.timeout(WAIT_S):
            while True:
                message = await self.queue.get()
                if check is None or check(message):
                    return message


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "gd.sqlite"
    with sqlite3.connect(path) as c:
        c.execute("PRAGMA journal_mode=WAL")
        c.execute("CREATE TABLE t (x INTEGER)")
    return path


def commit_elsewhere(path: Path) -> None:
    with sqlite3.connect(path) as c:
        c.execute("INSERT INTO t VALUES (1)")


async def test_another_connections_commit_wakes_the_bus(db: Path) -> None:
    bus, inbox = SqliteBus(db, interval_s=0.001), Inbox()
    await bus.start(inbox)
    try:
        commit_elsewhere(db)
        assert await inbox.next() == {"head": None}
        assert inbox.queue.empty()
    finally:
        await bus.stop()


def revoke_elsewhere(bus: SqliteBus, token: str) -> None:
    """What another process's bus appends to the side file."""
    with open(bus.side, "ab") as f:
        f.write(f"revoke {token} 999999999\n".encode())


async def test_a_revocation_is_delivered_here_at_once_and_written_for_the_others(
    db: Path,
) -> None:
    a, got = SqliteBus(db, interval_s=0.001), Inbox()
    await a.start(got)
    try:
        await a.publish({"revoke": "abc123"})
        assert await got.next() == {"revoke": "abc123"}
        assert a.side.read_bytes() == f"revoke abc123 {a.sender}\n".encode()
        await a.publish({"head": 5})  # heads go by the database file, not the side file
        assert await got.next() == {"head": 5}
        revoke_elsewhere(a, "def456")
        assert await got.next() == {"revoke": "def456"}  # its own line was not read back
        commit_elsewhere(db)
        assert await got.next() == {"head": None}
    finally:
        await a.stop()


async def test_the_side_file_starts_again_when_full_and_readers_follow(db: Path) -> None:
    a, got = SqliteBus(db, interval_s=0.001), Inbox()
    a.SIDE_MAX = 64
    await a.start(got)
    try:
        for n in range(8):  # another process's lines; past 64 bytes a writer starts again
            if a.side.exists() and a.side.stat().st_size > a.SIDE_MAX:
                await a.publish({"revoke": f"mine-{n:02d}"})  # truncates, then appends
                assert await got.next() == {"revoke": f"mine-{n:02d}"}
            revoke_elsewhere(a, f"token-{n:02d}")
            assert await got.next() == {"revoke": f"token-{n:02d}"}
        assert a.side.stat().st_size <= 2 * a.SIDE_MAX
    finally:
        await a.stop()


async def test_a_half_written_line_waits_for_its_end(db: Path) -> None:
    b, got = SqliteBus(db, interval_s=0.001), Inbox()
    await b.start(got)
    try:
        with open(b.side, "ab") as f:
            f.write(b"revoke par")
            f.flush()
            commit_elsewhere(db)  # a wake-up in between: the watcher has looked at the file
            assert await got.next() == {"head": None}
            f.write(b"tial\n")
        assert await got.next() == {"revoke": "partial"}
    finally:
        await b.stop()


async def test_two_buses_of_one_pid_hear_each_others_revocations(db: Path) -> None:
    """Two containers sharing the file can both be pid 1: a line is someone else's by its
    sender id, not by the pid."""
    a, b, got_a, got_b = SqliteBus(db, interval_s=0.001), SqliteBus(db), Inbox(), Inbox()
    await a.start(got_a)
    await b.start(got_b)
    try:
        await b.publish({"revoke": "from-b"})
        assert await got_b.next() == {"revoke": "from-b"}  # at once, by itself
        assert await got_a.next(lambda m: "revoke" in m) == {"revoke": "from-b"}
    finally:
        await a.stop()
        await b.stop()


async def test_a_failing_look_does_not_end_the_watch(db: Path) -> None:
    """A tick that raises (here the hub's callback) marks the bus unhealthy for a moment;
    the watch goes on and the next change is delivered."""
    inbox, calls = Inbox(), []

    def deliver(message: dict[str, Any]) -> None:
        calls.append(message)
        if len(calls) == 1:
            raise RuntimeError("the first delivery fails")
        inbox(message)

    bus = SqliteBus(db, interval_s=0.001)
    await bus.start(deliver)
    try:
        commit_elsewhere(db)  # its delivery raises inside the watch
        commit_elsewhere(db)
        assert await inbox.next() == {"head": None}
        assert bus.healthy
    finally:
        await bus.stop()  # returns, whatever the watch went through


def test_a_locked_file_is_a_tick_without_news_not_a_wait(tmp_path: Path) -> None:
    """While another connection holds the file exclusively (a rollback-journal file here:
    in WAL, readers are rarely refused), a look answers at once with the last version;
    SQLite's busy handler would hold the event loop up to 5 s."""
    db = tmp_path / "journal.sqlite"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE t (x INTEGER)")
    bus = SqliteBus(db)
    conn = bus.connect()
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 0
    mark = bus._side_mark()
    _, version, _ = bus._tick(conn, lambda _: None, -1, mark)
    holder = sqlite3.connect(db, isolation_level=None)
    news: list[dict[str, Any]] = []
    try:
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO t VALUES (2)")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            conn.execute("SELECT count(*) FROM t").fetchone()
        assert bus._tick(conn, news.append, version, mark) == (False, version, mark)
        assert news == []
        holder.execute("COMMIT")
        assert bus._tick(conn, news.append, version, mark)[0]  # the commit, seen once free
        assert news == [{"head": None}]
    finally:
        holder.close()
        conn.close()


def test_the_bus_is_chosen_by_the_settings(tmp_path: Path) -> None:
    assert type(make_bus(None, "gd")).__name__ == "MemoryBus"
    assert type(make_bus(None, "gd", sqlite_path=tmp_path / "x.sqlite")).__name__ == "SqliteBus"
    redis = make_bus("redis://127.0.0.1:1/0", "gd", sqlite_path=tmp_path / "x.sqlite")
    assert type(redis).__name__ == "RedisBus"


def test_a_quiet_watch_slows_down_to_its_ceiling_and_a_change_brings_it_back() -> None:
    period, seen = 0.005, []
    for _ in range(12):
        period = next_period(period, False, 0.005, 0.05)
        seen.append(period)
    assert seen == sorted(seen)
    assert seen[0] == 0.005 * 1.25
    assert seen[-1] == 0.05
    assert next_period(0.05, True, 0.005, 0.05) == 0.005


def test_the_watched_file_is_the_urls_database_without_its_query(tmp_path: Path) -> None:
    """``?timeout=30`` on a SQLite URL is the driver's, not part of the file name (the bus
    watched ``x.sqlite?timeout=30`` and wrote ``x.sqlite?timeout=30-bus``)."""
    path = tmp_path / "x.sqlite"
    assert sqlite_file(f"sqlite:///{path}?timeout=30") == str(path)
    assert sqlite_file("sqlite:///relative/x.sqlite") == "relative/x.sqlite"
    assert sqlite_file("sqlite://") is None
    assert sqlite_file("sqlite:///:memory:") is None
    db = Database(f"sqlite:///{path}?timeout=30")
    try:
        assert db.sqlite_path == path
    finally:
        db.dispose()
