"""The one place a ticket or case changes status: checks, the guarded UPDATE, its event.

RELIABILITY §2 rule 6 and §4.3: the write is ``UPDATE … SET status, version = version + 1
WHERE id AND version AND status IN (sources)``. A write that matches no row lost a race: the
row is re-read and the Conflict (409) names its status, version and the user behind its
newest event (the winner). The event is recorded in the same transaction, and the database
checks its (entity, from, to) against the allowed transitions. No other module may run an
``update(Ticket)`` or ``update(Case)``; the services call :func:`move_row` (or, for a write
that keeps the status, :func:`change_ticket`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import update
from sqlmodel import Session, col, select

from dispatch.auth.models import User
from dispatch.auth.principal import Principal
from dispatch.cases.models import Case
from dispatch.enums import Role
from dispatch.errors import Conflict, Forbidden, InvalidTransition, Unprocessable
from dispatch.feed.log import json_default, record
from dispatch.feed.models import Event
from dispatch.tickets.models import Ticket
from dispatch.tickets.states import TERMINAL_TICKET, Move, check_move

Row = TypeVar("Row", Ticket, Case)
ENTITY: dict[type, str] = {Ticket: "ticket", Case: "case"}


def require_role(moves: dict[str, Move], action: str, principal: Principal) -> Move:
    """Refuse a caller whose role may never make this move, before any object is read."""
    move = moves[action]
    if principal.role not in move.roles:
        raise Forbidden(f"a {principal.role.value} may not {action}", details={"action": action})
    return move


def last_change(s: Session, row: Ticket | Case) -> tuple[str, datetime | None]:
    """Username (or "system") and time of the newest event about this ticket or case."""
    query = select(Event.at, User.username).select_from(Event)
    query = query.outerjoin(User, col(User.id) == col(Event.actor_id))
    if isinstance(row, Ticket):
        query = query.where(Event.ticket_id == row.id)
    else:
        query = query.where(Event.case_id == row.id, col(Event.ticket_id).is_(None))
    found = s.exec(query.order_by(col(Event.id).desc()).limit(1)).first()
    if found is None:
        return "system", None
    at, username = found
    return username or "system", at


def stale(s: Session, row: Ticket | Case) -> Conflict:
    """The 409 for a lost race or an outdated version: current state and who changed it."""
    who, at = last_change(s, row)
    name = ENTITY[type(row)]
    return Conflict(
        f"{name} {row.id} was changed by {who}: it is {row.status.value} now "
        f"(version {row.version})",
        details={
            "entity": name,
            "id": row.id,
            "status": row.status.value,
            "version": row.version,
            "changed_by": who,
            "changed_at": json_default(at) if at else None,
        },
    )


def check_version(s: Session, row: Ticket | Case, version: int | None) -> None:
    if version is not None and version != row.version:
        raise stale(s, row)


def check(
    s: Session, moves: dict[str, Move], action: str, row: Ticket | Case, role: Role | None
) -> Move:
    """``check_move`` on the row's state; a wrong state also names who moved it last."""
    try:
        return check_move(moves, action, row.status.value, role)
    except InvalidTransition as exc:
        who, _ = last_change(s, row)
        details = {**(exc.details or {}), "version": row.version, "changed_by": who}
        raise InvalidTransition(f"{exc.message} (last changed by {who})", details=details) from None


def _guarded_update(
    s: Session, row: Row, sources: Iterable[str], now: datetime, **values: Any
) -> None:
    """``UPDATE … SET values, version + 1 WHERE id AND version AND status IN sources``;
    zero rows (someone else won) ⇒ the 409 naming them."""
    model = type(row)
    stmt = (
        update(model)
        .where(
            col(model.id) == row.id,
            col(model.version) == row.version,
            col(model.status).in_(sorted(sources)),
        )
        .values(version=col(model.version) + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    changed = s.exec(stmt).rowcount
    s.refresh(row)
    if changed != 1:
        raise stale(s, row)


def move_row(
    s: Session,
    row: Row,
    move: Move,
    now: datetime,
    actor_id: int | None,
    data: dict[str, Any] | None = None,
    **values: Any,
) -> None:
    """The guarded write of ``move`` on a ticket or case, then its event. Zero rows ⇒ 409."""
    model = type(row)
    before = row.status.value
    _guarded_update(s, row, move.sources, now, status=move.target, **values)
    about: dict[str, Any] = (
        {"case_id": row.case_id, "ticket_id": row.id, "unit_id": row.unit_id}
        if isinstance(row, Ticket)
        else {"case_id": row.id}
    )
    about.update(data or {}, version=row.version)
    record(
        s,
        move.event,
        actor_id=actor_id,
        entity=ENTITY[model],
        from_status=before,
        to_status=move.target,
        at=now,
        **about,
    )


def change_ticket(
    s: Session,
    t: Ticket,
    sources: Iterable[str],
    event: str,
    now: datetime,
    actor_id: int | None,
    data: dict[str, Any],
    **values: Any,
) -> None:
    """A guarded write that keeps the ticket's status (e.g. a new due), then its event.

    Same guard as :func:`move_row` (id, version, status among ``sources``); the event has no
    (entity, from, to): nothing moved in the workflow. Zero rows ⇒ 409.
    """
    _guarded_update(s, t, sources, now, **values)
    record(s, event, actor_id=actor_id, case_id=t.case_id, ticket_id=t.id, unit_id=t.unit_id,
           at=now, **data, version=t.version)  # fmt: skip


def lock_case(s: Session, case_id: int) -> Case | None:
    """The case row, locked for the transaction (PostgreSQL; SQLite writers are serial)."""
    query = select(Case).where(Case.id == case_id).with_for_update()
    return s.exec(query.execution_options(populate_existing=True)).first()


def case_tickets(s: Session, case_id: int) -> list[Ticket]:
    query = select(Ticket).where(Ticket.case_id == case_id).order_by(col(Ticket.id))
    return list(s.exec(query.execution_options(populate_existing=True)).all())


def live(tickets: Iterable[Ticket]) -> list[Ticket]:
    return [t for t in tickets if t.status not in TERMINAL_TICKET]


def require_text(value: str, what: str, code: str) -> str:
    text = value.strip()
    if not text:
        raise Unprocessable(f"{what} is required", code=code)
    return text
