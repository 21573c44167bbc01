"""HTTP for the workflow: ticket actions, case actions, the team inbox. Thin on purpose.

Plain ``def`` handlers run in FastAPI's threadpool; the work and every check is in
:mod:`dispatch.tickets.service` and :mod:`dispatch.cases.service`. Bodies refuse unknown
fields. ``version`` is optional everywhere: when sent, a stale one is a 409 naming who
changed the object. Ticket actions answer with the ticket (and its case nested); case
actions answer with the case.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from dispatch.cases import service as cases
from dispatch.cases.schemas import CaseOut
from dispatch.dbtypes import DB_INT_MAX, DbStr
from dispatch.deps import PrincipalDep, StateDep
from dispatch.enums import TicketStatus
from dispatch.tickets import service as tickets
from dispatch.tickets.service import TicketOut, TicketPage

router = APIRouter(prefix="/api/v1", tags=["tickets"])

ERRORS: dict[int | str, dict[str, Any]] = {
    403: {"description": "the caller's role may not do this"},
    404: {"description": "no such object, or not visible to the caller"},
    409: {"description": "wrong state (invalid_transition) or stale version (names the winner)"},
    422: {"description": "missing note/reason/photo, unknown photo or unit"},
}


TicketId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]
CaseId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(default=None, ge=1, description="the version the client saw")


class VersionIn(_In):
    pass


class ResolveIn(_In):
    note: DbStr = Field(max_length=2000)
    photo_ids: list[DbStr] = Field(max_length=9, description="after-photos (≥ 1) you uploaded")


class ReasonIn(_In):
    reason: DbStr = Field(max_length=2000)


class ExtendIn(_In):
    extra: float = Field(
        gt=0, le=1000, description="more time, in the event type's limit unit (limit_unit)"
    )
    reason: DbStr = Field(max_length=2000)


class VerifyIn(_In):
    passed: bool
    note: DbStr = Field(default="", max_length=2000, description="required when not passed")
    photo_ids: list[DbStr] = Field(default_factory=list, max_length=9)


class DispatchIn(_In):
    lead_unit: DbStr | None = Field(default=None, description="omit to route by the rules")
    support_units: list[DbStr] = Field(default_factory=list, max_length=20)


class ReassignIn(_In):
    unit_id: DbStr
    role: Literal["lead", "support"] = "lead"
    replace_ticket_id: int | None = Field(
        default=None, description="the ticket this one replaces (default: the live lead)"
    )


EmptyBody = Annotated[VersionIn | None, Body()]


# ---------------------------------------------------------------- tickets


@router.get("/tickets", response_model=TicketPage, responses={403: ERRORS[403]})
def list_tickets(
    state: StateDep,
    principal: PrincipalDep,
    status: TicketStatus | None = None,
    unit: Annotated[DbStr | None, Query(description="dispatchers: one unit's tickets")] = None,
    limit: Annotated[int, Query(ge=1, description="capped at settings.max_page_size")] = 50,
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
) -> TicketPage:
    """A team's inbox: its unit's live tickets (or those in ``status``), newest first."""
    return tickets.list_tickets(
        state, principal, status=status, unit=unit, limit=limit, offset=offset
    )


@router.get("/tickets/{ticket_id}", response_model=TicketOut, responses={404: ERRORS[404]})
def get_ticket(state: StateDep, principal: PrincipalDep, ticket_id: TicketId) -> TicketOut:
    return tickets.get_ticket(state, principal, ticket_id=ticket_id)


@router.post("/tickets/{ticket_id}/accept", response_model=TicketOut, responses=ERRORS)
def accept(
    state: StateDep, principal: PrincipalDep, ticket_id: TicketId, body: EmptyBody = None
) -> TicketOut:
    """签收: the caller's team takes the ticket."""
    version = body.version if body else None
    return tickets.accept(state, principal, ticket_id=ticket_id, version=version)


