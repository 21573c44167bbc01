"""``seq`` is handed out at commit, in commit order, with no holes (dispatch.feed.sequence).

On PostgreSQL, transactions are interleaved by hand to show what a database sequence gets
wrong and this does not: the transaction that inserted first but commits last gets the
higher number, a reader tailing ``seq > cursor`` never steps over an event that has not
committed yet, and a rollback leaves no hole.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from dispatch.db import Database, transaction
from dispatch.feed.log import record
from dispatch.feed.sequence import on_commit, read_head, take_numbers
from dispatch.migrate import upgrade


def _migrated(url: str) -> Iterator[Database]:
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield from _migrated(f"sqlite:///{tmp_path / 'gd.sqlite'}")
    else:
        yield from _migrated(request.getfixturevalue("pg_url_factory")())


@pytest.fixture
def pg(pg_url_factory: Callable[[], str]) -> Iterator[Database]:
    """PostgreSQL only: SQLite writers are serial, there is nothing to interleave."""
    yield from _migrated(pg_url_factory())


def seqs(engine: Engine) -> list[tuple[int, int, str]]:
    with engine.connect() as c:
        rows = c.execute(text("SELECT id, seq, type FROM event_log ORDER BY seq")).all()
    return [(int(r[0]), int(r[1]), str(r[2])) for r in rows]


def head(engine: Engine) -> int:
    with engine.connect() as c:
        return read_head(c)


def test_numbers_follow_commit_order_with_no_holes(db: Database) -> None:
    for n in range(3):
        with transaction(db.engine) as s:
            for k in range(n + 1):
                record(s, f"test.t{n}", k=k)
    rows = seqs(db.engine)
    assert [r[1] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r[2] for r in rows] == [
        "test.t0",
        "test.t1",
        "test.t1",
        "test.t2",
        "test.t2",
        "test.t2",
    ]
    assert head(db.engine) == 6


def _number_now(s: Session) -> None:
    """Number the transaction's events now instead of at its commit, as its commit would:
    on PostgreSQL by firing the deferred trigger early, on SQLite by running the hook."""
    if s.get_bind().dialect.name == "postgresql":
        s.flush()
        s.execute(text("SET CONSTRAINTS event_log_number_at_commit IMMEDIATE"))
    else:
        s.dispatch.before_commit(s)


def _numbered_then_failed(engine: Engine) -> None:
    with transaction(engine) as s:
        record(s, "test.lost")
        _number_now(s)  # numbered, the head bumped ...
        assert s.execute(text("SELECT seq FROM feed_head")).scalar_one() == 1
        raise RuntimeError("... and then the commit fails")


def test_a_rolled_back_transaction_leaves_no_hole(db: Database) -> None:
    with pytest.raises(RuntimeError):
        _numbered_then_failed(db.engine)
    assert head(db.engine) == 0
    with transaction(db.engine) as s:
        record(s, "test.kept")
    assert [(r[1], r[2]) for r in seqs(db.engine)] == [(1, "test.kept")]


def _undone(s: Session) -> None:
    with s.begin_nested():
        record(s, "test.undone")
        s.flush()
        raise RuntimeError


def test_a_savepoint_rolled_back_takes_its_events_with_it(db: Database) -> None:
    with transaction(db.engine) as s:
        record(s, "test.a")
        with pytest.raises(RuntimeError):
            _undone(s)
        record(s, "test.b")
    assert [(r[1], r[2]) for r in seqs(db.engine)] == [(1, "test.a"), (2, "test.b")]


def test_a_transaction_that_wrote_no_event_leaves_the_head_alone(db: Database) -> None:
    with transaction(db.engine) as s:
        s.execute(text("SELECT 1"))
    assert head(db.engine) == 0


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    yield from _migrated(f"sqlite:///{tmp_path / 'gd.sqlite'}")


def _insert_numbered(s: Session, *types: str) -> None:
    """What the intake's bulk path does on SQLite: numbers taken at insert."""
    first = take_numbers(s, len(types))
    for n, t in enumerate(types):
        s.execute(
            text("INSERT INTO event_log (seq, type, at, data) VALUES (:seq, :t, :at, '{}')"),
            {"seq": first + n, "t": t, "at": "2026-12-01 00:00:00.000000"},
        )


