"""Ticket moves (签收 accept, 到场 start, 处置 resolve, 回退 return), 延期 extensions and the
ticket reads.

Every action is one transaction in the same order: the caller's role, the object's
visibility (a ticket of another unit is NotFound, never Forbidden), the client's
``version`` when given (stale ⇒ 409 naming the winner), the current state
(``states.check_move``), then the guarded write and its event (:mod:`dispatch.tickets.guard`).

Ticket actions return :class:`TicketOut`: the ticket with its new version and, nested, the
whole case view, so a team sees its partners' progress without a second request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from dispatch.auth.principal import Principal
from dispatch.cases.models import Case
from dispatch.cases.schemas import CaseOut, UnitTicketOut
from dispatch.cases.views import case_out, ticket_out
from dispatch.db import transaction
from dispatch.dbtypes import utcnow
from dispatch.enums import CaseStatus, PhotoKind, Role, TicketStatus
from dispatch.errors import Conflict, Forbidden, InvalidTransition, NotFound, Unprocessable
from dispatch.feed.log import json_default
from dispatch.photos.models import Photo
from dispatch.photos.service import attach_photos
from dispatch.state import AppState
from dispatch.tickets.deadlines import due, verify_due
from dispatch.tickets.guard import (
    case_tickets,
    change_ticket,
    check,
    check_version,
    lock_case,
    move_row,
    require_role,
    require_text,
)
from dispatch.tickets.models import Ticket
from dispatch.tickets.states import (
    CASE_MOVES,
    EXTEND_EVENT,
    EXTEND_FROM,
    EXTEND_ROLES,
    TERMINAL_TICKET,
    TICKET_MOVES,
    Move,
    case_ready_for_verification,
)


class TicketOut(UnitTicketOut):
    """One ticket in full, with the case it belongs to."""

    case_id: int
    team_id: str | None
    dispatched_at: datetime
    accepted_at: datetime | None
    started_at: datetime | None
    resolved_at: datetime | None
    returned_at: datetime | None
    return_reason: str | None
    resolution_note: str | None
    rework_count: int
    case: CaseOut


class TicketPage(BaseModel):
    items: list[TicketOut]
    total: int
    limit: int
    offset: int


# ---------------------------------------------------------------- views


def case_view(state: AppState, s: Session, case: Case, now: datetime | None = None) -> CaseOut:
    assert case.id is not None
    return _case_views(state, s, [case], now)[case.id]


def _case_views(
    state: AppState, s: Session, cases: Sequence[Case], now: datetime | None
) -> dict[int, CaseOut]:
    ids = [c.id for c in cases]
    tickets: dict[int, list[Ticket]] = {i: [] for i in ids if i is not None}
    photos: dict[int, list[str]] = {i: [] for i in tickets}
    if ids:
        query = select(Ticket).where(col(Ticket.case_id).in_(ids))
        for t in s.exec(query.execution_options(populate_existing=True)):
            tickets[t.case_id].append(t)
        query_p = select(Photo.id, Photo.case_id).where(col(Photo.case_id).in_(ids))
        for pid, cid in s.exec(query_p.order_by(col(Photo.uploaded_at), col(Photo.id))):
            if cid is not None:
                photos[cid].append(pid)
    now = now or utcnow()
    return {
        c.id: case_out(state, c, tickets[c.id], photos[c.id], now)
        for c in cases
        if c.id is not None
    }


def _ticket_view(state: AppState, t: Ticket, case: CaseOut, now: datetime) -> TicketOut:
    return TicketOut(
        **ticket_out(state, t, case.event_type.code, now).model_dump(),
        case_id=t.case_id,
        team_id=t.team_id,
        dispatched_at=t.dispatched_at,
        accepted_at=t.accepted_at,
        started_at=t.started_at,
        resolved_at=t.resolved_at,
        returned_at=t.returned_at,
        return_reason=t.return_reason,
        resolution_note=t.resolution_note,
        rework_count=t.rework_count,
        case=case,
    )


def ticket_view(state: AppState, s: Session, t: Ticket) -> TicketOut:
    now = utcnow()
    case = s.get_one(Case, t.case_id)
    return _ticket_view(state, t, case_view(state, s, case, now), now)


def get_ticket(state: AppState, principal: Principal, *, ticket_id: int) -> TicketOut:
    with Session(state.db.read_engine) as s:
        return ticket_view(state, s, _visible_ticket(s, principal, ticket_id))


def list_tickets(
    state: AppState,
    principal: Principal,
    *,
    status: TicketStatus | None = None,
    unit: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> TicketPage:
    """A team's inbox (its unit's tickets); dispatchers, commanders and admins see all.

    Without ``status`` only live tickets are listed (not returned or cancelled). Newest
    dispatch first; ``limit`` is capped at ``settings.max_page_size``.
    """
    if principal.role is Role.team:
        if unit is not None and unit != principal.unit_id:
            raise Forbidden("a team sees only its own unit's tickets")
        unit = principal.unit_id or ""
    elif not principal.sees_city:
        raise Forbidden(f"a {principal.role.value} has no ticket inbox")
    limit = max(1, min(limit, state.settings.max_page_size))
    offset = max(0, offset)
    conds: list[Any] = []
    if unit is not None:
        conds.append(col(Ticket.unit_id) == unit)
    if status is not None:
        conds.append(col(Ticket.status) == status)
    else:
        conds.append(col(Ticket.status).not_in(sorted(TERMINAL_TICKET)))
    with Session(state.db.read_engine) as s:
        total = s.exec(select(func.count()).select_from(Ticket).where(*conds)).one()
        query = select(Ticket).where(*conds)
        query = query.order_by(col(Ticket.dispatched_at).desc(), col(Ticket.id).desc())
        rows = list(s.exec(query.limit(limit).offset(offset)).all())
        cases = list(s.exec(select(Case).where(col(Case.id).in_({t.case_id for t in rows}))))
        now = utcnow()
        views = _case_views(state, s, cases, now)
        items = [_ticket_view(state, t, views[t.case_id], now) for t in rows]
    return TicketPage(items=items, total=int(total), limit=limit, offset=offset)


def _visible_ticket(s: Session, principal: Principal, ticket_id: int) -> Ticket:
    t = s.get(Ticket, ticket_id)
    if t is None or not principal.may_see_ticket(unit_id=t.unit_id):
        raise NotFound("no such ticket", details={"ticket_id": ticket_id})
    return t


# ---------------------------------------------------------------- ticket actions


def _begin(
    s: Session, principal: Principal, action: str, ticket_id: int, version: int | None
) -> tuple[Ticket, Case, Move]:
    """Role, visibility, case lock, version and state checks shared by every ticket action."""
    require_role(TICKET_MOVES, action, principal)
    t = _visible_ticket(s, principal, ticket_id)
    case = lock_case(s, t.case_id)
    assert case is not None
    s.refresh(t)
    check_version(s, t, version)
    return t, case, check(s, TICKET_MOVES, action, t, principal.role)


def _act(
    state: AppState,
    principal: Principal,
    action: str,
    ticket_id: int,
    version: int | None,
    values: Callable[[datetime], dict[str, Any]],
    data: dict[str, Any] | None = None,
    photo_ids: Sequence[str] = (),
    body_checks: Callable[[], None] | None = None,
) -> TicketOut:
    """One ticket action in one transaction: checks, after-photos, guarded write, event.

    The body is checked only after role, visibility and state: a caller who may not act
    learns nothing from a validation message.
    """
    with transaction(state.db.engine) as s:
        t, case, move = _begin(s, principal, action, ticket_id, version)
        if body_checks:
            body_checks()
        assert case.id is not None
        attach_photos(
            s,
            photo_ids,
            owner_id=principal.user_id,
            case_id=case.id,
            ticket_id=t.id,
            kind=PhotoKind.after,
        )
        now = utcnow()
        move_row(s, t, move, now, principal.user_id, data, **values(now))
        case.updated_at = now  # list readers polling with ?since= see ticket moves too
        if move.target in (TicketStatus.resolved, TicketStatus.returned):
            # a returned support ticket may have been the last one the case waited for
            _maybe_await_verification(state, s, case, now, principal.user_id)
        return ticket_view(state, s, t)


def accept(
    state: AppState, principal: Principal, *, ticket_id: int, version: int | None = None
) -> TicketOut:
    """签收: the caller's team takes the ticket."""
    uid, team = principal.user_id, principal.team_id
    return _act(
        state,
        principal,
        "accept",
        ticket_id,
        version,
        lambda now: {"team_id": team, "accepted_by": uid, "accepted_at": now},
    )


