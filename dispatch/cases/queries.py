"""Reading cases: one case with its photos and timeline, and filtered pages of cases.

Who may see what is decided in the query itself (a worker's page never holds another
beat's cases, then filtered away): :func:`visibility` turns the caller into a WHERE clause
that matches ``Principal.may_see_case``. Reads use the read engine (on SQLite a WAL reader
that never waits for the intake writer).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.orm import Session
from sqlmodel import col

from dispatch.auth.models import User
from dispatch.auth.principal import Principal
from dispatch.cases.models import Case
from dispatch.cases.schemas import CaseOut
from dispatch.cases.schemas_read import CaseDetail, CasePage, PhotoRef, TimelineEntry
from dispatch.cases.views import case_out
from dispatch.dbtypes import utcnow
from dispatch.enums import CaseStatus, Role, TicketStatus
from dispatch.errors import NotFound
from dispatch.feed.models import Event
from dispatch.photos.models import Photo
from dispatch.state import AppState
from dispatch.tickets.models import Ticket

PHOTO_URL = "/api/v1/photos/{}"
#: events whose actor is the person who reported: withheld from teams and the command centre
REPORTER_EVENTS = frozenset({"case.reported", "case.report_joined"})
#: roles that see what they need to act, not who reported (privacy of the reporter)
REPORTER_HIDDEN_FROM = frozenset({Role.team, Role.commander})
LIVE_WAITING_ACCEPT = (TicketStatus.dispatched,)
LIVE_WORKING = (TicketStatus.accepted, TicketStatus.in_progress)


# ---------------------------------------------------------------- one case


def get_case(state: AppState, principal: Principal, case_id: int) -> CaseDetail:
    """The case with its tickets, photos and timeline; NotFound if absent or not visible."""
    with Session(state.db.read_engine) as s:
        case = s.get(Case, case_id)
        if case is None:
            raise NotFound("no such case", details={"case_id": case_id})
        tickets = (
            s.execute(select(Ticket).where(col(Ticket.case_id) == case_id).order_by(col(Ticket.id)))
            .scalars()
            .all()
        )
        unit_ids = {t.unit_id for t in tickets}
        if not principal.may_see_case(
            reporter_id=case.reporter_id, cell=case.cell, unit_ids=unit_ids
        ):
            raise NotFound("no such case", details={"case_id": case_id})
        photos = (
            s.execute(
                select(Photo)
                .where(col(Photo.case_id) == case_id)
                .order_by(col(Photo.uploaded_at), col(Photo.id))
            )
            .scalars()
            .all()
        )
        events = s.execute(
            select(Event, col(User.username), col(User.role))
            .outerjoin(User, col(User.id) == col(Event.actor_id))
            .where(col(Event.case_id) == case_id)
            .order_by(col(Event.seq))
        ).all()
    out = case_out(state, case, tickets, [p.id for p in photos])
    return CaseDetail(
        **out.model_dump(),
        photos=[
            PhotoRef(
                id=p.id,
                kind=p.kind.value if p.kind else None,
                ticket_id=p.ticket_id,
                url=PHOTO_URL.format(p.id),
            )
            for p in photos
        ],
        timeline=[_entry(principal, ev, name, role, case.reporter_id) for ev, name, role in events],
    )


def _entry(
    principal: Principal, ev: Event, username: str | None, role: Role | None, reporter_id: int
) -> TimelineEntry:
    """Reporters stay anonymous to teams and commanders: in any event they made, and in
    every report event (a joined report names its own reporter)."""
    assert ev.seq is not None
    hidden = (
        username is not None
        and principal.role in REPORTER_HIDDEN_FROM
        and (ev.type in REPORTER_EVENTS or ev.actor_id == reporter_id)
    )
    role_name = role.value if role is not None else None
    return TimelineEntry(
        seq=ev.seq,
        type=ev.type,
        at=ev.at,
        actor=role_name if hidden else username,
        actor_role=role_name,
        actor_hidden=hidden,
        ticket_id=ev.ticket_id,
        unit_id=ev.unit_id,
        from_status=ev.from_status,
        to_status=ev.to_status,
        data=_data(ev.data),
    )


def _data(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"raw": text}
    return value if isinstance(value, dict) else {"value": value}


# ---------------------------------------------------------------- pages


def visibility(principal: Principal) -> ColumnElement[bool] | None:
    """The WHERE clause of the cases the caller may see (None: all of them)."""
    if principal.sees_city:
        return None
    if principal.role is Role.worker:
        own = col(Case.reporter_id) == principal.user_id
        if principal.area_prefix:
            return or_(own, _under(principal.area_prefix))
        return own
    if principal.role is Role.team and principal.unit_id:
        return _has_ticket(col(Ticket.unit_id) == principal.unit_id)
    return false()


def _under(prefix: str) -> ColumnElement[bool]:
    """The case's cell code starts with prefix (LIKE prefix || '%', wildcards escaped)."""
    return col(Case.cell).startswith(prefix, autoescape=True)