def test_numbers_taken_at_insert_come_before_those_given_at_commit(
    sqlite_db: Database,
) -> None:
    heads: list[int] = []
    unregister = on_commit(sqlite_db.engine, heads.append)
    with transaction(sqlite_db.engine) as s:
        record(s, "test.first")
    with transaction(sqlite_db.engine) as s:
        _insert_numbered(s, "test.bulk1", "test.bulk2")
        record(s, "test.orm")  # numbered at commit, after the taken ones
    with transaction(sqlite_db.engine) as s:
        _insert_numbered(s, "test.bulk3")
    unregister()
    assert [(r[1], r[2]) for r in seqs(sqlite_db.engine)] == [
        (1, "test.first"), (2, "test.bulk1"), (3, "test.bulk2"), (4, "test.orm"),
        (5, "test.bulk3"),
    ]  # fmt: skip
    assert heads == [1, 4, 5]  # the listeners hear the head of each commit


def _taken_then_undone(s: Session) -> None:
    with s.begin_nested():
        _insert_numbered(s, "test.undone1", "test.undone2")
        raise RuntimeError


def test_numbers_taken_in_an_undone_savepoint_leave_no_hole(sqlite_db: Database) -> None:
    heads: list[int] = []
    unregister = on_commit(sqlite_db.engine, heads.append)
    with transaction(sqlite_db.engine) as s:
        with pytest.raises(RuntimeError):
            _taken_then_undone(s)
        _insert_numbered(s, "test.kept")
    with transaction(sqlite_db.engine) as s, pytest.raises(RuntimeError):
        _taken_then_undone(s)
    unregister()
    assert [(r[1], r[2]) for r in seqs(sqlite_db.engine)] == [(1, "test.kept")]
    assert head(sqlite_db.engine) == 1
    assert heads == [1, 1]  # the second commit wrote nothing: its head is read back


@pytest.mark.postgis
def test_the_later_commit_gets_the_later_number(pg: Database) -> None:
    """T1 inserts first, T2 inserts and commits; a reader sees T2 as 1; T1 commits as 2."""
    first = Session(pg.engine)
    first.begin()
    record(first, "test.first_inserted")
    first.flush()  # T1's row exists (uncommitted), with the lower id
    with transaction(pg.engine) as second:
        record(second, "test.second_inserted")
    assert [(s, t) for _, s, t in seqs(pg.engine)] == [(1, "test.second_inserted")]
    cursor = 1  # a tailing reader has delivered seq 1
    first.commit()
    first.close()
    rows = seqs(pg.engine)
    assert [(s, t) for _, s, t in rows] == [(1, "test.second_inserted"), (2, "test.first_inserted")]
    assert rows[1][0] < rows[0][0]  # inserted first, numbered second
    assert [s for _, s, _ in rows if s > cursor] == [2]  # nothing behind the cursor


@pytest.mark.postgis
def test_the_server_numbers_what_any_client_inserts(pg: Database) -> None:
    """The trigger numbers at COMMIT whatever was inserted, with no session hook at all
    (a plain connection here; psql or another tool alike), in insertion order, and once:
    rows numbered early keep their numbers when more follow in the same transaction."""
    insert = text("INSERT INTO event_log (type, at, data) VALUES (:t, now(), '{}')")
    with pg.engine.begin() as c:
        c.execute(insert, [{"t": f"raw.{n}"} for n in range(5)])
        assert c.execute(text("SELECT count(*) FROM event_log WHERE seq IS NULL")).scalar() == 5
    with pg.engine.begin() as c:
        c.execute(insert, {"t": "raw.early"})
        c.execute(text("SET CONSTRAINTS event_log_number_at_commit IMMEDIATE"))
        c.execute(text("SET CONSTRAINTS event_log_number_at_commit DEFERRED"))
        c.execute(insert, {"t": "raw.late"})
    assert [(s, t) for _, s, t in seqs(pg.engine)] == [
        (1, "raw.0"), (2, "raw.1"), (3, "raw.2"), (4, "raw.3"), (5, "raw.4"),
        (6, "raw.early"), (7, "raw.late"),
    ]  # fmt: skip
    assert head(pg.engine) == 7


