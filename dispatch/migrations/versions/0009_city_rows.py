"""City rows in the evaluation cube, summed from the district rows already stored.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

The cube gains city-wide rows (levels ``city`` and ``city-type``, area ""), so the whole
city's figures for an event class read one row per type where the district rows hold one
per district. No column changes. Unlike 0007 nothing is rolled up again: each stored day
and month gets its city rows as the sum of its district rows (the same sums the rollup
now writes itself), so the figures answer from the city rows the moment the upgrade
commits. About 95 s for a year of a city of a million cases (docs/benchmarks.md).

An offline upgrade (``--sql``) cannot read the cube; it makes the rollup job recompute
every day instead, as 0007 does.

It sums with the application's own code (``add_city_rows``), which reads the cube's
columns as they are at this revision's release; a later column change must keep this
upgrade runnable (or copy the sums here).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import select
from sqlalchemy.orm import Session

from dispatch.stats.cube import CUBE
from dispatch.stats.rollup import add_city_rows

# revision identifiers, used by Alembic.
revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().as_sql:
        # offline (``upgrade --sql``) nothing can be read to sum: forget which days are
        # final instead, as 0007 does, so the rollup job writes every day again
        op.execute("DELETE FROM stats_period")
        return
    s = Session(bind=op.get_bind())
    periods = s.execute(
        select(CUBE.c.span, CUBE.c.period_start).distinct().where(CUBE.c.level == "district")
    ).all()
    for span, start in periods:
        add_city_rows(s, span, start)


def downgrade() -> None:
    op.execute("DELETE FROM stats_cube WHERE level IN ('city', 'city-type')")
