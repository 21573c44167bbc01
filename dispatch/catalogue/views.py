"""The catalogue and grid read models: event types, units, point location and GeoJSON text.

Plain functions of the loaded city and grid (no database): both are fixed while the app
runs, so the GeoJSON text of cells and areas is built once and kept in memory.
"""

from __future__ import annotations

import json
import math
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Literal

from dispatch.citydata import CityData
from dispatch.errors import Unprocessable
from geo import Grid, normalize_crs
from geo.errors import InvalidCoordinateError, OutsideServedAreaError, UnknownCRSError
from geo.io import geometry_json

#: a /grid/cells answer may hold at most this many cells; larger boxes must zoom in
MAX_BBOX_CELLS = 5000

AreaLevel = Literal["district", "street", "community"]
BBox = tuple[float, float, float, float]


# ---------------------------------------------------------------- catalogue


def event_type_groups(city: CityData) -> list[dict[str, Any]]:
    """Event types grouped by class (class order), focus problems first within each class."""
    groups: dict[str, dict[str, Any]] = {}
    for et in sorted(city.event_types.values(), key=lambda e: (e.class_code, not e.focus, e.code)):
        group = groups.setdefault(
            et.class_code,
            {
                "class_code": et.class_code,
                "class_zh": et.class_zh,
                "class_en": et.class_en,
                "types": [],
            },
        )
        group["types"].append(
            {
                "code": et.code,
                "name_zh": et.name_zh,
                "name_en": et.name_en,
                "urgent": et.urgent,
                "focus": et.focus,
                "icon": et.icon,
                "limits": {
                    "accept": et.accept_limit,
                    "resolve": et.resolve_limit,
                    "verify": et.verify_limit,
                    "unit": et.limit_unit,
                },
            }
        )
    return list(groups.values())


def unit_list(city: CityData) -> list[dict[str, Any]]:
    """Units in id order with their kind's names and their teams."""
    teams: dict[str, list[dict[str, str]]] = {}
    for t in sorted(city.teams.values(), key=lambda t: t.id):
        teams.setdefault(t.unit_id, []).append(
            {"id": t.id, "name_zh": t.name_zh, "name_en": t.name_en}
        )
    out = []
    for u in sorted(city.units.values(), key=lambda u: u.id):
        kind = city.unit_kinds.get(u.kind)
        out.append(
            {
                "id": u.id,
                "kind": u.kind,
                "kind_zh": kind.name_zh if kind else u.kind,
                "kind_en": kind.name_en if kind else u.kind,
                "area_code": u.area_code,
                "name_zh": u.name_zh,
                "name_en": u.name_en,
                "teams": teams.get(u.id, []),
            }
        )
    return out


# ---------------------------------------------------------------- locate


def locate_point(grid: Grid, lon: float, lat: float, crs: str) -> dict[str, Any]:
    """The cell and areas of a point; Unprocessable with the geo message when it has none."""
    try:
        loc = grid.locate(lon, lat, crs=normalize_crs(crs))
    except OutsideServedAreaError as exc:
        raise Unprocessable(
            str(exc),
            code="outside_served_area",
            details={"distance_m": _finite(exc.distance_m), "tolerance_m": exc.tolerance_m},
        ) from None
    except InvalidCoordinateError as exc:
        raise Unprocessable(str(exc), code="invalid_coordinates") from None
    except UnknownCRSError as exc:
        raise Unprocessable(str(exc), code="unknown_crs", details={"crs": crs}) from None
    names = {}
    for level, code in (
        ("community", loc.community),
        ("street", loc.street),
        ("district", loc.district),
    ):
        area = grid.areas.get(code)
        names[level] = {
            "code": code,
            "name_zh": area.name_zh if area else code,
            "name_en": area.name_en if area else code,
            "generated": area.generated if area else False,
        }
    return {
        "cell": loc.cell,
        "community": loc.community,
        "street": loc.street,
        "district": loc.district,
        "names": names,
        "snapped_m": round(loc.snapped_m, 2),
        "lon": loc.lon,
        "lat": loc.lat,
    }


