"""Numbering the event log in commit order, and telling the process what was committed.

Why not a database sequence: ``nextval`` hands out numbers at INSERT, and transactions
commit in any order, so a feed reader that has read ``seq`` 11 can later find a freshly
committed 10 behind it and miss it for good. Instead every transaction that wrote events
numbers them as the very last thing before it commits:

1. ``UPDATE feed_head SET seq = seq + n``: the row lock is held to the end of the
   transaction, so the next writer waits here until this one has committed, and reads
   the head this one left (PostgreSQL re-reads a row it waited for under READ COMMITTED);
   on SQLite the writers are serial anyway (``BEGIN IMMEDIATE``);
2. number this transaction's rows (the only ones with ``seq IS NULL``: other writers'
   uncommitted rows are invisible, committed ones are numbered) ``head+1 … head+n`` in
   insertion order.

So a reader that sees ``seq`` N sees every number below N: their transactions committed
first. A rollback undoes the bump with the rows, so there are no holes.

Who does it: on PostgreSQL a deferred constraint trigger, inside COMMIT (migration 0008),
so the ``feed_head`` lock is held only while the server commits, never while a client
thread waits for the interpreter between round trips (under load that made every writer
queue behind whichever one was descheduled). On SQLite a hook on every
:class:`~sqlalchemy.orm.Session` runs the same statements in ``before_commit``; the
intake's bulk path there takes its numbers when it inserts (:func:`take_numbers`), since
its transaction holds the only write lock from its start.

Code that writes events calls :func:`mark` (``record`` does); after the commit the hook
hands the new head (``None`` where the server numbered and the head was not read) to
whoever :func:`on_commit` registered for that engine (the live feed's hub, which may be
in another thread).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

_WROTE = "feed.wrote_events"
_TOOK = "feed.took_numbers"
_HEAD = "feed.head"

_COUNT = text("SELECT count(*) FROM event_log WHERE seq IS NULL")
_BUMP = text("UPDATE feed_head SET seq = seq + :n WHERE id = 1 RETURNING seq")
_BUMP_SQLITE = "UPDATE feed_head SET seq = seq + ? WHERE id = 1 RETURNING seq"
_NUMBER = text(
    "UPDATE event_log SET seq = :base + r.rn"
    " FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn"
    "       FROM event_log WHERE seq IS NULL) AS r"
    " WHERE event_log.id = r.id"
)
_HEAD_NOW = text("SELECT seq FROM feed_head WHERE id = 1")

Announce = Callable[[int | None], None]
_listeners: weakref.WeakKeyDictionary[Engine, list[Announce]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def mark(session: Session) -> None:
    """This transaction wrote event rows: number them at commit."""
    session.info[_WROTE] = True


def take_numbers(session: Session, n: int) -> int:
    """The first of ``n`` numbers for events about to be inserted with them.

    Only for a transaction that has held the database's only write lock since it began
    (SQLite, ``BEGIN IMMEDIATE``): no other writer can commit in between, so numbering at
    insert is numbering in commit order. Events marked with :func:`mark` in the same
    transaction are still numbered at commit, after these."""
    raw = session.connection().connection.dbapi_connection  # one statement, no compile
    assert raw is not None
    head = int(raw.execute(_BUMP_SQLITE, (n,)).fetchone()[0])
    session.info[_TOOK] = True
    return head - n + 1


def number_events(conn: Connection) -> int | None:
    """Number the transaction's unnumbered events; the new head, or None if there were none."""
    n = int(conn.execute(_COUNT).scalar_one())
    if n == 0:
        return None
    head = int(conn.execute(_BUMP, {"n": n}).scalar_one())
    conn.execute(_NUMBER, {"base": head - n})
    return head


def read_head(conn: Connection) -> int:
    """The last committed ``seq`` (0 for an empty log)."""
    return int(conn.execute(_HEAD_NOW).scalar_one())


def on_commit(engine: Engine, callback: Announce) -> Callable[[], None]:
    """Call ``callback(head)`` after each commit on ``engine`` that wrote events; ``head``
    is None where the database numbered them itself (PostgreSQL) and it was not read.

    The callback runs in the committing thread and must not block. Returns an unregister
    function."""
    with _lock:
        _listeners.setdefault(engine, []).append(callback)

    def unregister() -> None:
        with _lock:
            callbacks = _listeners.get(engine, [])
            if callback in callbacks:
                callbacks.remove(callback)

    return unregister


@event.listens_for(Session, "before_commit")
def _number_before_commit(session: Session) -> None:
    wrote, took = session.info.pop(_WROTE, False), session.info.pop(_TOOK, False)
    if not (wrote or took):
        return
    conn = session.connection()
    if conn.dialect.name != "sqlite":  # numbered by the server inside COMMIT
        session.info[_HEAD] = None
        return
    head = None
    if wrote:
        session.flush()  # the events must be rows before they can be numbered
        head = number_events(conn)
    if head is None and took:  # read back: a savepoint may have undone what was taken
        head = read_head(conn)
    if head is not None:
        session.info[_HEAD] = head


@event.listens_for(Session, "after_commit")
def _announce_after_commit(session: Session) -> None:
    if _HEAD not in session.info:
        return
    head = session.info.pop(_HEAD)
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    with _lock:
        callbacks = list(_listeners.get(engine, ()))
    for callback in callbacks:
        callback(head)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, _previous: object) -> None:
    if not session.in_transaction():
        for key in (_WROTE, _TOOK, _HEAD):
            session.info.pop(key, None)
