"""Cell rows in the evaluation cube: every day is rolled up again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

The cube gains rows per cell (level ``cell``), so a community's cells for a year read
month rows like every coarser area instead of replaying the community's cases from the
event log. No column changes: the rows are derived data, and the days rolled up before
this have none. Forgetting which days are final makes the rollup job recompute every day
from the first event on (and then build the months again), as it does on a new database;
until it has passed a day, that day's existing rows keep answering every level but the
cells. ``griddispatch stats-rollup`` does the same at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DELETE FROM stats_period")


def downgrade() -> None:
    op.execute("DELETE FROM stats_cube WHERE level = 'cell'")
