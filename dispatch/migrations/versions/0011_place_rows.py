"""Place rows: the cases per cell of each day and month, packed, for the hotspot map.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02

The hotspot cells, the streets and the repeat places counted a period's cases from the
cases table on every request: a year of a class in a million-case city is 600,000 index
entries, twice in the figures view. They now read ``stats_place``, one row per (day or
month, event type) holding the cases per cell as packed records (dispatch/stats/places.py),
with the cell numbers in ``stats_cell_key``.

Schema only: the periods rolled up before this have no place rows (``stats_period.places``
false). The hotspot answers count the cases as before for any period with such a day, and
the rollup job fills them in (a day's places are one grouped read of its cases: about
20 s for a year of a million cases), then the months.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stats_place",
        sa.Column("span", sa.String(8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("cells", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("span", "period_start", "event_type"),
    )
    op.create_table(
        "stats_cell_key",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("street", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.add_column(
        "stats_period", sa.Column("places", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    with op.batch_alter_table("stats_period") as batch:
        batch.drop_column("places")
    op.drop_table("stats_cell_key")
    op.drop_table("stats_place")
