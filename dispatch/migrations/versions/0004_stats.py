"""Evaluation figures: the pre-aggregated cube, each case's close-by time, rollup progress.

Also an index on ``event_log.at`` (the rollup reads the log one day at a time) and one on
``cases (cell, event_type, created_at)`` (hotspots and repeat places).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

Derived data only (see ``dispatch.stats.models``): every row can be rebuilt from the event
log, so ``downgrade()`` simply drops the tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from dispatch.dbtypes import UTCDateTime

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: the cube's count columns and step columns (n, seconds), as dispatch.stats.figures has them
COUNTS = (
    "reports", "cases", "registered", "rejected", "voided", "self_handled", "dispatched",
    "dispatched_on_time", "reassigned", "reworked", "reopened", "closed", "due",
    "closed_on_time", "tickets", "accepted", "accepted_on_time", "returned", "resolved",
    "resolved_on_time", "overdue",
)  # fmt: skip
STEPS = ("dispatch", "accept", "resolve", "verify", "close")


def upgrade() -> None:
    # the rollup reads the event log by time (dispatch.stats.gather); hotspots and repeat
    # places count cases per cell and type over a period (an index-only scan in this order)
    op.create_index("ix_event_log_at", "event_log", ["at"])
    op.create_index("ix_cases_cell_type_time", "cases", ["cell", "event_type", "created_at"])
    numbers: list[sa.Column[int]] = [sa.Column(c, sa.Integer(), nullable=False) for c in COUNTS]
    for step in STEPS:
        numbers.append(sa.Column(f"{step}_n", sa.Integer(), nullable=False))
        numbers.append(sa.Column(f"{step}_s", sa.BigInteger(), nullable=False))
    op.create_table(
        "stats_cube",
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("span", sa.String(8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("area", sa.String(32), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("unit_id", sa.String(48), nullable=False),
        *numbers,
        sa.Column("hist", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("level", "span", "period_start", "area", "event_type", "unit_id"),
    )
    op.create_index(
        "ix_stats_cube_area",
        "stats_cube",
        ["level", "area", "period_start"],
        postgresql_ops={"area": "varchar_pattern_ops"},
    )
    op.create_table(
        "stats_case_due",
        sa.Column("case_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("close_due", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_index("ix_stats_case_due_close_due", "stats_case_due", ["close_due"])
    op.create_table(
        "stats_period",
        sa.Column("span", sa.String(8), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("sealed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("span", "period_start"),
    )


def downgrade() -> None:
    op.drop_table("stats_period")
    op.drop_index("ix_stats_case_due_close_due", table_name="stats_case_due")
    op.drop_table("stats_case_due")
    op.drop_index("ix_stats_cube_area", table_name="stats_cube")
    op.drop_table("stats_cube")
    op.drop_index("ix_cases_cell_type_time", table_name="cases")
    op.drop_index("ix_event_log_at", table_name="event_log")
