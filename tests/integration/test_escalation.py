"""The overdue job escalates each ticket deadline exactly once, even with concurrent workers.

Every test runs on a temporary SQLite file and, marked ``postgis``, on the PostgreSQL test
database from ``pg_dsn``. The schema comes from the migrations (``dispatch.migrate.upgrade``)
and goes again by downgrading to ``base``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from seed import UNIT, seed_case
from sqlalchemy import update
from sqlalchemy.engine import URL, Engine
from sqlmodel import Session, col, select

from dispatch.db import make_engine, transaction
from dispatch.enums import TicketRole, TicketStatus
from dispatch.feed.models import Event
from dispatch.migrate import downgrade, upgrade
from dispatch.tickets import escalation
from dispatch.tickets.escalation import STAGES, Candidate, escalate_overdue, escalation_loop
from dispatch.tickets.models import Ticket

NOW = datetime(2026, 3, 16, 4, 0, tzinfo=UTC)  # Monday 12:00 in Nanning
PAST = NOW - timedelta(hours=3)
FUTURE = NOW + timedelta(hours=3)


# --- schema and data ---------------------------------------------------------------------


def create_schema(url: str) -> None:
    """The schema comes from the Alembic migrations, as everywhere (never create_all)."""
    upgrade(url)


def drop_schema(url: str) -> None:
    """Every table of the migrations goes (the PostGIS extension stays)."""
    downgrade(url, "base")


def sqlalchemy_url(conninfo: str) -> str:
    """``host=… dbname=…`` (what pg_dsn yields) as a postgresql:// URL for make_engine."""
    from psycopg.conninfo import conninfo_to_dict

    parts = {k: str(v) for k, v in conninfo_to_dict(conninfo).items()}
    port = parts.pop("port", None)
    url = URL.create(
        "postgresql",
        username=parts.pop("user", None),
        password=parts.pop("password", None),
        host=parts.pop("host", None),
        port=int(port) if port else None,
        database=parts.pop("dbname", None),
        query=parts,
    )
    return url.render_as_string(hide_password=False)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'dispatch.db'}"
    create_schema(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgis)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield request.getfixturevalue("sqlite_url")
        return
    url = sqlalchemy_url(request.getfixturevalue("pg_dsn"))
    create_schema(url)
    try:
        yield url
    finally:
        drop_schema(url)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()


def add_ticket(
    engine: Engine, case_id: int, status: TicketStatus, accept_due: datetime, resolve_due: datetime
) -> int:
    with transaction(engine) as s:
        ticket = Ticket(
            case_id=case_id,
            unit_id=UNIT,
            role=TicketRole.lead,
            status=status,
            dispatched_at=NOW - timedelta(days=1),
            accept_due=accept_due,
            resolve_due=resolve_due,
            updated_at=NOW - timedelta(days=1),
        )
        s.add(ticket)
        s.flush()
        assert ticket.id is not None
        return ticket.id


