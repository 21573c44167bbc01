"""Intake: a grid worker's report becomes a located, routed, dispatched case.

``prepare`` does everything that needs no database (key and body checks, coordinate
conversion, cell lookup, routing) in the request; ``write_one`` runs inside the intake
writer's batch transaction (see writer.py) and writes the case, its tickets, events,
photos and the idempotency record together.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import func, select, text
from sqlmodel import Session, col

from dispatch.auth.principal import Principal
from dispatch.cases.duplicates import cells_near, duplicate_candidates
from dispatch.cases.models import Case, IdempotencyRecord, Report
from dispatch.cases.schemas import ReportIn, ReportOut
from dispatch.cases.views import case_out
from dispatch.citydata import EventType
from dispatch.dbtypes import utcnow
from dispatch.enums import CaseStatus, PhotoKind, Role, TicketRole, TicketStatus
from dispatch.errors import BadRequest, Forbidden, Unprocessable
from dispatch.feed.log import record
from dispatch.photos.service import attach_photos
from dispatch.routing.rules import Assignment, RoutingError
from dispatch.state import AppState
from dispatch.tickets.deadlines import deadlines_for
from dispatch.tickets.models import Ticket
from geo import GeoError, Location, OutsideServedAreaError

KEY_RE = re.compile(r"^[A-Za-z0-9._~:+/=-]{8,255}$")
#: a report captured this far in the future is refused: the phone's clock is wrong
CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class Prepared:
    principal: Principal
    key: str
    fingerprint: str
    body: ReportIn
    event: EventType
    loc: Location
    assignment: Assignment | None
    received_at: datetime
    captured_at: datetime
    #: JSON a channel adds to the report (Open311's answers), stored as ``report.extra``
    extra: str | None = None
    #: the cells within the duplicate radius (duplicates.cells_near)
    near_cells: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Outcome:
    status: int
    body: str  # JSON
    replayed: bool
    #: the report joined an open case instead of opening one (kept for the metrics, which
    #: would otherwise parse the body)
    joined: bool = False


def check_key(key: str | None) -> str:
    if key is None:
        raise BadRequest(
            "header Idempotency-Key is required: a UUID made when the report was captured",
            code="idempotency_key_missing",
        )
    if not KEY_RE.fullmatch(key):
        raise BadRequest(
            "Idempotency-Key must be 8–255 characters of A–Z a–z 0–9 . _ ~ : + / = -",
            code="idempotency_key_malformed",
        )
    return key


def prepare(state: AppState, principal: Principal, key: str, body: ReportIn) -> Prepared:
    """Checks and lookups that need no database; raises a 4xx domain error on bad input."""
    if principal.role not in (Role.worker, Role.dispatcher, Role.admin):
        raise Forbidden("only grid workers and dispatchers file reports")
    fingerprint = hashlib.sha256(
        json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()
    event = state.city.event_types.get(body.event_type)
    if event is None:
        raise Unprocessable(
            f"unknown event type {body.event_type!r}",
            code="unknown_event_type",
            details={"event_type": body.event_type},
        )
    try:
        loc = state.grid.locate(body.lon, body.lat, crs=body.crs, accuracy_m=body.accuracy_m)
    except OutsideServedAreaError as exc:
        raise Unprocessable(
            str(exc),
            code="outside_served_area",
            details={"distance_m": round(exc.distance_m), "tolerance_m": exc.tolerance_m},
        ) from None
    except GeoError as exc:
        raise Unprocessable(str(exc), code="invalid_coordinates") from None
    now = utcnow()
    captured = body.captured_at or now
    if captured > now + CLOCK_SKEW:
        raise Unprocessable("captured_at is in the future", code="captured_in_future")
    if body.self_handled and not (body.photo_ids and body.after_photo_ids):
        raise Unprocessable(
            "a self-handled report (自处理) needs before photos and after photos",
            code="self_handled_needs_photos",
        )
    assignment = None
    if state.settings.auto_dispatch and not body.self_handled:
        try:
            assignment = state.rules.resolve(event.code, loc.cell)
        except RoutingError:
            assignment = None  # never lose a report: a dispatcher routes it by hand
    return Prepared(
        principal,
        key,
        fingerprint,
        body,
        event,
        loc,
        assignment,
        now,
        captured,
        near_cells=cells_near(state, loc),
    )


def write_one(state: AppState, s: Session, p: Prepared) -> Outcome:
    """Write one report inside the caller's transaction (a savepoint of the batch)."""
    uid = p.principal.user_id
    rec = s.get(IdempotencyRecord, (uid, p.key))
    if rec is not None:
        if rec.fingerprint != p.fingerprint:
            raise Unprocessable(
                "this Idempotency-Key was used for a different report",
                code="idempotency_key_reused",
            )
        return Outcome(rec.status_code, rec.body, True, joined=old_joined(rec.body))
    old = s.execute(
        select(Report).where(col(Report.reporter_id) == uid, col(Report.client_key) == p.key)
    ).scalar_one_or_none()
    if old is not None:  # the idempotency record was pruned; the report stays unique forever
        body = _answer(state, s, s.get_one(Case, old.case_id), old)
        return Outcome(200, body, True, joined=old.joined_existing)
    case = None if p.body.self_handled else _find_duplicate(state, s, p)
    if case is not None:
        report = _join(s, p, case)
    else:
        case, report = _open_case(state, s, p)
    body = _answer(state, s, case, report, [*p.body.photo_ids, *p.body.after_photo_ids])
    s.add(
        IdempotencyRecord(
            user_id=uid,
            key=p.key,
            fingerprint=p.fingerprint,
            status_code=201,
            body=body,
            created_at=p.received_at,
        )
    )
    return Outcome(201, body, False, joined=report.joined_existing)


