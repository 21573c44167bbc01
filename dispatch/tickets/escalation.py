"""The overdue job: escalate each ticket once when its accept or resolve deadline passes.

Several app processes may run the job at the same time. The guarded UPDATE is the lock:
it sets ``<stage>_escalated_at`` only where it is still NULL (and the ticket is still in a
state the deadline applies to), so exactly one worker's UPDATE touches the row, and only
that worker writes the ``ticket.escalated`` event, in the same transaction. On PostgreSQL
the candidates are also selected ``FOR UPDATE SKIP LOCKED`` so concurrent workers split the
work instead of queueing behind each other's row locks; SQLite writers are serialised by
``BEGIN IMMEDIATE`` (see :func:`dispatch.db.make_engine`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from dispatch.cases.models import Case
from dispatch.db import transaction
from dispatch.dbtypes import utcnow
from dispatch.enums import TicketStatus
from dispatch.feed.log import record
from dispatch.tickets.models import Ticket
from dispatch.waits import event_set

log = logging.getLogger(__name__)

EVENT = "ticket.escalated"


@dataclass(frozen=True)
class Stage:
    """One deadline of a ticket: which columns, and in which states it still applies."""

    name: str
    due: Any  # the due-time column
    escalated_at: Any  # the column set once at escalation
    statuses: tuple[TicketStatus, ...]


STAGES = (
    Stage(
        "accept",
        col(Ticket.accept_due),
        col(Ticket.accept_escalated_at),
        (TicketStatus.dispatched,),
    ),
    Stage(
        "resolve",
        col(Ticket.resolve_due),
        col(Ticket.resolve_escalated_at),
        (TicketStatus.dispatched, TicketStatus.accepted, TicketStatus.in_progress),
    ),
)


@dataclass(frozen=True)
class Candidate:
    ticket_id: int
    case_id: int
    unit_id: str
    due: datetime


def escalate_overdue(engine: Engine, now: datetime | None = None, batch: int = 200) -> int:
    """Escalate every ticket past a deadline it has not been escalated for; return how many.

    Each batch of up to ``batch`` tickets is one transaction. A ticket is counted (and gets
    its event) only if this call's guarded UPDATE changed its row.
    """
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    now = now or utcnow()
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    total = 0
    for stage in STAGES:
        while True:
            with transaction(engine) as session:
                candidates = _candidates(session, stage, now, batch)
                done = sum(_escalate_one(session, stage, c, now) for c in candidates)
            total += done
            # fewer than a batch: nothing left. A full batch that escalated nothing means
            # other workers hold or took those rows; leave the rest to the next run.
            if len(candidates) < batch or done == 0:
                break
    if total:
        log.info("escalated %d overdue ticket deadline(s)", total)
    return total


def _overdue(stage: Stage, now: datetime) -> list[Any]:
    """The conditions for a stage's escalation, shared by the SELECT and the guarded UPDATE."""
    return [
        stage.escalated_at.is_(None),
        col(Ticket.status).in_(stage.statuses),
        stage.due < now,
    ]


def _candidates(session: Session, stage: Stage, now: datetime, batch: int) -> list[Candidate]:
    query = (
        select(col(Ticket.id), col(Ticket.case_id), col(Ticket.unit_id), stage.due)
        .where(*_overdue(stage, now))
        .order_by(stage.due, col(Ticket.id))
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [Candidate(int(i or 0), c, u, d) for i, c, u, d in session.exec(query).all()]


def _escalate_one(session: Session, stage: Stage, c: Candidate, now: datetime) -> bool:
    """Set the stage's escalated_at if nobody has; on success log the event. True if set."""
    guarded = (
        update(Ticket)
        .where(col(Ticket.id) == c.ticket_id, *_overdue(stage, now))
        .values(
            {
                stage.escalated_at: now,
                col(Ticket.version): col(Ticket.version) + 1,
                col(Ticket.updated_at): now,
            }
        )
        .execution_options(synchronize_session=False)
    )
    if session.exec(guarded).rowcount != 1:
        return False
    session.exec(  # readers polling cases with ?since= see the escalation
        update(Case).where(col(Case.id) == c.case_id).values({col(Case.updated_at): now})
    )
    record(
        session,
        EVENT,
        at=now,
        ticket_id=c.ticket_id,
        case_id=c.case_id,
        unit_id=c.unit_id,
        stage=stage.name,
        due=c.due.isoformat(),
        overdue_by_s=int((now - c.due).total_seconds()),
    )
    return True


async def escalation_loop(engine: Engine, interval_s: float, stop: asyncio.Event) -> None:
    """Run :func:`escalate_overdue` every ``interval_s`` seconds until ``stop`` is set.

    The job runs in a worker thread so the event loop keeps serving. A failing run (the
    database briefly down, a lock timeout) is logged and retried at the next interval.
    """
    while not stop.is_set():
        try:
            await asyncio.to_thread(escalate_overdue, engine)
        except Exception:
            log.exception("escalation run failed; retrying in %s s", interval_s)
        await event_set(stop, interval_s)
