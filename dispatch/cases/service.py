"""Case moves: 核查 (verify), 不予立案 (reject), 派遣 (dispatch), 改派 (reassign), 重办 (reopen).

Same discipline as :mod:`dispatch.tickets.service`: one transaction each; role,
visibility, version, state; guarded UPDATEs (:mod:`dispatch.tickets.guard`) on the case and
on every ticket touched; one event per change. Every function returns the fresh case view.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlmodel import Session, select

from dispatch.auth.principal import Principal
from dispatch.cases.intake import dispatch_tickets, open_ticket
from dispatch.cases.models import Case
from dispatch.cases.schemas import CaseOut
from dispatch.citydata import UNIT_PREFIX, Rule
from dispatch.db import transaction
from dispatch.dbtypes import utcnow
from dispatch.enums import PhotoKind, TicketRole, TicketStatus
from dispatch.errors import Forbidden, NotFound, Unprocessable
from dispatch.photos.service import attach_photos
from dispatch.routing.rules import Assignment, RoutingError
from dispatch.state import AppState
from dispatch.tickets.deadlines import deadlines_for
from dispatch.tickets.guard import (
    case_tickets,
    check,
    check_version,
    live,
    lock_case,
    move_row,
    require_role,
    require_text,
)
from dispatch.tickets.models import Ticket
from dispatch.tickets.service import case_view
from dispatch.tickets.states import CASE_MOVES, TICKET_MOVES


def _begin(
    s: Session, principal: Principal, action: str, case_id: int, version: int | None
) -> Case:
    """Role, visibility (NotFound when hidden), row lock and version; state is checked later."""
    require_role(CASE_MOVES, action, principal)
    case = lock_case(s, case_id)
    if case is None or not _may_see(s, principal, case):
        raise NotFound("no such case", details={"case_id": case_id})
    check_version(s, case, version)
    return case


def _may_see(s: Session, principal: Principal, case: Case) -> bool:
    units = set(s.exec(select(Ticket.unit_id).where(Ticket.case_id == case.id)).all())
    return principal.may_see_case(reporter_id=case.reporter_id, cell=case.cell, unit_ids=units)


def _cancel(s: Session, principal: Principal, t: Ticket, now: datetime, why: str) -> None:
    move = check(s, TICKET_MOVES, "cancel", t, principal.role)
    move_row(s, t, move, now, principal.user_id, {"why": why})


def _manual(state: AppState, case: Case, lead: str, support: Sequence[str]) -> Assignment:
    """An assignment the dispatcher chose by hand; every unit must exist."""
    for unit in (lead, *support):
        if unit not in state.city.units:
            raise Unprocessable(
                f"unknown unit {unit!r}", code="unknown_unit", details={"unit_id": unit}
            )
    extra = tuple(dict.fromkeys(u for u in support if u != lead))
    rule = Rule(
        case.event_type,
        case.cell,
        UNIT_PREFIX + lead,
        tuple(UNIT_PREFIX + u for u in extra),
        "manual",
    )
    return Assignment(lead, extra, rule)


def verify(
    state: AppState,
    principal: Principal,
    *,
    case_id: int,
    passed: bool,
    note: str = "",
    photo_ids: Sequence[str] = (),
    version: int | None = None,
) -> CaseOut:
    """核查 by a grid worker who did not resolve any of the case's tickets.

    Pass closes the case (结案). Fail (返工, a note is required) sends the case back to
    dispatched and every resolved live ticket back to in_progress with a new resolve due.
    """
    action = "verify_pass" if passed else "verify_fail"
    with transaction(state.db.engine) as s:
        case = _begin(s, principal, action, case_id, version)
        move = check(s, CASE_MOVES, action, case, principal.role)
        tickets = case_tickets(s, case_id)
        if any(t.resolved_by == principal.user_id for t in tickets):
            raise Forbidden(
                "whoever resolved a ticket of this case may not verify it",
                code="verifier_is_resolver",
            )
        text = note.strip() if passed else require_text(note, "a note", "note_required")
        attach_photos(
            s, photo_ids, owner_id=principal.user_id, case_id=case_id, kind=PhotoKind.verify
        )
        now, uid = utcnow(), principal.user_id
        data = {"note": text, "photo_ids": list(photo_ids)}
        if passed:
            move_row(s, case, move, now, uid, data, closed_at=now, closed_by=uid)
            return case_view(state, s, case, now)
        move_row(
            s,
            case,
            move,
            now,
            uid,
            data,
            rework_count=case.rework_count + 1,
            resolved_at=None,
            verify_due=None,
        )
        event = state.city.event_types[case.event_type]
        resolve_due = deadlines_for(event, now, state.calendar).resolve_due
        for t in live(tickets):
            if t.status == TicketStatus.resolved:
                rework = check(s, TICKET_MOVES, "rework", t, None)
                move_row(
                    s,
                    t,
                    rework,
                    now,
                    uid,
                    {"note": text, "resolve_due": resolve_due},
                    rework_count=t.rework_count + 1,
                    resolve_due=resolve_due,
                    resolve_escalated_at=None,
                )
        return case_view(state, s, case, now)


def reject(
    state: AppState,
    principal: Principal,
    *,
    case_id: int,
    reason: str,
    version: int | None = None,
) -> CaseOut:
    """不予立案/作废: the case ends; every live ticket is cancelled."""
    with transaction(state.db.engine) as s:
        case = _begin(s, principal, "reject", case_id, version)
        move = check(s, CASE_MOVES, "reject", case, principal.role)
        text = require_text(reason, "a reason", "reason_required")
        now = utcnow()
        move_row(s, case, move, now, principal.user_id, {"reason": text}, reject_reason=text)
        for t in live(case_tickets(s, case_id)):
            _cancel(s, principal, t, now, "case rejected")
        return case_view(state, s, case, now)


def dispatch_case(
    state: AppState,
    principal: Principal,
    *,
    case_id: int,
    lead_unit: str | None = None,
    support_units: Sequence[str] = (),
    version: int | None = None,
) -> CaseOut:
    """立案+派遣 by hand for a reported case: the rules' answer, or the units named here."""
    with transaction(state.db.engine) as s:
        case = _begin(s, principal, "dispatch", case_id, version)
        move = check(s, CASE_MOVES, "dispatch", case, principal.role)
        if lead_unit is not None:
            assignment = _manual(state, case, lead_unit, support_units)
            routing = "manual"
        elif support_units:
            raise Unprocessable("support units need a lead unit", code="lead_required")
        else:
            try:
                assignment = state.rules.resolve(case.event_type, case.cell)
            except RoutingError as exc:
                raise Unprocessable(
                    str(exc), code="routing_failed", details={"missing": exc.missing}
                ) from None
            routing = f"{assignment.rule.event}|{assignment.rule.area_prefix}"
        now = utcnow()
        move_row(
            s,
            case,
            move,
            now,
            principal.user_id,
            {"auto": False, "lead": assignment.lead, "support": list(assignment.support)},
            dispatched_at=now,
            routing_rule=routing,
        )
        dispatch_tickets(state, s, case, assignment, now, actor_id=principal.user_id)
        return case_view(state, s, case, now)


