"""PostgreSQL numbers the event log inside COMMIT (a deferred constraint trigger).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Until now the committing session numbered its events from Python, as its last statements
before COMMIT: count, bump ``feed_head``, number the rows, then COMMIT; four round trips
with the ``feed_head`` row lock held from the second on. Under load every one of them
waited for its thread to get the interpreter back (dozens of request threads contend for
one GIL), so the lock was held for milliseconds to tens of milliseconds and every other
committing writer, the intake's batch writer included, queued behind it.

Now a deferred constraint trigger does the same three statements inside COMMIT, on the
server: the lock is held only while the commit itself runs, and no client stands between
taking it and releasing it. The first firing in a transaction numbers all of the
transaction's rows (they are the only ones with ``seq IS NULL`` it can see); the rest of
its firings find their row numbered and return at once (one primary-key lookup each).
Commit order, no holes and rollbacks work as before (see ``dispatch.feed.sequence``), and
rows written by any client at all are numbered, not only by this application's sessions.

SQLite keeps numbering from Python: its writers hold the only write lock from BEGIN, so
they cannot convoy on this one.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FUNCTION = """
CREATE FUNCTION feed_number_events() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    head bigint;
BEGIN
    PERFORM 1 FROM event_log WHERE id = NEW.id AND seq IS NULL;
    IF NOT FOUND THEN  -- numbered already, with the rest of its transaction
        RETURN NULL;
    END IF;
    SELECT count(*) INTO n FROM event_log WHERE seq IS NULL;
    UPDATE feed_head SET seq = seq + n WHERE id = 1 RETURNING seq INTO head;
    UPDATE event_log SET seq = head - n + r.rn
      FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn
              FROM event_log WHERE seq IS NULL) AS r
     WHERE event_log.id = r.id;
    RETURN NULL;
END
$$
"""

_TRIGGER = """
CREATE CONSTRAINT TRIGGER event_log_number_at_commit
    AFTER INSERT ON event_log
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION feed_number_events()
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_FUNCTION)
    op.execute(_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER event_log_number_at_commit ON event_log")
    op.execute("DROP FUNCTION feed_number_events()")
