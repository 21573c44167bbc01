"""The intake's per-batch lookups are index searches, never scans, on SQLite.

SQLite has no statistics on a fresh database, and a query that constrains only part of an
index falls back to scanning: the known-key lookup once scanned every idempotency record
and report, the duplicate lookup every open case of the city, a cost that grows with every
report filed; and with a batch's real list sizes (a hundred cells, eight types) the planner
preferred the status index to the cell index. The plans are read with EXPLAIN QUERY PLAN for
lists as long as a busy batch's, so a change that loses an index fails here, not months
later in production.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine

from dispatch.cases.bulk import known_keys_sql
from dispatch.cases.duplicates import open_cases_sql
from dispatch.cases.rawsql import Raw
from dispatch.migrate import upgrade


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Raw]:
    """A migrated database's sqlite3 connection, as the intake writer holds it."""
    path = tmp_path_factory.mktemp("plans") / "gd.sqlite"
    upgrade(f"sqlite:///{path}")
    conn = sqlite3.connect(path)
    yield Raw(conn, create_engine("sqlite://").dialect)
    conn.close()


def plan(raw: Raw, sql: str, params: list[Any]) -> list[str]:
    """The plan's steps, for the statement exactly as the intake writer sends it."""
    return [str(row[-1]) for row in raw.rows(f"EXPLAIN QUERY PLAN {sql}", params)]


#: as many as a busy batch has (intake_batch_max 64: keys of five workers; 50 m around
#: each point touches up to ~6 cells of 100 m)
USERS = list(range(3, 8))
KEYS = [f"k-{n}" for n in range(64)]
CELLS = [f"450103001001{n:03d}" for n in range(300)]
TYPES = ["06014", "09009", "09001", "06010", "06011", "07001", "06001", "08011"]


def test_the_known_key_lookup_searches_both_unique_indexes(raw: Raw) -> None:
    sql = known_keys_sql(raw, len(USERS), len(KEYS))
    steps = plan(raw, sql, [*USERS, *KEYS, *USERS, *KEYS])
    searches = [s for s in steps if s.startswith(("SEARCH", "SCAN"))]
    assert searches == [
        "SEARCH idempotency_record USING COVERING INDEX "
        "sqlite_autoindex_idempotency_record_1 (user_id=? AND key=?)",
        "SEARCH report USING COVERING INDEX sqlite_autoindex_report_1 "
        "(reporter_id=? AND client_key=?)",
    ]


def test_the_duplicate_lookup_searches_by_cell_type_and_time(raw: Raw) -> None:
    sql = open_cases_sql(raw, len(CELLS), len(TYPES))
    steps = plan(raw, sql, [*CELLS, *TYPES, "2026-12-01 00:00:00.000000"])
    searches = [s for s in steps if s.startswith(("SEARCH", "SCAN"))]
    assert searches == [
        "SEARCH cases USING INDEX ix_cases_cell_type_time "
        "(cell=? AND event_type=? AND created_at>?)"
    ]