def _finite(v: float) -> float | None:
    return round(v) if math.isfinite(v) else None


# ---------------------------------------------------------------- bbox


def parse_bbox(text: str) -> BBox:
    """``minlon,minlat,maxlon,maxlat`` in WGS-84 degrees; ValueError says what is wrong."""
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError("bbox must be minlon,minlat,maxlon,maxlat (four numbers)")
    try:
        minx, miny, maxx, maxy = (float(p) for p in parts)
    except ValueError:
        raise ValueError("bbox must be minlon,minlat,maxlon,maxlat (four numbers)") from None
    if not all(math.isfinite(v) for v in (minx, miny, maxx, maxy)):
        raise ValueError("bbox values must be finite numbers")
    if not (
        -180 <= minx <= 180 and -180 <= maxx <= 180 and -90 <= miny <= 90 and -90 <= maxy <= 90
    ):
        raise ValueError("bbox is out of range: lon in [-180, 180], lat in [-90, 90]")
    if minx > maxx or miny > maxy:
        raise ValueError("bbox minimum is greater than its maximum")
    return minx, miny, maxx, maxy


# ---------------------------------------------------------------- GeoJSON text


@dataclass
class _GridTexts:
    """Per-grid cache: each cell's Feature text (filled on demand) and each level's areas."""

    cells: list[str | None]
    areas: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_CACHE: weakref.WeakKeyDictionary[Grid, _GridTexts] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def _texts(grid: Grid) -> _GridTexts:
    with _CACHE_LOCK:
        texts = _CACHE.get(grid)
        if texts is None:
            texts = _CACHE[grid] = _GridTexts(cells=[None] * len(grid))
        return texts


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _feature(props: dict[str, Any], geometry: str) -> str:
    return '{"type":"Feature","properties":' + _dumps(props) + ',"geometry":' + geometry + "}"


def _collection(features: list[str]) -> str:
    return '{"type":"FeatureCollection","features":[' + ",".join(features) + "]}"


def cells_geojson(grid: Grid, bbox: BBox) -> str:
    """The cells meeting a box; Unprocessable when there are more than MAX_BBOX_CELLS."""
    positions = grid.cells_in_bbox(*bbox)
    if len(positions) > MAX_BBOX_CELLS:
        raise Unprocessable(
            f"the box holds {len(positions)} cells, more than {MAX_BBOX_CELLS}: zoom in",
            code="bbox_too_large",
            details={"cells": len(positions), "max_cells": MAX_BBOX_CELLS},
        )
    cache = _texts(grid).cells
    features = []
    for pos in positions.tolist():
        text = cache[pos]
        if text is None:
            props = {
                "code": grid.codes[pos],
                "community": grid.parents["community"][pos],
                "street": grid.parents["street"][pos],
                "district": grid.parents["district"][pos],
            }
            text = cache[pos] = _feature(props, geometry_json(grid.geoms[pos]))
        features.append(text)
    return _collection(features)


def areas_geojson(grid: Grid, level: AreaLevel) -> str:
    """All areas of one level, in code order; built once per grid and level."""
    texts = _texts(grid)
    with texts.lock:
        cached = texts.areas.get(level)
        if cached is None:
            features = []
            for code in sorted(c for c, a in grid.areas.items() if a.level == level):
                a = grid.areas[code]
                geom = grid.area_geoms.get(code)
                props = {
                    "code": a.code,
                    "level": a.level,
                    "name_zh": a.name_zh,
                    "name_en": a.name_en,
                    "parent": a.parent,
                    "generated": a.generated,
                }
                features.append(_feature(props, "null" if geom is None else geometry_json(geom)))
            cached = texts.areas[level] = _collection(features)
    return cached
