"""GET requests: cases as Open311 service requests, with no reporter personal data.

A service request is a case (案卷), named by its ``case_no``: every channel's cases are
listed, and a report that joined an open case answers with that case. Shown: the case's
type, text, place, status (open/closed from the workflow), lead unit, resolve deadline
and public photos. Never shown: who reported, their account, contact or device.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session
from sqlmodel import col

from dispatch.cases.models import Case, Report
from dispatch.enums import CaseStatus, TicketRole, TicketStatus
from dispatch.errors import NotFound
from dispatch.open311.params import RequestFilters
from dispatch.photos.models import Photo
from dispatch.state import AppState
from dispatch.tickets.models import Ticket

#: the two statuses of v2, from the workflow's five
OPEN = (CaseStatus.reported, CaseStatus.dispatched, CaseStatus.verifying)
CLOSED = (CaseStatus.closed, CaseStatus.rejected)
STATUS_NOTES = {
    "zh": {
        "reported": "已受理，等待立案派遣",
        "dispatched": "已立案派遣，责任单位处置中",
        "verifying": "责任单位已处置完毕，等待现场核查",
        "closed": "已核查结案",
        "rejected": "不予立案",
        "self_handled": "网格员现场处置，已结案",
    },
    "en": {
        "reported": "Received; waiting to be registered and dispatched",
        "dispatched": "Registered and dispatched; the responsible unit is at work",
        "verifying": "Handled by the responsible unit; waiting for an on-site check",
        "closed": "Checked on site and closed",
        "rejected": "Not registered (不予立案)",
        "self_handled": "Fixed on the spot by a grid worker and closed",
    },
}
NOT_LIVE = (TicketStatus.returned, TicketStatus.cancelled)
MediaUrl = Callable[[str], str]


def w3(t: datetime | None) -> str | None:
    """A w3 date-time in UTC with Z, to the second."""
    return None if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_notes(case: Case, lang: str) -> str:
    key = "self_handled" if case.self_handled and case.status == "closed" else case.status.value
    return STATUS_NOTES[lang][key]


def find_requests(
    state: AppState, f: RequestFilters, lang: str, media_url: MediaUrl
) -> list[dict[str, Any]]:
    """One page of requests, newest requested first; ids override every other filter."""
    where: list[ColumnElement[bool]] = []
    if f.ids:
        where.append(col(Case.case_no).in_(f.ids))
    else:
        if f.service_codes:
            where.append(col(Case.event_type).in_(f.service_codes))
        if f.statuses:
            wanted = [s for name in f.statuses for s in (OPEN if name == "open" else CLOSED)]
            where.append(col(Case.status).in_(wanted))
        if f.start is not None:
            where.append(col(Case.created_at) >= f.start)
        if f.end is not None:
            where.append(col(Case.created_at) <= f.end)
        if f.updated_after is not None:
            where.append(col(Case.updated_at) >= f.updated_after)
        if f.updated_before is not None:
            where.append(col(Case.updated_at) <= f.updated_before)
    query = (
        select(Case)
        .where(*where)
        .order_by(col(Case.created_at).desc(), col(Case.id).desc())
        .limit(f.page_size)
        .offset((f.page - 1) * f.page_size)
    )
    with Session(state.db.read_engine) as s:
        cases = s.execute(query).scalars().all()
        return _documents(state, s, cases, lang, media_url, f.extensions)


def get_request(
    state: AppState, request_id: str, lang: str, media_url: MediaUrl, extensions: bool
) -> dict[str, Any]:
    with Session(state.db.read_engine) as s:
        case = (
            s.execute(select(Case).where(col(Case.case_no) == request_id)).scalars().one_or_none()
        )
        if case is None:
            raise NotFound(f"service_request_id {request_id!r} not found")
        return _documents(state, s, [case], lang, media_url, extensions)[0]


def _documents(
    state: AppState,
    s: Session,
    cases: Sequence[Case],
    lang: str,
    media_url: MediaUrl,
    extensions: bool,
) -> list[dict[str, Any]]:
    """The request documents of some cases: three queries for the lot, never one per case."""
    ids = [c.id for c in cases if c.id is not None]
    leads: dict[int, list[Ticket]] = defaultdict(list)
    photos: dict[int, list[str]] = defaultdict(list)
    extras: dict[int, dict[str, Any]] = {}
    if ids:
        for t in s.execute(
            select(Ticket)
            .where(col(Ticket.case_id).in_(ids), col(Ticket.role) == TicketRole.lead)
            .order_by(col(Ticket.id))
        ).scalars():
            leads[t.case_id].append(t)
        for pid, cid in s.execute(
            select(col(Photo.id), col(Photo.case_id))
            .where(col(Photo.case_id).in_(ids), col(Photo.public))
            .order_by(col(Photo.uploaded_at), col(Photo.id))
        ):
            assert cid is not None  # the IN filter excludes NULL
            photos[cid].append(pid)
        for cid, text in s.execute(
            select(col(Report.case_id), col(Report.extra)).where(
                col(Report.case_id).in_(ids),
                col(Report.joined_existing).is_(False),
                col(Report.extra).is_not(None),
            )
        ):
            extras[cid] = json.loads(text or "{}")
    out = []
    for c in cases:
        assert c.id is not None
        doc = _document(state, c, _lead(leads[c.id]), lang, extras.get(c.id, {}))
        public = photos.get(c.id)
        doc["media_url"] = media_url(public[0]) if public else extras.get(c.id, {}).get("media_url")
        if extensions:
            doc.update(_extensions(state, c, extras.get(c.id, {})))
        out.append(doc)
    return out


def _lead(tickets: Iterable[Ticket]) -> Ticket | None:
    """The newest live lead ticket, else the newest lead ticket at all."""
    ordered = sorted(tickets, key=lambda t: t.id or 0, reverse=True)
    live = [t for t in ordered if t.status not in NOT_LIVE]
    return next(iter(live or ordered), None)


def _document(
    state: AppState, c: Case, lead: Ticket | None, lang: str, extra: dict[str, Any]
) -> dict[str, Any]:
    en = lang == "en"
    et = state.city.event_types[c.event_type]
    unit = state.city.units.get(lead.unit_id) if lead else None
    return {
        "service_request_id": c.case_no,
        "status": "open" if c.status in OPEN else "closed",
        "status_notes": status_notes(c, lang),
        "service_name": et.name_en if en else et.name_zh,
        "service_code": c.event_type,
        "description": c.description,
        "agency_responsible": (unit.name_en if en else unit.name_zh) if unit else None,
        "service_notice": None,
        "requested_datetime": w3(c.created_at),
        "updated_datetime": w3(c.updated_at),
        "expected_datetime": w3(lead.resolve_due) if lead else None,
        "address": extra.get("address_string") or _address(state, c, en),
        "address_id": c.cell,
        "zipcode": None,
        "lat": c.lat,
        "long": c.lon,
        "media_url": None,
    }


def _address(state: AppState, c: Case, en: bool) -> str:
    """The case's community, street office and district: most specific first, as the spec asks."""
    names = []
    areas = state.grids.areas(c.grid_version)
    for code in (c.community, c.street, c.district):
        area = areas.get(code)
        names.append((area.name_en if en else area.name_zh) if area else code)
    return ", ".join(names)


def _extensions(state: AppState, c: Case, extra: dict[str, Any]) -> dict[str, Any]:
    """``extensions=true`` (the wiki's extended attributes): the answers and the workflow."""
    answers = extra.get("attributes", {})
    order = [q.code for q in state.services.of(c.event_type)]
    codes = sorted(answers, key=lambda k: order.index(k) if k in order else len(order))
    return {
        "attributes": [
            {"code": k, "values": [answers[k]] if isinstance(answers[k], str) else answers[k]}
            for k in codes
        ],
        "extended_attributes": {
            "workflow_status": c.status.value,
            "report_count": c.report_count,
        },
    }