def reassign(
    state: AppState,
    principal: Principal,
    *,
    case_id: int,
    unit_id: str,
    role: Literal["lead", "support"] = "lead",
    replace_ticket_id: int | None = None,
    version: int | None = None,
) -> CaseOut:
    """改派 after a 回退 or a wrong routing: a new ticket for ``unit_id`` in ``role``.

    The ticket replaced is ``replace_ticket_id`` if given, else (for the lead) the live lead
    ticket; a replaced ticket still live is cancelled, a returned one stays as it is. A
    support reassignment without ``replace_ticket_id`` only adds the unit. A case waiting
    for verification goes back to dispatched, since the new unit has work to do.
    """
    with transaction(state.db.engine) as s:
        case = _begin(s, principal, "reassign", case_id, version)
        move = check(s, CASE_MOVES, "reassign", case, principal.role)
        if unit_id not in state.city.units:
            raise Unprocessable(
                f"unknown unit {unit_id!r}", code="unknown_unit", details={"unit_id": unit_id}
            )
        tickets = case_tickets(s, case_id)
        if any(t.unit_id == unit_id for t in live(tickets)):
            raise Unprocessable(
                f"unit {unit_id!r} already has a live ticket on this case",
                code="unit_already_assigned",
                details={"unit_id": unit_id},
            )
        old = _replaced(tickets, role, replace_ticket_id)
        now, uid = utcnow(), principal.user_id
        move_row(
            s,
            case,
            move,
            now,
            uid,
            {
                "unit_id": unit_id,
                "role": role,
                "replaces": old.id if old else None,
                "replaced_unit": old.unit_id if old else None,
            },
            resolved_at=None,
            verify_due=None,
        )
        if old is not None and old.status not in (TicketStatus.returned, TicketStatus.cancelled):
            _cancel(s, principal, old, now, f"reassigned to {unit_id}")
        open_ticket(state, s, case, unit_id, TicketRole(role), now, uid)
        return case_view(state, s, case, now)


def _replaced(tickets: list[Ticket], role: str, ticket_id: int | None) -> Ticket | None:
    if ticket_id is not None:
        for t in tickets:
            if t.id == ticket_id:
                if t.role != role:
                    raise Unprocessable(
                        f"ticket {ticket_id} is not a {role} ticket", code="role_mismatch"
                    )
                return t
        raise Unprocessable(
            f"ticket {ticket_id} is not part of this case",
            code="unknown_ticket",
            details={"ticket_id": ticket_id},
        )
    if role == TicketRole.lead:
        leads = [t for t in live(tickets) if t.role == TicketRole.lead]
        return leads[-1] if leads else None
    return None


def reopen(
    state: AppState,
    principal: Principal,
    *,
    case_id: int,
    reason: str,
    version: int | None = None,
) -> CaseOut:
    """重办: a closed or verifying case goes back to its last lead and support units.

    The old live tickets are cancelled (their resolution stays in the event log), so a
    unit never holds two live tickets of one case; the new ones start with fresh clocks.
    """
    with transaction(state.db.engine) as s:
        case = _begin(s, principal, "reopen", case_id, version)
        move = check(s, CASE_MOVES, "reopen", case, principal.role)
        text = require_text(reason, "a reason", "reason_required")
        working = live(case_tickets(s, case_id))
        leads = [t.unit_id for t in working if t.role == TicketRole.lead]
        if not leads:
            raise Unprocessable(
                "the case has no lead unit to reopen it with; dispatch it anew", code="no_lead"
            )
        support = [t.unit_id for t in working if t.role == TicketRole.support]
        assignment = _manual(state, case, leads[-1], support)
        now = utcnow()
        move_row(
            s,
            case,
            move,
            now,
            principal.user_id,
            {"reason": text, "lead": assignment.lead, "support": list(assignment.support)},
            closed_at=None,
            closed_by=None,
            resolved_at=None,
            verify_due=None,
        )
        for t in working:
            _cancel(s, principal, t, now, "case reopened")
        dispatch_tickets(state, s, case, assignment, now, actor_id=principal.user_id)
        return case_view(state, s, case, now)
