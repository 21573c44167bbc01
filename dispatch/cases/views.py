"""Rows → API shapes, with names and deadline colours filled from the loaded city."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from dispatch.cases.models import Case
from dispatch.cases.schemas import CaseOut, EventTypeRef, LocationOut, UnitTicketOut
from dispatch.dbtypes import utcnow
from dispatch.enums import TicketStatus
from dispatch.state import AppState
from dispatch.tickets.deadlines import traffic_light
from dispatch.tickets.models import Ticket


def deadline_light(
    state: AppState,
    status: str,
    dispatched_at: datetime,
    accept_due: datetime,
    resolve_due: datetime,
    event_code: str,
    now: datetime,
) -> str:
    """green / yellow / red for the step a ticket is in; "done" when it waits on no one."""
    unit = state.city.event_types[event_code].limit_unit
    if status == TicketStatus.dispatched:
        return traffic_light(dispatched_at, accept_due, now, unit, state.calendar)
    if status in (TicketStatus.accepted, TicketStatus.in_progress):
        return traffic_light(dispatched_at, resolve_due, now, unit, state.calendar)
    return "done"


def deadline_state(state: AppState, t: Ticket, event_code: str, now: datetime) -> str:
    return deadline_light(
        state, t.status, t.dispatched_at, t.accept_due, t.resolve_due, event_code, now
    )


def ticket_out(state: AppState, t: Ticket, event_code: str, now: datetime) -> UnitTicketOut:
    unit = state.city.units.get(t.unit_id)
    assert t.id is not None
    return UnitTicketOut(
        ticket_id=t.id,
        unit_id=t.unit_id,
        unit_name_zh=unit.name_zh if unit else t.unit_id,
        unit_name_en=unit.name_en if unit else t.unit_id,
        role=t.role.value,
        status=t.status.value,
        version=t.version,
        accept_due=t.accept_due,
        resolve_due=t.resolve_due,
        deadline_state=deadline_state(state, t, event_code, now),
    )


def case_out(
    state: AppState,
    case: Case,
    tickets: Iterable[Ticket],
    photo_ids: Iterable[str] = (),
    now: datetime | None = None,
) -> CaseOut:
    now = now or utcnow()
    et = state.city.event_types[case.event_type]
    areas = state.grids.areas(case.grid_version)  # an old case: its own version's names

    def name(code: str) -> str:
        a = areas.get(code)
        return a.name_zh if a else code

    assert case.id is not None
    return CaseOut(
        id=case.id,
        case_no=case.case_no,
        status=case.status.value,
        version=case.version,
        event_type=EventTypeRef(
            code=et.code,
            name_zh=et.name_zh,
            name_en=et.name_en,
            class_code=et.class_code,
            urgent=et.urgent,
        ),
        location=LocationOut(
            lon=case.lon,
            lat=case.lat,
            input_crs=case.input_crs,
            input_lon=case.input_lon,
            input_lat=case.input_lat,
            accuracy_m=case.accuracy_m,
            near_edge=case.near_edge,
            snapped_m=case.snapped_m,
            cell=case.cell,
            community=case.community,
            street=case.street,
            district=case.district,
            grid_version=case.grid_version,
            community_name=name(case.community),
            street_name=name(case.street),
            district_name=name(case.district),
        ),
        description=case.description,
        units=[
            ticket_out(state, t, case.event_type, now)
            for t in sorted(tickets, key=lambda t: (t.role != "lead", t.id or 0))
        ],
        report_count=case.report_count,
        rework_count=case.rework_count,
        self_handled=case.self_handled,
        created_at=case.created_at,
        captured_at=case.captured_at,
        dispatched_at=case.dispatched_at,
        resolved_at=case.resolved_at,
        verify_due=case.verify_due,
        closed_at=case.closed_at,
        reject_reason=case.reject_reason,
        photo_ids=list(photo_ids),
    )
