"""Feed position: ``event_log.seq`` in commit order, ``feed_head`` the last one handed out.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Until now ``seq`` was the serial primary key. A sequence hands out numbers when a row is
inserted, not when its transaction commits, so two writers can commit 11 before 10 and a
feed reader that has moved past 11 never sees 10. The serial key becomes ``id`` (insertion
order, internal), and ``seq`` is a new column set at commit by
``dispatch.feed.sequence``: the writer bumps the single ``feed_head`` row (its row lock
orders the writers) and numbers its own rows after the old head. A rolled-back transaction
rolls the bump back too, so ``seq`` has no holes. Existing rows keep their old numbers.

Both backends rename the column in place (SQLite ≥ 3.25 has ``RENAME COLUMN``), so the
transition foreign key and the CHECK of 0001 are kept as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("ALTER TABLE event_log RENAME COLUMN seq TO id")
    op.add_column("event_log", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.execute("UPDATE event_log SET seq = id")
    op.create_index("ix_event_log_seq", "event_log", ["seq"], unique=True)
    op.create_table(
        "feed_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_feed_head_single"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO feed_head (id, seq) SELECT 1, coalesce(max(seq), 0) FROM event_log")


def downgrade() -> None:
    op.drop_table("feed_head")
    op.drop_index("ix_event_log_seq", table_name="event_log")
    op.drop_column("event_log", "seq")
    op.execute("ALTER TABLE event_log RENAME COLUMN id TO seq")
