"""A covering index of each case's type and areas by id (PostgreSQL only).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02

"Overdue now" with an event class or an area joins the live tickets to their cases for
the case's type and areas. Without this index the planner reads every case of the class
(600,000 for a class's year of a million-case city: 160–200 ms per table); with it, each
live ticket's case is one index-only probe (40–58 ms), and the command center's figures
view of a class's year goes from medians of 1.13–1.21 s to 0.86–1.15 s
(docs/benchmarks.md, run 5b). The columns never change after intake, so the index costs
one B-tree entry per new case.
SQLite is left alone: its tables are B-trees keyed by id already, so a lookup by id
reads the row itself. About 1.5 s for a million cases.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_cases_areas_by_id"


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.create_index(
            INDEX,
            "cases",
            ["id"],
            postgresql_include=["event_type", "cell", "community", "street", "district"],
        )


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.drop_index(INDEX, table_name="cases")
