"""GET /cases and GET /cases/{id}: thin; visibility and filters live in queries.py.

Plain ``def`` handlers: FastAPI runs them in its threadpool, so the database reads never
block the event loop.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from dispatch.cases.queries import get_case, list_cases
from dispatch.cases.schemas_read import DEFAULT_PAGE_SIZE, CaseDetail, CaseListParams, CasePage
from dispatch.dbtypes import DB_INT_MAX
from dispatch.deps import PrincipalDep, StateDep
from dispatch.enums import CaseStatus

router = APIRouter(prefix="/api/v1", tags=["cases"])


def case_filters(
    state: StateDep,
    status: CaseStatus | None = None,
    unit: Annotated[str | None, Query(description="cases with a ticket of this unit")] = None,
    area: Annotated[str | None, Query(description="area code prefix of the cell")] = None,
    event_type: str | None = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    overdue: Annotated[bool | None, Query(description="a live ticket is past due")] = None,
    since: Annotated[datetime | None, Query(description="updated at or after (with zone)")] = None,
    limit: Annotated[int, Query(ge=1, description="at most settings.max_page_size")] = (
        DEFAULT_PAGE_SIZE
    ),
    offset: Annotated[int, Query(ge=0, le=DB_INT_MAX)] = 0,
) -> CaseListParams:
    raw = {
        "status": status,
        "unit": unit,
        "area": area,
        "event_type": event_type,
        "bbox": bbox,
        "overdue": overdue,
        "since": since,
        "limit": limit,
        "offset": offset,
    }
    try:
        return CaseListParams.model_validate(
            raw, context={"max_page_size": state.settings.max_page_size}
        )
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]
        ) from None


@router.get("/cases", response_model=CasePage)
def cases(
    state: StateDep,
    principal: PrincipalDep,
    filters: Annotated[CaseListParams, Depends(case_filters)],
) -> CasePage:
    """The cases the caller may see, newest first, filtered and paged."""
    return list_cases(state, principal, **filters.model_dump())


@router.get("/cases/{case_id}", response_model=CaseDetail, responses={404: {}})
def case(
    state: StateDep, principal: PrincipalDep, case_id: Annotated[int, Path(ge=1, le=DB_INT_MAX)]
) -> CaseDetail:
    """One case with its tickets, photos and timeline; 404 when absent or not visible."""
    return get_case(state, principal, case_id)