def escalation_events(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as s:
        rows = s.exec(select(Event).where(Event.type == "ticket.escalated")).all()
        return [
            {
                **json.loads(e.data),
                "ticket_id": e.ticket_id,
                "case_id": e.case_id,
                "unit_id": e.unit_id,
                "at": e.at,
            }
            for e in rows
        ]


def ticket(engine: Engine, ticket_id: int) -> Ticket:
    with Session(engine) as s:
        row = s.get(Ticket, ticket_id)
        assert row is not None
        return row


# --- tests -------------------------------------------------------------------------------


def test_overdue_tickets_are_escalated_once_per_stage(engine: Engine) -> None:
    case_id = seed_case(engine)
    st = TicketStatus
    late_accept = add_ticket(engine, case_id, st.dispatched, PAST, FUTURE)
    late_both = add_ticket(engine, case_id, st.dispatched, PAST, PAST - timedelta(minutes=1))
    late_work = add_ticket(engine, case_id, st.in_progress, PAST, PAST)
    accepted_late_resolve = add_ticket(engine, case_id, st.accepted, PAST, PAST)
    on_time = add_ticket(engine, case_id, st.dispatched, FUTURE, FUTURE)
    resolved = add_ticket(engine, case_id, st.resolved, PAST, PAST)
    returned = add_ticket(engine, case_id, st.returned, PAST, PAST)
    cancelled = add_ticket(engine, case_id, st.cancelled, PAST, PAST)

    assert escalate_overdue(engine, NOW) == 5

    got = Counter((e["ticket_id"], e["stage"]) for e in escalation_events(engine))
    assert got == {
        (late_accept, "accept"): 1,
        (late_both, "accept"): 1,
        (late_both, "resolve"): 1,
        (late_work, "resolve"): 1,
        (accepted_late_resolve, "resolve"): 1,
    }
    row = ticket(engine, late_both)
    assert row.accept_escalated_at == NOW
    assert row.resolve_escalated_at == NOW
    assert row.version == 3
    assert row.updated_at == NOW
    row = ticket(engine, late_accept)
    assert (row.accept_escalated_at, row.resolve_escalated_at, row.version) == (NOW, None, 2)
    for quiet in (on_time, resolved, returned, cancelled):
        row = ticket(engine, quiet)
        assert (row.accept_escalated_at, row.resolve_escalated_at, row.version) == (None, None, 1)

    event = next(e for e in escalation_events(engine) if e["ticket_id"] == late_both)
    assert event["case_id"] == case_id
    assert event["unit_id"] == UNIT
    assert event["stage"] == "accept"
    assert datetime.fromisoformat(event["due"]) == PAST
    assert event["overdue_by_s"] == 3 * 3600
    assert event["at"] == NOW

    # a second run finds nothing new
    assert escalate_overdue(engine, NOW + timedelta(minutes=5)) == 0
    assert len(escalation_events(engine)) == 5


def test_a_ticket_accepted_before_the_job_runs_is_not_accept_escalated(engine: Engine) -> None:
    case_id = seed_case(engine)
    tid = add_ticket(engine, case_id, TicketStatus.dispatched, PAST, FUTURE)
    with transaction(engine) as s:  # 签收, late but before the job saw it
        s.exec(
            update(Ticket)
            .where(col(Ticket.id) == tid)
            .values(status=TicketStatus.accepted, accepted_at=NOW)
        )

    assert escalate_overdue(engine, NOW) == 0
    assert escalation_events(engine) == []
    assert ticket(engine, tid).accept_escalated_at is None
    # the resolve deadline still applies to the accepted ticket
    assert escalate_overdue(engine, FUTURE + timedelta(seconds=1)) == 1
    assert [e["stage"] for e in escalation_events(engine)] == ["resolve"]


def test_small_batches_reach_every_ticket(engine: Engine) -> None:
    case_id = seed_case(engine)
    ids = [add_ticket(engine, case_id, TicketStatus.dispatched, PAST, FUTURE) for _ in range(7)]
    assert escalate_overdue(engine, NOW, batch=3) == 7
    assert sorted(e["ticket_id"] for e in escalation_events(engine)) == ids


def test_the_guarded_update_refuses_a_stale_candidate(engine: Engine) -> None:
    """Two workers that both saw the same candidate: only the first UPDATE counts."""
    case_id = seed_case(engine)
    tid = add_ticket(engine, case_id, TicketStatus.dispatched, PAST, FUTURE)
    accept = STAGES[0]
    stale = Candidate(tid, case_id, UNIT, PAST)
    with transaction(engine) as s:
        assert escalation._escalate_one(s, accept, stale, NOW)
    with transaction(engine) as s:
        assert not escalation._escalate_one(s, accept, stale, NOW + timedelta(minutes=1))
    assert len(escalation_events(engine)) == 1
    assert ticket(engine, tid).accept_escalated_at == NOW


def test_concurrent_workers_escalate_each_ticket_exactly_once(db_url: str) -> None:
    setup = make_engine(db_url)
    case_id = seed_case(setup)
    n = 60
    ids = [add_ticket(setup, case_id, TicketStatus.dispatched, PAST, PAST) for _ in range(n)]
    workers = 2
    barrier = threading.Barrier(workers)
    results: list[int] = []
    errors: list[BaseException] = []

    def worker() -> None:
        engine = make_engine(db_url)  # its own engine and pool, like another process
        try:
            barrier.wait(timeout=30)
            results.append(escalate_overdue(engine, NOW, batch=7))
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []

    assert sum(results) == 2 * n  # accept and resolve for every ticket
    got = Counter((e["ticket_id"], e["stage"]) for e in escalation_events(setup))
    assert got == {(tid, stage): 1 for tid in ids for stage in ("accept", "resolve")}
    for tid in ids:
        row = ticket(setup, tid)
        assert (row.accept_escalated_at, row.resolve_escalated_at, row.version) == (NOW, NOW, 3)
    setup.dispose()


async def test_loop_runs_the_job_until_stopped(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(sqlite_url)
    case_id = seed_case(engine)
    long_ago = datetime(2020, 1, 6, 1, 0, tzinfo=UTC)  # the loop runs at the real time
    add_ticket(engine, case_id, TicketStatus.dispatched, long_ago, datetime(2100, 1, 1, tzinfo=UTC))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    real = escalation.escalate_overdue
    runs: list[int] = []

    def once(eng: Engine) -> int:
        runs.append(real(eng))
        loop.call_soon_threadsafe(stop.set)
        return runs[-1]

    monkeypatch.setattr(escalation, "escalate_overdue", once)
    await asyncio.wait_for(escalation_loop(engine, 3600, stop), timeout=30)
    assert runs == [1]
    assert len(escalation_events(engine)) == 1
    engine.dispose()


async def test_loop_survives_a_failing_run(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(sqlite_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    calls: list[Engine] = []

    def flaky(eng: Engine) -> int:
        calls.append(eng)
        if len(calls) == 1:
            raise ConnectionError("database is down")
        loop.call_soon_threadsafe(stop.set)
        return 0

    monkeypatch.setattr(escalation, "escalate_overdue", flaky)
    with caplog.at_level(logging.ERROR, logger=escalation.__name__):
        await asyncio.wait_for(escalation_loop(engine, 0, stop), timeout=30)
    assert calls == [engine, engine]
    assert "escalation run failed" in caplog.text
    engine.dispose()
