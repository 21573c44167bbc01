"""POST /api/v1/reports: thin; the work is in intake.py and writer.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from dispatch.cases.intake import check_key, prepare
from dispatch.cases.schemas import ReportIn, ReportOut
from dispatch.deps import PrincipalDep, StateDep
from dispatch.ops.metrics import count_report

router = APIRouter(prefix="/api/v1", tags=["reports"])


@router.post(
    "/reports",
    status_code=201,
    response_model=ReportOut,
    responses={
        200: {"description": "replay of a report whose idempotency record has expired"},
        400: {"description": "Idempotency-Key missing or malformed"},
        422: {"description": "unknown event type, outside the city, key reused with another body"},
    },
)
async def post_report(
    body: ReportIn,
    state: StateDep,
    principal: PrincipalDep,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="REQUIRED (400 without it): a UUID made when the report was captured, "
            "8–255 characters; the same key and body replay the first answer"
        ),
    ] = None,
) -> Response:
    """File a report (上报). Retries with the same key and body return the first answer."""
    key = check_key(idempotency_key)
    prepared = prepare(state, principal, key, body)
    outcome = await state.intake.submit(prepared)
    count_report(outcome.status, outcome.joined, outcome.replayed, "api")
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return Response(outcome.body, outcome.status, headers, media_type="application/json")