def old_joined(body: str) -> bool:
    """Whether a stored answer was a joined report (replays are rare: parsing is fine)."""
    return bool(json.loads(body).get("joined_existing"))


def _find_duplicate(state: AppState, s: Session, p: Prepared) -> Case | None:
    ids = duplicate_candidates(state, s, [p])[0]
    return s.get(Case, ids[0]) if ids else None


def _report(p: Prepared, case_id: int, joined: bool) -> Report:
    b = p.body
    return Report(
        case_id=case_id,
        reporter_id=p.principal.user_id,
        client_key=p.key,
        joined_existing=joined,
        lon=p.loc.lon,
        lat=p.loc.lat,
        input_crs=b.crs,
        input_lon=b.lon,
        input_lat=b.lat,
        accuracy_m=b.accuracy_m,
        description=b.description,
        captured_at=p.captured_at,
        received_at=p.received_at,
        extra=p.extra,
    )


def _join(s: Session, p: Prepared, case: Case) -> Report:
    assert case.id is not None
    case.report_count += 1
    case.version += 1
    case.updated_at = p.received_at
    report = _report(p, case.id, True)
    s.add(report)
    s.flush()
    attach_photos(
        s, p.body.photo_ids, owner_id=p.principal.user_id, case_id=case.id, kind=PhotoKind.report
    )
    record(
        s,
        "case.report_joined",
        actor_id=p.principal.user_id,
        case_id=case.id,
        report_id=report.id,
        count=case.report_count,
    )
    return report


def _next_case_id(s: Session) -> int:
    if s.get_bind().dialect.name == "postgresql":
        return int(
            s.execute(text("SELECT nextval(pg_get_serial_sequence('cases', 'id'))")).scalar_one()
        )
    # SQLite: the intake writer holds the write lock (BEGIN IMMEDIATE); ids never reused
    return int(s.execute(select(func.coalesce(func.max(Case.id), 0))).scalar_one()) + 1


def case_number(case_id: int, at: datetime, tz: tzinfo) -> str:
    """案件编号: the city's local date of filing, then the case id."""
    return f"{at.astimezone(tz):%Y%m%d}-{case_id:06d}"