@router.post("/tickets/{ticket_id}/start", response_model=TicketOut, responses=ERRORS)
def start(
    state: StateDep, principal: PrincipalDep, ticket_id: TicketId, body: EmptyBody = None
) -> TicketOut:
    """到场: the team is on site."""
    version = body.version if body else None
    return tickets.start(state, principal, ticket_id=ticket_id, version=version)


@router.post("/tickets/{ticket_id}/resolve", response_model=TicketOut, responses=ERRORS)
def resolve(
    state: StateDep, principal: PrincipalDep, ticket_id: TicketId, body: ResolveIn
) -> TicketOut:
    """处置完毕 with a note and after-photos; the last live ticket sends the case to 核查."""
    return tickets.resolve(
        state,
        principal,
        ticket_id=ticket_id,
        note=body.note,
        photo_ids=body.photo_ids,
        version=body.version,
    )


@router.post("/tickets/{ticket_id}/return", response_model=TicketOut, responses=ERRORS)
def return_ticket(
    state: StateDep, principal: PrincipalDep, ticket_id: TicketId, body: ReasonIn
) -> TicketOut:
    """回退: not this unit's work; the dispatcher re-routes it."""
    return tickets.return_ticket(
        state, principal, ticket_id=ticket_id, reason=body.reason, version=body.version
    )


@router.post("/tickets/{ticket_id}/extend", response_model=TicketOut, responses=ERRORS)
def extend(
    state: StateDep, principal: PrincipalDep, ticket_id: TicketId, body: ExtendIn
) -> TicketOut:
    """延期 (approved extension): the resolve due moves on by ``extra`` limit units."""
    return tickets.extend(
        state,
        principal,
        ticket_id=ticket_id,
        extra=body.extra,
        reason=body.reason,
        version=body.version,
    )


# ---------------------------------------------------------------- cases


@router.post("/cases/{case_id}/verify", response_model=CaseOut, responses=ERRORS)
def verify(state: StateDep, principal: PrincipalDep, case_id: CaseId, body: VerifyIn) -> CaseOut:
    """核查 by a grid worker who resolved none of its tickets: pass → 结案, fail → 返工."""
    return cases.verify(
        state,
        principal,
        case_id=case_id,
        passed=body.passed,
        note=body.note,
        photo_ids=body.photo_ids,
        version=body.version,
    )


@router.post("/cases/{case_id}/reject", response_model=CaseOut, responses=ERRORS)
def reject(state: StateDep, principal: PrincipalDep, case_id: CaseId, body: ReasonIn) -> CaseOut:
    """不予立案/作废: the case ends and its live tickets are cancelled."""
    return cases.reject(state, principal, case_id=case_id, reason=body.reason, version=body.version)


@router.post("/cases/{case_id}/dispatch", response_model=CaseOut, responses=ERRORS)
def dispatch(
    state: StateDep, principal: PrincipalDep, case_id: CaseId, body: DispatchIn
) -> CaseOut:
    """立案+派遣 of a reported case, by the rules or to the units named."""
    return cases.dispatch_case(
        state,
        principal,
        case_id=case_id,
        lead_unit=body.lead_unit,
        support_units=body.support_units,
        version=body.version,
    )


@router.post("/cases/{case_id}/reassign", response_model=CaseOut, responses=ERRORS)
def reassign(
    state: StateDep, principal: PrincipalDep, case_id: CaseId, body: ReassignIn
) -> CaseOut:
    """改派: a new ticket for another unit, replacing a returned or wrongly sent one."""
    return cases.reassign(
        state,
        principal,
        case_id=case_id,
        unit_id=body.unit_id,
        role=body.role,
        replace_ticket_id=body.replace_ticket_id,
        version=body.version,
    )


@router.post("/cases/{case_id}/reopen", response_model=CaseOut, responses=ERRORS)
def reopen(state: StateDep, principal: PrincipalDep, case_id: CaseId, body: ReasonIn) -> CaseOut:
    """重办: a closed or verifying case goes back to its last units."""
    return cases.reopen(state, principal, case_id=case_id, reason=body.reason, version=body.version)
