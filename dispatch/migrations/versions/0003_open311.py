"""Open311: API keys of clients, and what a channel adds to a report.

Revision ID: 0003
Revises: 0002
Create Date: 2026-03-10

* ``open311_key``: one row per issued key (dispatch.open311.models.Open311Key), the key
  itself stored only as its sha256, with the service account that files the client's
  requests;
* ``report.extra``: JSON text a channel adds to a report (Open311: the client, the
  answers to the service definition's questions, media_url and address_string).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatch.dbtypes import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "open311_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client", sa.String(48), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key_prefix", sa.String(8), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    op.create_index("ix_open311_key_client", "open311_key", ["client"])
    op.create_index("ix_open311_key_user_id", "open311_key", ["user_id"])
    op.add_column("report", sa.Column("extra", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("report") as batch:
        batch.drop_column("extra")
    op.drop_table("open311_key")
