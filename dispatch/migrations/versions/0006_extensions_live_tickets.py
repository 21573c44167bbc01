"""Extensions (延期) in the evaluation cube; an index of the live tickets by resolve due.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

The workflow now has 延期 (``POST /tickets/{id}/extend``, event ``ticket.extended``); the
cube gains its count. The cube is derived data: existing rows get 0, which is right for
every day before the move existed (``griddispatch stats-rollup --from … --to …`` rebuilds
any day from the event log).

``ix_ticket_live_resolve_due``: the tickets still being worked, by resolve due (with their
case and unit on PostgreSQL, so counting the overdue ones reads the index alone). "Overdue
now" in every figure table and the escalation job ask exactly this; the live tickets are a
small share of all, so the index stays small however long the history grows.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: as ``dispatch.tickets.models.LIVE_TICKET`` was when this was written
LIVE_TICKET = "status IN ('dispatched', 'accepted', 'in_progress')"


def upgrade() -> None:
    # the default fills the rows already there (and stays: SQLite cannot drop it in place)
    op.add_column(
        "stats_cube",
        sa.Column("extensions", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.create_index(
        "ix_ticket_live_resolve_due",
        "ticket",
        ["resolve_due"],
        postgresql_include=["case_id", "unit_id"],
        postgresql_where=sa.text(LIVE_TICKET),
        sqlite_where=sa.text(LIVE_TICKET),
    )


def downgrade() -> None:
    op.drop_index("ix_ticket_live_resolve_due", table_name="ticket")
    with op.batch_alter_table("stats_cube") as batch:
        batch.drop_column("extensions")