def _open_case(state: AppState, s: Session, p: Prepared) -> tuple[Case, Report]:
    b, loc, uid, now = p.body, p.loc, p.principal.user_id, p.received_at
    cid = _next_case_id(s)
    status = (
        CaseStatus.closed
        if b.self_handled
        else (CaseStatus.dispatched if p.assignment else CaseStatus.reported)
    )
    case = Case(
        id=cid,
        case_no=case_number(cid, now, state.calendar.tz),
        event_type=p.event.code,
        status=status,
        urgent=p.event.urgent,
        lon=loc.lon,
        lat=loc.lat,
        input_crs=b.crs,
        input_lon=b.lon,
        input_lat=b.lat,
        accuracy_m=b.accuracy_m,
        near_edge=bool(loc.near_edge),
        snapped_m=loc.snapped_m,
        cell=loc.cell,
        community=loc.community,
        street=loc.street,
        district=loc.district,
        grid_version=state.grid_version,
        description=b.description,
        reporter_id=uid,
        self_handled=b.self_handled,
        captured_at=p.captured_at,
        created_at=now,
        updated_at=now,
        dispatched_at=now if p.assignment else None,
        closed_at=now if b.self_handled else None,
        closed_by=uid if b.self_handled else None,
        routing_rule=f"{p.assignment.rule.event}|{p.assignment.rule.area_prefix}"
        if p.assignment
        else None,
    )
    s.add(case)
    report = _report(p, cid, False)
    s.add(report)
    s.flush()
    record(
        s,
        "case.reported",
        actor_id=uid,
        case_id=cid,
        entity="case",
        from_status="",
        to_status=CaseStatus.reported,
        at=now,
        cell=loc.cell,
        event_type=p.event.code,
    )
    if b.self_handled:
        attach_photos(s, b.photo_ids, owner_id=uid, case_id=cid, kind=PhotoKind.before)
        attach_photos(s, b.after_photo_ids, owner_id=uid, case_id=cid, kind=PhotoKind.after)
        record(
            s,
            "case.closed",
            actor_id=uid,
            case_id=cid,
            entity="case",
            from_status=CaseStatus.reported,
            to_status=CaseStatus.closed,
            at=now,
            self_handled=True,
        )
        return case, report
    attach_photos(s, b.photo_ids, owner_id=uid, case_id=cid, kind=PhotoKind.report)
    if p.assignment:
        record(
            s,
            "case.dispatched",
            case_id=cid,
            entity="case",
            from_status=CaseStatus.reported,
            to_status=CaseStatus.dispatched,
            at=now,
            auto=True,
        )
        dispatch_tickets(state, s, case, p.assignment, now, actor_id=None)
    return case, report


def open_ticket(
    state: AppState,
    s: Session,
    case: Case,
    unit_id: str,
    role: TicketRole,
    now: datetime,
    actor_id: int | None,
) -> Ticket:
    """One new ticket, its clock started now, and its ``ticket.dispatched`` event."""
    assert case.id is not None
    accept_due, resolve_due = deadlines_for(
        state.city.event_types[case.event_type], now, state.calendar
    )
    t = Ticket(
        case_id=case.id,
        unit_id=unit_id,
        role=role,
        status=TicketStatus.dispatched,
        dispatched_at=now,
        accept_due=accept_due,
        resolve_due=resolve_due,
        updated_at=now,
    )
    s.add(t)
    s.flush()
    record(
        s,
        "ticket.dispatched",
        actor_id=actor_id,
        case_id=case.id,
        ticket_id=t.id,
        unit_id=unit_id,
        entity="ticket",
        from_status="",
        to_status=TicketStatus.dispatched,
        at=now,
        role=role.value,
        accept_due=accept_due,
        resolve_due=resolve_due,
    )
    return t


def dispatch_tickets(
    state: AppState, s: Session, case: Case, a: Assignment, now: datetime, actor_id: int | None
) -> list[Ticket]:
    """One ticket per responsible unit: the lead (主办) first, then the supporting (协办)."""
    units = [(a.lead, TicketRole.lead), *((u, TicketRole.support) for u in a.support)]
    return [open_ticket(state, s, case, unit, role, now, actor_id) for unit, role in units]


def _answer(
    state: AppState, s: Session, case: Case, report: Report, photo_ids: Sequence[str] = ()
) -> str:
    assert report.id is not None
    tickets = s.execute(select(Ticket).where(col(Ticket.case_id) == case.id)).scalars().all()
    out = case_out(state, case, tickets, photo_ids=photo_ids)
    return ReportOut(
        **out.model_dump(), report_id=report.id, joined_existing=report.joined_existing
    ).model_dump_json()
