"""GET /stats/…: figure tables (JSON, CSV, XLSX), hotspot GeoJSON, the district report."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from dispatch.deps import PrincipalDep, StateDep
from dispatch.stats import hotspots, service
from dispatch.stats.export import to_csv, to_xlsx
from dispatch.stats.report import district_report
from dispatch.stats.schemas import FigureTable, StatsQuery

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])

Format = Literal["json", "csv", "xlsx"]
CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
GEOJSON = "application/geo+json"
_DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {"content": {CSV: {}, XLSX: {}}, "description": "JSON, or a download with format"}
}
_GEOJSON_DOC: dict[int | str, dict[str, Any]] = {200: {"content": {GEOJSON: {}}}}


def stats_query(
    state: StateDep,
    first: Annotated[
        date | None, Query(alias="from", description="first local day (default: this month)")
    ] = None,
    last: Annotated[date | None, Query(alias="to", description="last local day, included")] = None,
    area: Annotated[
        str, Query(description="area-code prefix: district, street, community, cell")
    ] = "",
    unit: Annotated[str | None, Query(description="only this unit's figures")] = None,
    event_class: Annotated[
        str | None, Query(alias="class", description="event class, e.g. 06")
    ] = None,
) -> StatsQuery:
    today = datetime.now(state.stats.tz).date()
    raw = {
        "from": first or today.replace(day=1),
        "to": last or today,
        "area": area,
        "unit": unit,
        "class": event_class,
    }
    try:
        return StatsQuery.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]
        ) from None


QueryDep = Annotated[StatsQuery, Depends(stats_query)]


def _answer(table: FigureTable, fmt: Format) -> Any:
    if fmt == "json":
        return table
    name = f"stats-{table.view}-{table.first.isoformat()}_{table.last.isoformat()}"
    if table.area:
        name += f"-{table.area}"
    if fmt == "csv":
        body, media = to_csv(table), CSV
    else:
        body, media = to_xlsx(table), XLSX
    headers = {"Content-Disposition": f'attachment; filename="{name}.{fmt}"'}
    return Response(body, media_type=media, headers=headers)


@router.get("/units", response_model=FigureTable, responses=_DOWNLOADS)
def units(state: StateDep, principal: PrincipalDep, q: QueryDep, format: Format = "json") -> Any:
    """Per unit: counts, rates, step times, overdue now, composite score and rank."""
    return _answer(service.units_table(state, principal, q), format)


@router.get("/areas", response_model=FigureTable, responses=_DOWNLOADS)
def areas(state: StateDep, principal: PrincipalDep, q: QueryDep, format: Format = "json") -> Any:
    """Per area one level below `area` (districts of the city, streets of a district…)."""
    return _answer(service.areas_table(state, principal, q), format)


@router.get("/event-types", response_model=FigureTable, responses=_DOWNLOADS)
def event_types(
    state: StateDep,
    principal: PrincipalDep,
    q: QueryDep,
    by: Literal["type", "class"] = "type",
    format: Format = "json",
) -> Any:
    """Per event type (`group` is its class) or, with `by=class`, per event class."""
    return _answer(service.types_table(state, principal, q, by), format)


@router.get("/days", response_model=FigureTable, responses=_DOWNLOADS)
def days(state: StateDep, principal: PrincipalDep, q: QueryDep, format: Format = "json") -> Any:
    """Per day of the period: the trend (every day listed, zeros included)."""
    return _answer(service.days_table(state, principal, q), format)


def _geojson(text: str) -> Response:
    return Response(text, media_type=GEOJSON)


@router.get("/hotspots/cells", response_class=Response, responses=_GEOJSON_DOC)
def hotspot_cells(
    state: StateDep,
    principal: PrincipalDep,
    q: QueryDep,
    min_cases: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=hotspots.MAX_FEATURES)] = hotspots.MAX_FEATURES,
    shape: Literal["polygon", "point"] = "polygon",
) -> Response:
    """Cases reported per cell in the period (busiest first): the heat layer."""
    return _geojson(
        hotspots.cells_geojson(state, principal, q, min_cases=min_cases, limit=limit, shape=shape)
    )


@router.get("/hotspots/streets", response_class=Response, responses=_GEOJSON_DOC)
def hotspot_streets(state: StateDep, principal: PrincipalDep, q: QueryDep) -> Response:
    """Cases reported per street in the period, every street of the area listed."""
    return _geojson(hotspots.streets_geojson(state, principal, q))


@router.get("/hotspots/repeats", response_class=Response, responses=_GEOJSON_DOC)
def hotspot_repeats(
    state: StateDep,
    principal: PrincipalDep,
    q: QueryDep,
    min_cases: Annotated[int, Query(ge=2, le=1_000_000)] = 3,
    limit: Annotated[int, Query(ge=1, le=hotspots.MAX_FEATURES)] = hotspots.MAX_FEATURES,
) -> Response:
    """重复发生点位: cells with at least `min_cases` cases of one event type in the period,
    the `limit` with the most first."""
    return _geojson(hotspots.repeats_geojson(state, principal, q, min_cases=min_cases, limit=limit))


@router.get("/report.html", response_class=HTMLResponse)
def report(
    state: StateDep,
    principal: PrincipalDep,
    district: Annotated[str, Query(max_length=32, pattern=r"^[0-9A-Za-z-]+$")],
    month: Annotated[str, Query(description="YYYY-MM", max_length=7)],
) -> HTMLResponse:
    """The printable monthly report of one district (self-contained HTML, zh-CN first)."""
    return HTMLResponse(district_report(state, principal, district=district, month=month))
