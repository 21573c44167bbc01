"""GeoJSON reading and deterministic writing.

Writing is byte-stable: fixed key order, coordinates rounded to a fixed number of
decimals, one feature per line. The same geometries and properties always give
the same bytes, so generated grids can be diffed, hashed and committed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo.errors import GridDataError

#: 7 decimals of a degree is about 1 cm: far below GPS accuracy, small files.
COORD_DECIMALS = 7


@dataclass
class FeatureTable:
    """Geometries and their properties, in file order."""

    geoms: np.ndarray  # object array of shapely geometries
    props: list[dict[str, Any]]
    meta: dict[str, Any] = field(default_factory=dict)


def read_features(path: str | Path) -> FeatureTable:
    """Read a GeoJSON FeatureCollection; errors name the file and the feature."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GridDataError(f"cannot read: {exc.strerror}", path=str(path)) from exc
    except UnicodeDecodeError as exc:
        raise GridDataError("not UTF-8 text", path=str(path)) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GridDataError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", path=str(path)
        ) from exc
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise GridDataError("not a GeoJSON FeatureCollection", path=str(path))
    features = doc.get("features")
    if not isinstance(features, list):
        raise GridDataError("'features' is not a list", path=str(path))
    props: list[dict[str, Any]] = []
    for i, feat in enumerate(features):
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            raise GridDataError("not a GeoJSON Feature", feature=f"#{i}", path=str(path))
        p = feat.get("properties") or {}
        if not isinstance(p, dict):
            raise GridDataError("'properties' is not an object", feature=f"#{i}", path=str(path))
        geom = feat.get("geometry")
        if not isinstance(geom, dict) or geom.get("type") not in ("Polygon", "MultiPolygon"):
            raise GridDataError(
                "geometry must be a Polygon or MultiPolygon",
                feature=_name(i, p),
                path=str(path),
            )
        props.append(p)
    geoms = _parse_geometries(features, props, path)
    meta = {k: v for k, v in doc.items() if k not in ("type", "features")}
    return FeatureTable(geoms=geoms, props=props, meta=meta)


def _name(i: int, props: Mapping[str, Any]) -> str:
    code = props.get("code") or props.get("adcode")
    return f"{code!s} (#{i})" if code is not None else f"#{i}"


def _parse_geometries(features: list[Any], props: list[dict[str, Any]], path: Path) -> np.ndarray:
    """Parse all geometries in one GEOS call; on failure find the bad feature."""
    collection = {"type": "GeometryCollection", "geometries": [f["geometry"] for f in features]}
    try:
        parsed = shapely.from_geojson(json.dumps(collection))
        parts = shapely.get_parts(parsed)
        if len(parts) == len(features):
            return np.asarray(parts, dtype=object)
    except shapely.errors.GEOSException:
        pass
    out = np.empty(len(features), dtype=object)
    for i, f in enumerate(features):
        try:
            out[i] = shapely.from_geojson(json.dumps(f["geometry"]))
        except shapely.errors.GEOSException as exc:
            raise GridDataError(
                f"broken geometry: {exc}", feature=_name(i, props[i]), path=str(path)
            ) from exc
        if out[i] is None or out[i].is_empty:
            raise GridDataError("empty geometry", feature=_name(i, props[i]), path=str(path))
    return out


def geometry_json(geom: BaseGeometry, decimals: int = COORD_DECIMALS) -> str:
    """The GeoJSON text of a (Multi)Polygon with rounded coordinates, byte-stable."""
    if geom.geom_type == "Polygon":
        return '{"type":"Polygon","coordinates":' + _polygon_coords(geom, decimals) + "}"
    if geom.geom_type == "MultiPolygon":
        polys = ",".join(_polygon_coords(p, decimals) for p in geom.geoms)
        return '{"type":"MultiPolygon","coordinates":[' + polys + "]}"
    raise TypeError(f"cannot write {geom.geom_type}")


def _polygon_coords(poly: BaseGeometry, decimals: int) -> str:
    rings = [poly.exterior, *poly.interiors]
    return "[" + ",".join(_ring_coords(r, decimals) for r in rings) + "]"


def _ring_coords(ring: BaseGeometry, decimals: int) -> str:
    xy = np.round(shapely.get_coordinates(ring), decimals)
    fmt = f"{{:.{decimals}f}}"
    return "[" + ",".join(f"[{_num(x, fmt)},{_num(y, fmt)}]" for x, y in xy) + "]"


def _num(v: float, fmt: str) -> str:
    s = fmt.format(v + 0.0)  # + 0.0 turns -0.0 into 0.0
    return s.rstrip("0").rstrip(".") if "." in s else s


def write_features(
    path: str | Path,
    geoms: Sequence[BaseGeometry] | np.ndarray,
    props: Iterable[Mapping[str, Any]],
    meta: Mapping[str, Any] | None = None,
    decimals: int = COORD_DECIMALS,
) -> None:
    """Write a FeatureCollection, one feature per line, deterministically."""
    lines = ['{"type":"FeatureCollection",']
    for key, value in (meta or {}).items():
        lines.append(f"{json.dumps(key)}:{_dumps(value)},")
    lines.append('"features":[')
    feats = []
    for geom, p in zip(geoms, props, strict=True):
        feats.append(
            '{"type":"Feature","properties":'
            + _dumps(dict(p))
            + ',"geometry":'
            + geometry_json(geom, decimals)
            + "}"
        )
    lines.append(",\n".join(feats))
    lines.append("]}")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