def start(
    state: AppState, principal: Principal, *, ticket_id: int, version: int | None = None
) -> TicketOut:
    """到场/处置中: the team is on site."""
    return _act(state, principal, "start", ticket_id, version, lambda now: {"started_at": now})


def resolve(
    state: AppState,
    principal: Principal,
    *,
    ticket_id: int,
    note: str,
    photo_ids: Sequence[str],
    version: int | None = None,
) -> TicketOut:
    """处置完毕: needs a note and at least one after-photo uploaded by the caller.

    When this was the last live ticket (a joint case waits for every unit, and a lead must
    be among them) the case moves to 核查 (verifying) with its verify due time.
    """

    def checks() -> None:
        require_text(note, "a resolution note", "note_required")
        if not photo_ids:
            raise Unprocessable("at least one after-photo is required", code="photo_required")

    uid, text = principal.user_id, note.strip()
    return _act(
        state,
        principal,
        "resolve",
        ticket_id,
        version,
        lambda now: {"resolved_by": uid, "resolved_at": now, "resolution_note": text},
        # the note goes into the event too: the checker (a worker, who cannot read tickets)
        # sees in the case timeline what the team says it did
        {"photo_ids": list(photo_ids), "note": text},
        photo_ids,
        checks,
    )


def _maybe_await_verification(
    state: AppState, s: Session, case: Case, now: datetime, actor_id: int
) -> None:
    if case.status != CaseStatus.dispatched:
        return
    pairs = [(t.role.value, t.status.value) for t in case_tickets(s, case.id or 0)]
    if not case_ready_for_verification(pairs):
        return
    move = check(s, CASE_MOVES, "await_verification", case, None)
    due = verify_due(state.city.event_types[case.event_type], now, state.calendar)
    move_row(s, case, move, now, actor_id, {"verify_due": due}, resolved_at=now, verify_due=due)