@pytest.mark.postgis
def test_the_head_is_announced_after_each_commit_that_wrote_events(pg: Database) -> None:
    """The server numbered them, so the listeners hear that something committed (None),
    once per commit with events, and nothing for a commit without."""
    heard: list[int | None] = []
    unregister = on_commit(pg.engine, heard.append)
    with transaction(pg.engine) as s:
        record(s, "test.a")
        record(s, "test.b")
    with transaction(pg.engine) as s:
        s.execute(text("SELECT 1"))
    with transaction(pg.engine) as s:
        record(s, "test.c")
    unregister()
    assert heard == [None, None]
    assert head(pg.engine) == 3


def _commit_one(engine: Engine, type_: str, lock_timeout_ms: int | None = None) -> None:
    with transaction(engine) as s:
        if lock_timeout_ms is not None:
            s.execute(text(f"SET LOCAL lock_timeout = {lock_timeout_ms}"))
        record(s, type_)


@pytest.mark.postgis
def test_a_committing_writer_waits_for_the_one_ahead(pg: Database) -> None:
    """While T1 holds the head (numbered, not yet committed), T2 cannot commit: with a lock
    timeout it gives up; once T1 has committed, T2 commits with the next number."""
    t1 = Session(pg.engine)
    t1.begin()
    record(t1, "test.t1")
    _number_now(t1)  # T1 numbers its rows and holds the feed_head row lock
    with pytest.raises(OperationalError, match="lock timeout"):
        _commit_one(pg.engine, "test.t2", lock_timeout_ms=300)
    assert head(pg.engine) == 0  # nothing committed: readers see no number at all
    t1.commit()
    t1.close()
    _commit_one(pg.engine, "test.t2")
    assert [(s, t) for _, s, t in seqs(pg.engine)] == [(1, "test.t1"), (2, "test.t2")]


@pytest.mark.postgis
def test_a_tailing_reader_under_concurrent_writers_misses_nothing(pg: Database) -> None:
    """8 writers commit 400 transactions of 1–3 events in random interleavings while a reader
    tails ``seq > cursor`` as the feed hub does: it sees every event, once, in order."""
    rng = random.Random(4)
    plans = [[rng.randint(1, 3) for _ in range(50)] for _ in range(8)]
    total = sum(map(sum, plans))
    got: list[int] = []
    stop = threading.Event()

    def writer(plan: list[int]) -> None:
        for n in plan:
            with transaction(pg.engine) as s:
                for _ in range(n):
                    record(s, "test.load")
                    s.flush()  # rows exist early, as they do in real transactions

    def reader() -> None:
        cursor = 0
        with pg.engine.connect() as c:
            while not stop.is_set() or cursor < total:
                rows = (
                    c.execute(
                        text("SELECT seq FROM event_log WHERE seq > :c ORDER BY seq LIMIT 100"),
                        {"c": cursor},
                    )
                    .scalars()
                    .all()
                )
                c.commit()
                got.extend(int(r) for r in rows)
                if rows:
                    cursor = int(rows[-1])

    tail = threading.Thread(target=reader)
    tail.start()
    writers = [threading.Thread(target=writer, args=(p,)) for p in plans]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    tail.join(60)
    assert got == list(range(1, total + 1))


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def test_migration_0002_keeps_the_old_numbers(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Rows logged before 0002 keep their numbers as ``seq``; the head continues after them."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url_factory")()
    upgrade(url, "0001")
    old = Database(url)
    with old.engine.begin() as c:
        for n in range(3):
            c.execute(text("INSERT INTO event_log (type, at, data) VALUES (:t, :at, '{}')"),
                      {"t": f"old.{n}", "at": "2026-11-01 00:00:00+00:00"})  # fmt: skip
    old.dispose()
    upgrade(url)
    db = Database(url)
    try:
        with transaction(db.engine) as s:
            record(s, "new.0")
        assert [(s, t) for _, s, t in seqs(db.engine)] == [
            (1, "old.0"), (2, "old.1"), (3, "old.2"), (4, "new.0")
        ]  # fmt: skip
    finally:
        db.dispose()
