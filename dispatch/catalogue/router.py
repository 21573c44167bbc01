"""GET the catalogue (event types, units) and the grid (locate, cells, areas): thin handlers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.exceptions import RequestValidationError

from dispatch.catalogue.views import (
    AreaLevel,
    areas_geojson,
    cells_geojson,
    event_type_groups,
    locate_point,
    parse_bbox,
    unit_list,
)
from dispatch.dbtypes import DB_INT_MAX
from dispatch.deps import PrincipalDep, StateDep

router = APIRouter(prefix="/api/v1", tags=["catalogue", "grid"])

GEOJSON = "application/geo+json"
_GEOJSON_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {GEOJSON: {}}},
    404: {"description": "no such grid version"},
}
VersionQuery = Annotated[
    int | None,
    Query(ge=1, le=DB_INT_MAX, description="a grid version id (default: the one in force)"),
]


@router.get("/event-types")
def event_types(state: StateDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """The event catalogue by class, focus problems first; limits in their `unit`."""
    return event_type_groups(state.city)


@router.get("/units")
def units(state: StateDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Responsible units with their kind and teams."""
    return unit_list(state.city)


@router.get("/grid/locate", responses={422: {"description": "outside the served area"}})
def locate(
    state: StateDep,
    principal: PrincipalDep,
    lon: float,
    lat: float,
    crs: str = "wgs84",
) -> dict[str, Any]:
    """The cell and parent areas of a point given in any supported CRS (answer in WGS-84)."""
    return locate_point(state.grid, lon, lat, crs)


@router.get("/grid/cells", response_class=Response, responses=_GEOJSON_DOC)
def cells(
    state: StateDep,
    principal: PrincipalDep,
    bbox: Annotated[str, Query(description="minlon,minlat,maxlon,maxlat (WGS-84)")],
    version: VersionQuery = None,
) -> Response:
    """GeoJSON of the cells meeting the box; more than 5,000 cells is refused (zoom in).

    `version` shows an older grid version, e.g. the one an old case was located in."""
    try:
        box = parse_bbox(bbox)
    except ValueError as exc:
        raise RequestValidationError(
            [{"loc": ("query", "bbox"), "msg": str(exc), "type": "value_error"}]
        ) from None
    return Response(cells_geojson(state.grids.grid_of(version), box), media_type=GEOJSON)


@router.get("/grid/areas", response_class=Response, responses=_GEOJSON_DOC)
def areas(
    state: StateDep, principal: PrincipalDep, level: AreaLevel, version: VersionQuery = None
) -> Response:
    """GeoJSON of every area of a level (of grid `version`, default the one in force);
    `generated: true` marks areas made up for the demo."""
    return Response(areas_geojson(state.grids.grid_of(version), level), media_type=GEOJSON)


@router.get("/grid/versions")
def versions(state: StateDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    """Every grid version, oldest first: when it was loaded, from what, when it was in force."""
    return [v.public() for v in state.grids.listing()]
