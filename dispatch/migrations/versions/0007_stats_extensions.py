"""Evaluation figures: the count of extensions (延期数) in the cube.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-02

The workflow now has 延期 (``POST /tickets/{id}/extend``, event ``ticket.extended``); the
cube gains its count. The cube is derived data: existing rows get 0, which is right for
every day before the move existed (``griddispatch stats-rollup --from … --to …`` rebuilds
any day from the event log).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # the default fills the rows already there (and stays: SQLite cannot drop it in place)
    op.add_column(
        "stats_cube",
        sa.Column("extensions", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    with op.batch_alter_table("stats_cube") as batch:
        batch.drop_column("extensions")