def _has_ticket(*conds: ColumnElement[bool]) -> ColumnElement[bool]:
    """EXISTS a ticket of the case matching conds."""
    return select(col(Ticket.id)).where(col(Ticket.case_id) == col(Case.id), *conds).exists()


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """A live ticket past its deadline: acceptance while dispatched, resolution while at work."""
    status = col(Ticket.status)
    return _has_ticket(
        or_(
            and_(status.in_(LIVE_WAITING_ACCEPT), col(Ticket.accept_due) < now),
            and_(status.in_(LIVE_WORKING), col(Ticket.resolve_due) < now),
        )
    )


def list_cases(
    state: AppState,
    principal: Principal,
    *,
    status: CaseStatus | str | None = None,
    unit: str | None = None,
    area: str | None = None,
    event_type: str | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    overdue: bool | None = None,
    since: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> CasePage:
    """A page of the cases the caller may see, newest first, with the total matching."""
    limit = max(1, min(limit, state.settings.max_page_size))
    offset = max(0, offset)
    now = utcnow()
    where: list[ColumnElement[bool]] = []
    scope = visibility(principal)
    if scope is not None:
        where.append(scope)
    if status is not None:
        where.append(col(Case.status) == CaseStatus(status))
    if unit is not None:
        where.append(_has_ticket(col(Ticket.unit_id) == unit))
    if area is not None:
        where.append(_under(area))
    if event_type is not None:
        where.append(col(Case.event_type) == event_type)
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        where.append(col(Case.lon).between(minx, maxx))
        where.append(col(Case.lat).between(miny, maxy))
    if overdue is not None:
        late = overdue_clause(now)
        where.append(late if overdue else ~late)
    if since is not None:
        where.append(col(Case.updated_at) >= since)
    with Session(state.db.read_engine) as s:
        total = s.execute(select(func.count()).select_from(Case).where(*where)).scalar_one()
        cases = (
            s.execute(
                select(Case)
                .where(*where)
                .order_by(col(Case.created_at).desc(), col(Case.id).desc())
                .limit(limit)
                .offset(offset)
            )
            .scalars()
            .all()
        )
        tickets, photos = _page_children(s, [c.id for c in cases if c.id is not None])
    items: list[CaseOut] = [
        case_out(state, c, tickets.get(c.id or 0, ()), photos.get(c.id or 0, ()), now)
        for c in cases
    ]
    return CasePage(items=items, total=total, limit=limit, offset=offset)


def _page_children(
    s: Session, ids: Sequence[int]
) -> tuple[dict[int, list[Ticket]], dict[int, list[str]]]:
    """The tickets and photo ids of a page's cases: one query each, never one per case."""
    tickets: dict[int, list[Ticket]] = defaultdict(list)
    photos: dict[int, list[str]] = defaultdict(list)
    if not ids:
        return tickets, photos
    for t in s.execute(
        select(Ticket).where(col(Ticket.case_id).in_(ids)).order_by(col(Ticket.id))
    ).scalars():
        tickets[t.case_id].append(t)
    for photo_id, case_id in s.execute(
        select(col(Photo.id), col(Photo.case_id))
        .where(col(Photo.case_id).in_(ids))
        .order_by(col(Photo.uploaded_at), col(Photo.id))
    ):
        assert case_id is not None  # the IN filter above excludes NULL
        photos[case_id].append(photo_id)
    return tickets, photos
