"""POST requests: an Open311 request becomes a report through the app's own intake.

The form is checked here (the spec's 400s, every problem listed at once), then the very
path of ``POST /api/v1/reports`` runs: ``prepare`` (locate, route) and the intake writer
(deduplicate, write case, tickets, events and the idempotency record in one transaction).
The client's service account is the reporter.

Idempotency: Open311 has no Idempotency-Key, so one is derived from a hash of the
normalised request and a time bucket of ``open311_repeat_window_minutes``. The previous
bucket's key is reused when it was answered, so an identical POST within the window always
gets the same request id (and at most two windows apart, it may).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from pydantic import AnyHttpUrl, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlmodel import Session, col
from starlette.concurrency import run_in_threadpool

from dispatch.auth.principal import Principal
from dispatch.cases.intake import prepare
from dispatch.cases.models import IdempotencyRecord, Report
from dispatch.cases.schemas import ReportIn
from dispatch.dbtypes import utcnow
from dispatch.open311.keys import client_name
from dispatch.open311.params import Open311Error, Params, first
from dispatch.open311.questions import check_answers, summary_zh
from dispatch.open311.reads import STATUS_NOTES
from dispatch.ops.metrics import count_report
from dispatch.state import AppState

MAX_DESCRIPTION = 4000
MAX_MEDIA_URL = 2000
_URL: TypeAdapter[AnyHttpUrl] = TypeAdapter(AnyHttpUrl)
NO_GEOCODING = (
    "address_string alone cannot be located: no geocoder is configured here; send lat and "
    "long (WGS-84), or address_id (a unit-cell code, 单元网格编码)"
)


def attribute_answers(params: Params) -> dict[str, list[str]]:
    """``attribute[code]=v`` and ``attribute[code][]=v1&attribute[code][]=v2`` by code."""
    out: dict[str, list[str]] = {}
    for name, values in params.items():
        if name.startswith("attribute[") and name.endswith("]"):
            code = name[len("attribute[") :].removesuffix("[]").removesuffix("]")
            out.setdefault(code, []).extend(values)
    return out


def _point(state: AppState, params: Params, problems: list[str]) -> tuple[float, float] | None:
    """WGS-84 lon/lat from lat+long, or the inside of the cell named by address_id."""
    lat, lon = first(params, "lat"), first(params, "long")
    if lat is not None or lon is not None:
        if lat is None or lon is None:
            problems.append("lat and long must be sent together")
            return None
        try:
            y, x = float(lat), float(lon)
        except ValueError:
            problems.append("lat and long must be decimal degrees (WGS-84)")
            return None
        if not (math.isfinite(x) and math.isfinite(y) and -90 <= y <= 90 and -180 <= x <= 180):
            problems.append("lat must be within ±90 and long within ±180 (WGS-84)")
            return None
        return x, y
    cell = first(params, "address_id")
    if cell is not None:
        if cell not in state.grid:
            problems.append(f"address_id {cell!r} is not a unit-cell code of this city")
            return None
        inside = state.grid.geoms[state.grid.position(cell)].point_on_surface()
        return float(inside.x), float(inside.y)
    if first(params, "address_string") is not None:
        problems.append(NO_GEOCODING)
    else:
        problems.append("a location is required: lat and long, or address_id")
    return None


def _media_url(params: Params, problems: list[str]) -> str | None:
    url = first(params, "media_url")
    if url is None:
        return None
    try:
        _URL.validate_python(url)
    except ValidationError:
        problems.append("media_url must be an http(s) URL")
        return None
    if len(url) > MAX_MEDIA_URL:
        problems.append(f"media_url has at most {MAX_MEDIA_URL} characters")
        return None
    return url


def read_filing(
    state: AppState, principal: Principal, params: Params
) -> tuple[ReportIn, dict[str, Any]]:
    """The report to file and what the channel adds; Open311Error lists what is wrong.

    Personal fields (email, first_name, last_name, phone, device_id, account_id) are
    accepted and dropped: the city keeps no citizen's personal data from Open311.
    """
    code = first(params, "service_code")
    if code is not None and code not in state.city.event_types:
        raise Open311Error(404, f"service_code {code!r} not found")
    problems: list[str] = [] if code else ["service_code is required"]
    point = _point(state, params, problems)
    description = first(params, "description") or ""
    if len(description) > MAX_DESCRIPTION:
        problems.append(f"description has at most {MAX_DESCRIPTION} characters")
    if "\x00" in description:
        problems.append("description may not contain NUL characters")
    media_url = _media_url(params, problems)
    questions = state.services.of(code) if code else ()
    answers, wrong = check_answers(questions, attribute_answers(params))
    problems += wrong
    summary = summary_zh(questions, answers)
    text = "\n\n".join(t for t in (description, summary) if t)
    if len(text) > MAX_DESCRIPTION and len(description) <= MAX_DESCRIPTION:
        problems.append(
            f"description and the answers' summary together exceed {MAX_DESCRIPTION} characters"
        )
    if problems or code is None or point is None:
        raise Open311Error(400, *problems)
    extra: dict[str, Any] = {"channel": "open311", "client": client_name(principal)}
    if answers:
        extra["attributes"] = answers
    if media_url:
        extra["media_url"] = media_url
    if address := first(params, "address_string"):
        extra["address_string"] = address[:500]
    return ReportIn(event_type=code, lon=point[0], lat=point[1], description=text), extra


def derived_key(body: ReportIn, extra: dict[str, Any], bucket: int) -> str:
    """The Idempotency-Key of a POST: what was asked (normalised) and when (a time bucket)."""
    asked = {"report": body.model_dump(mode="json"), "extra": extra}
    digest = hashlib.sha256(orjson.dumps(asked, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"open311:{digest[:40]}:{bucket}"


def _answered(state: AppState, user_id: int, key: str) -> bool:
    with Session(state.db.read_engine) as s:
        rec = s.get(IdempotencyRecord, (user_id, key))
        if rec is not None:
            return True
        query = select(col(Report.id)).where(
            col(Report.reporter_id) == user_id, col(Report.client_key) == key
        )
        return s.execute(query).first() is not None


async def file_request(
    state: AppState, principal: Principal, params: Params, lang: str
) -> dict[str, Any]:
    """File the request; the ``request`` element of the answer (id and notice)."""
    body, extra = read_filing(state, principal, params)
    window_s = state.settings.open311_repeat_window_minutes * 60
    bucket = int(utcnow().timestamp() // window_s)
    key = derived_key(body, extra, bucket)
    earlier = derived_key(body, extra, bucket - 1)
    if await run_in_threadpool(_answered, state, principal.user_id, earlier):
        key = earlier
    prepared = prepare(state, principal, key, body)
    prepared = replace(prepared, extra=orjson.dumps(extra, option=orjson.OPT_SORT_KEYS).decode())
    outcome = await state.intake.submit(prepared)
    count_report(outcome.status, outcome.joined, outcome.replayed, "open311")
    case = orjson.loads(outcome.body)
    return {
        "service_request_id": case["case_no"],
        "service_notice": _notice(state, case, lang),
        "account_id": None,
    }


def _notice(state: AppState, case: dict[str, Any], lang: str) -> str:
    """What happens next, from intake's answer: joined, dispatched, or waiting."""
    en = lang == "en"
    if case.get("joined_existing"):
        n = case["report_count"]
        if en:
            return (
                "An open case for the same problem nearby already exists; "
                f"this report joined it ({n} reports)."
            )
        return f"附近已有同类问题的案卷，本次上报已并入（共 {n} 次上报）。"
    lead = next((u for u in case["units"] if u["role"] == "lead"), None)
    if case["status"] != "dispatched" or lead is None:
        return STATUS_NOTES[lang][case["status"]]
    due = _local(lead["resolve_due"], ZoneInfo(state.city.calendar.timezone))
    if en:
        return f"Dispatched to {lead['unit_name_en']}; to be resolved by {due}."
    return f"已派遣至{lead['unit_name_zh']}，应于 {due} 前处置完毕。"


def _local(iso: str, tz: ZoneInfo) -> str:
    """A time of intake's answer in the city's zone, to the minute (2026-03-02 15:43 +08:00)."""
    t = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(tz)
    return t.strftime("%Y-%m-%d %H:%M ") + t.isoformat()[-6:]
