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

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.sql.elements import TextClause

from dispatch.cases.bulk import _KNOWN
from dispatch.cases.duplicates import _BY_DIALECT
from dispatch.migrate import upgrade


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('plans') / 'gd.sqlite'}"
    upgrade(url)
    engine = create_engine(url)
    yield engine
    engine.dispose()


def plan(engine: Engine, statement: TextClause, **values: Any) -> list[str]:
    """The plan's steps, for the statement as the app sends it (IN lists expanded)."""
    compiled = statement.bindparams(**values).compile(
        engine, compile_kwargs={"render_postcompile": True}
    )
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    with engine.connect() as c:
        rows = c.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)
        return [str(row[-1]) for row in rows]


#: as many as a busy batch has (intake_batch_max 64: keys of five workers; 50 m around
#: each point touches up to ~6 cells of 100 m)
USERS = list(range(3, 8))
KEYS = [f"k-{n}" for n in range(64)]
CELLS = [f"450103001001{n:03d}" for n in range(300)]
TYPES = ["06014", "09009", "09001", "06010", "06011", "07001", "06001", "08011"]


def test_the_known_key_lookup_searches_both_unique_indexes(engine: Engine) -> None:
    steps = plan(engine, _KNOWN, users=USERS, keys=KEYS)
    searches = [s for s in steps if s.startswith(("SEARCH", "SCAN"))]
    assert searches == [
        "SEARCH idempotency_record USING COVERING INDEX "
        "sqlite_autoindex_idempotency_record_1 (user_id=? AND key=?)",
        "SEARCH report USING COVERING INDEX sqlite_autoindex_report_1 "
        "(reporter_id=? AND client_key=?)",
    ]


def test_the_duplicate_lookup_searches_by_cell_type_and_time(engine: Engine) -> None:
    since = datetime(2026, 12, 1, tzinfo=UTC)
    steps = plan(engine, _BY_DIALECT["sqlite"], cells=CELLS, types=TYPES, since=since)
    searches = [s for s in steps if s.startswith(("SEARCH", "SCAN"))]
    assert searches == [
        "SEARCH cases USING INDEX ix_cases_cell_type_time "
        "(cell=? AND event_type=? AND created_at>?)"
    ]