def return_ticket(
    state: AppState,
    principal: Principal,
    *,
    ticket_id: int,
    reason: str,
    version: int | None = None,
) -> TicketOut:
    """回退: not this unit's work. The case stays dispatched until the dispatcher re-routes."""

    def checks() -> None:
        require_text(reason, "a reason for returning", "reason_required")

    text = reason.strip()
    return _act(
        state,
        principal,
        "return",
        ticket_id,
        version,
        lambda now: {"returned_at": now, "return_reason": text},
        {"reason": text},
        body_checks=checks,
    )


def extend(
    state: AppState,
    principal: Principal,
    *,
    ticket_id: int,
    extra: float,
    reason: str,
    version: int | None = None,
) -> TicketOut:
    """延期: the dispatcher approves more time for a ticket still being worked.

    The resolve due moves on by ``extra`` units of the event type's limits (working hours,
    working days or minutes), counted on the city's calendar from the present due. Only
    before that due has passed: a missed deadline stays missed. The ticket keeps its state.
    """
    if principal.role not in EXTEND_ROLES:
        raise Forbidden(f"a {principal.role.value} may not extend", details={"action": "extend"})
    with transaction(state.db.engine) as s:
        t = _visible_ticket(s, principal, ticket_id)
        case = lock_case(s, t.case_id)
        assert case is not None
        s.refresh(t)
        check_version(s, t, version)
        if t.status.value not in EXTEND_FROM:
            raise InvalidTransition(
                f"cannot extend from {t.status.value}",
                details={"status": t.status.value, "allowed_from": sorted(EXTEND_FROM)},
            )
        now = utcnow()
        if t.resolve_due <= now:
            raise Conflict(
                "the resolve deadline has passed: an extension is approved before it",
                code="deadline_passed",
                details={"resolve_due": json_default(t.resolve_due)},
            )
        text = require_text(reason, "a reason for the extension", "reason_required")
        unit = state.city.event_types[case.event_type].limit_unit
        new_due = due(t.resolve_due, extra, unit, state.calendar)
        data = {"previous_due": t.resolve_due, "resolve_due": new_due, "extra": extra,
                "limit_unit": unit, "reason": text}  # fmt: skip
        change_ticket(s, t, EXTEND_FROM, EXTEND_EVENT, now, principal.user_id, data,
                      resolve_due=new_due)  # fmt: skip
        case.updated_at = now
        return ticket_view(state, s, t)
