"""GeoJSON reading and deterministic writing; GeoPackage and Shapefile reading.

Writing is byte-stable: fixed key order, coordinates rounded to a fixed number of
decimals, one feature per line. The same geometries and properties always give
the same bytes, so generated grids can be diffed, hashed and committed.

Other formats (a city's own GeoPackage, Shapefile or GeoJSON in any coordinate system)
are read through GDAL with pyogrio (:func:`read_layer`), imported only when used.
"""

from __future__ import annotations

import hashlib
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
    return parse_features(read_text(path), path)


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes; GridDataError naming the file when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise GridDataError(f"cannot read: {exc.strerror}", path=str(path)) from exc


def read_text(path: str | Path) -> str:
    return decode(read_bytes(path), path)


def decode(data: bytes, path: str | Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GridDataError("not UTF-8 text", path=str(path)) from exc


def grid_checksum(cells: bytes, areas: bytes | None) -> str:
    """sha256 of a grid's two files (cells.geojson, then areas.geojson): its identity."""
    digest = hashlib.sha256(cells)
    digest.update(areas or b"")
    return digest.hexdigest()


def parse_features(text: str, path: str | Path) -> FeatureTable:
    """Parse GeoJSON text; ``path`` names its origin in errors."""
    path = Path(path)
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
    Path(path).write_text(features_text(geoms, props, meta, decimals), encoding="utf-8")


def features_text(
    geoms: Sequence[BaseGeometry] | np.ndarray,
    props: Iterable[Mapping[str, Any]],
    meta: Mapping[str, Any] | None = None,
    decimals: int = COORD_DECIMALS,
) -> str:
    """The text :func:`write_features` writes."""
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
    return "\n".join(lines) + "\n"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Layer:
    """One layer of a GeoPackage, Shapefile or GeoJSON file, read through GDAL."""

    name: str
    geoms: np.ndarray  # object array of shapely geometries (None where a feature has none)
    columns: dict[str, list[Any]]
    #: the coordinate system the file declares ("EPSG:4545" or WKT); None when it has none
    crs: str | None


def read_layer(path: str | Path, *, layer: str | None = None, encoding: str | None = None) -> Layer:
    """Read a vector layer with pyogrio (GDAL); ``encoding`` overrides the attribute encoding.

    A file with several layers needs ``layer``; errors name the file and what is wrong.
    """
    try:
        import pyogrio
        import pyogrio.raw
    except ImportError as exc:  # pragma: no cover - pyogrio is a dependency
        raise GridDataError(f"reading this format needs pyogrio ({exc})", path=str(path)) from exc
    path = Path(path)
    if not path.exists():
        raise GridDataError("no such file", path=str(path))
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    except pyogrio.errors.DataSourceError as exc:
        raise GridDataError(f"cannot open as a vector file: {exc}", path=str(path)) from exc
    if layer is None and len(layers) > 1:
        raise GridDataError(
            f"the file holds {len(layers)} layers ({', '.join(layers)}): name the one to read",
            path=str(path),
        )
    if layer is not None and layer not in layers:
        raise GridDataError(
            f"no layer {layer!r}; the file has: {', '.join(layers)}", path=str(path)
        )
    name = layer or layers[0]
    try:
        meta, _, wkb, values = pyogrio.raw.read(path, layer=name, encoding=encoding, force_2d=True)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
        raise GridDataError(f"cannot read layer {name!r}: {exc}", path=str(path)) from exc
    geoms = np.asarray(shapely.from_wkb(wkb), dtype=object)
    fields = [str(f) for f in meta["fields"]]
    columns = {f: np.asarray(v).tolist() for f, v in zip(fields, values, strict=True)}
    crs = meta.get("crs")
    return Layer(name=name, geoms=geoms, columns=columns, crs=str(crs) if crs else None)
