"""Two app processes taking the same report at once (PostgreSQL only: on SQLite one writer
holds the file, so the race cannot happen).

The intake writer's bulk path checks the batch's keys, then inserts. If another process
commits one of those keys in between, the insert fails on the unique index; the writer
rolls the batch back and answers every item the ORM way, which finds the other's record.
Here the other process is a second connection holding an uncommitted record of the key,
so the writer's insert waits on it, then fails when it commits: a real race, in order.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import orjson
import psycopg
import pytest
from apikit import Api
from sqlalchemy import func, select, text
from sqlmodel import Session

from dispatch.auth.principal import Principal
from dispatch.cases.intake import prepare
from dispatch.cases.models import Case, Report
from dispatch.cases.schemas import ReportIn
from dispatch.enums import Role

pytestmark = pytest.mark.postgis

WAIT_S = 20.0


def worker(api: Api, name: str) -> Principal:
    with api.state.db.engine.connect() as c:
        uid = c.execute(text("SELECT id FROM user_account WHERE username = :u"), {"u": name})
        return Principal(int(uid.scalar_one()), name, Role.worker)


def await_lock_wait(dsn: str, database: str) -> None:
    """Until a session of ``database`` waits on a lock: the writer's INSERT, queued behind
    the other transaction's uncommitted row (PostgreSQL announces no such thing: we look)."""
    deadline = time.monotonic() + WAIT_S
    with psycopg.connect(dsn, autocommit=True) as c:
        while time.monotonic() < deadline:
            row = c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s "
                "AND wait_event_type = 'Lock'",
                (database,),
            ).fetchone()
            if row and row[0]:
                return
            time.sleep(0.01)  # polling pg_stat_activity: nothing to await
    raise AssertionError("the writer never waited on the other transaction")


def test_a_key_committed_by_another_process_mid_batch_is_answered_from_its_record(
    pg_api: Api,
) -> None:
    state = pg_api.state
    who = worker(pg_api, "worker3")
    key = f"race-{uuid.uuid4()}"
    lon, lat = pg_api.free_point("450103", 500)
    p = prepare(state, who, key, ReportIn(event_type="06010", lon=lon, lat=lat))
    # a neighbour in the same batch, with a key of its own, must still be written
    lon2, lat2 = pg_api.free_point("450103", 500)
    q = prepare(
        state, who, f"race-{uuid.uuid4()}", ReportIn(event_type="09009", lon=lon2, lat=lat2)
    )
    theirs = orjson.dumps({"id": 0, "case_no": "theirs", "joined_existing": False}).decode()
    url = state.db.engine.url
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    other = psycopg.connect(dsn)
    other.execute(
        "INSERT INTO idempotency_record (user_id, key, fingerprint, status_code, body, "
        "created_at) VALUES (%s, %s, %s, 201, %s, now())",
        (who.user_id, key, p.fingerprint, theirs),
    )
    results: list[Any] = []
    writer = threading.Thread(target=lambda: results.extend(state.intake._write([p, q])))
    writer.start()
    try:
        await_lock_wait(dsn, str(url.database))
        other.commit()  # the other process wins the key
    finally:
        other.close()
    writer.join(WAIT_S)
    assert not writer.is_alive()
    mine, neighbour = results
    assert (mine.status, mine.body, mine.replayed) == (201, theirs, True)
    assert neighbour.status == 201
    assert not neighbour.replayed
    with Session(state.db.engine) as s:
        reports = s.execute(
            select(Report.client_key, Report.case_id).where(
                Report.client_key.in_([key, q.key])  # type: ignore[attr-defined]
            )
        ).all()
        assert [k for k, _ in reports] == [q.key]  # no second case for the raced key
        case_id = orjson.loads(neighbour.body)["id"]
        assert s.execute(select(func.count()).where(Case.id == case_id)).scalar_one() == 1
