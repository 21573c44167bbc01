"""A city's own grid from its GIS files: map its columns, convert its coordinates.

A city's survey office hands over a cell layer (GeoPackage, Shapefile or GeoJSON) with
its own column names, often in a projected CGCS2000 Gauss-Krüger system (EPSG:4545 at
Nanning) or in GCJ-02 lon/lat. :func:`import_cells` turns it into the two files of a
city folder (``cells.geojson``, ``areas.geojson``, WGS-84, byte-stable) and the
validated :class:`~geo.grid.Grid` they load as; areas are the unions of their cells.

>>> layer = read_layer("wangge.gpkg")                                    # doctest: +SKIP
>>> files = import_cells(layer, ColumnMap(code="WGBM", community_name="SQMC"))  # doctest: +SKIP
>>> files.write(Path("grid_data/mycity"))                                # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from geo.crs import normalize_crs, to_wgs84
from geo.errors import GridDataError, UnknownCRSError
from geo.grid import DEFAULT_CODE_LENGTHS, DEFAULT_SNAP_TOLERANCE_M, LEVELS, Grid
from geo.io import Layer, features_text

CRS_HELP = "wgs84, cgcs2000, gcj02, bd09 or an EPSG code such as EPSG:4545"


@dataclass(frozen=True)
class ColumnMap:
    """Which source column holds what. Unset parents are cut from the cell code at the
    national lengths (6/9/12); unset names are the codes."""

    code: str = "code"
    community: str | None = None
    street: str | None = None
    district: str | None = None
    community_name: str | None = None
    street_name: str | None = None
    district_name: str | None = None
    community_name_en: str | None = None
    street_name_en: str | None = None
    district_name_en: str | None = None

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> ColumnMap:
        """From ``{key: column}``; an unknown key is a ValueError listing the known ones."""
        unknown = sorted(set(mapping) - set(cls.keys()))
        if unknown:
            raise ValueError(
                f"unknown column key(s) {', '.join(unknown)}; known: {', '.join(cls.keys())}"
            )
        return cls(**{k: str(v) for k, v in mapping.items() if v is not None})

    def used(self) -> dict[str, str]:
        return {k: v for k in self.keys() if (v := getattr(self, k)) is not None}


@dataclass
class GridFiles:
    """The two files of a city's grid and the grid they load as (validated)."""

    cells: bytes
    areas: bytes
    grid: Grid
    #: the coordinate system the source was converted from
    source_crs: str

    @property
    def checksum(self) -> str:
        return str(self.grid.meta["checksum"])

    def write(self, folder: str | Path) -> None:
        """Write both files into ``folder``: both are written aside first, then moved in,
        so a failure leaves the old pair in place."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        staged: list[tuple[str, Path]] = []
        try:
            for name, data in (("cells.geojson", self.cells), ("areas.geojson", self.areas)):
                fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
                staged.append((tmp, folder / name))
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            for tmp, final in staged:
                os.replace(tmp, final)
        finally:
            for tmp, _ in staged:
                Path(tmp).unlink(missing_ok=True)


def import_cells(
    layer: Layer,
    columns: ColumnMap,
    *,
    source_crs: str | None = None,
    origin: str = "source",
    snap_tolerance_m: float = DEFAULT_SNAP_TOLERANCE_M,
) -> GridFiles:
    """Map, convert to WGS-84, derive the areas, write the files in memory and validate.

    ``source_crs`` overrides what the file declares; it is required when the file declares
    nothing, and for GCJ-02 / BD-09 data, which no file can declare. Raises
    :class:`GridDataError` naming the feature or column at fault.
    """
    if len(layer.geoms) == 0:
        raise GridDataError("the layer has no features", path=origin)
    _check_columns(layer, columns, origin)
    crs = source_crs or layer.crs
    if not crs:
        raise GridDataError(
            f"the file declares no coordinate system: name it ({CRS_HELP})", path=origin
        )
    geoms = _polygons(layer.geoms, origin)
    geoms = to_wgs84_geoms(geoms, crs, origin)
    codes = [_code(v, columns.code, i, origin) for i, v in enumerate(layer.columns[columns.code])]
    parents = {lvl: _parents(layer, columns, codes, lvl, origin) for lvl in LEVELS}
    order = sorted(range(len(codes)), key=codes.__getitem__)
    cell_props = [
        {
            "code": codes[i],
            "community": parents["community"][i],
            "street": parents["street"][i],
            "district": parents["district"][i],
        }
        for i in order
    ]
    cells_text = features_text(geoms[order], cell_props).encode()
    area_geoms, area_props = _areas(layer, columns, codes, parents, geoms, origin)
    areas_text = features_text(area_geoms, area_props).encode()
    grid = Grid.from_geojson(
        cells_text,
        areas_text,
        cells_origin=origin,
        areas_origin=f"{origin} (areas)",
        snap_tolerance_m=snap_tolerance_m,
    )
    return GridFiles(cells=cells_text, areas=areas_text, grid=grid, source_crs=crs)


def to_wgs84_geoms(geoms: np.ndarray, crs: str, origin: str = "source") -> np.ndarray:
    """Geometries in ``crs`` (a geo.crs name or anything pyproj reads) → WGS-84 lon/lat."""
    xy = shapely.get_coordinates(geoms)
    try:
        name = normalize_crs(crs)
    except UnknownCRSError:
        name = None
    if name is not None:
        _check_degrees(xy, crs, origin)
        if name in ("wgs84", "cgcs2000"):  # CGCS2000 equals WGS-84 well under a metre
            return geoms
        lon, lat = to_wgs84(xy[:, 0], xy[:, 1], name)
        return _with_coordinates(geoms, np.column_stack([lon, lat]))
    from pyproj import CRS, Transformer
    from pyproj.exceptions import CRSError

    try:
        source = CRS.from_user_input(crs)
    except CRSError as exc:
        raise GridDataError(f"unknown coordinate system {crs!r} ({CRS_HELP})", path=origin) from exc
    if source.is_geographic:
        _check_degrees(xy, crs, origin)
    elif len(xy) and np.abs(xy).max() <= 360:
        raise GridDataError(
            f"the coordinates look like degrees (all within ±360) but {crs} is a projected "
            "system in metres: is the coordinate system right?",
            path=origin,
        )
    transformer = Transformer.from_crs(source, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(xy[:, 0], xy[:, 1])
    out = np.column_stack([lon, lat])
    if not np.isfinite(out).all():
        raise GridDataError(f"some coordinates cannot be converted from {crs}", path=origin)
    return _with_coordinates(geoms, out)


def _with_coordinates(geoms: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return np.asarray(shapely.set_coordinates(geoms.copy(), xy), dtype=object)


def _check_degrees(xy: np.ndarray, crs: str, origin: str) -> None:
    if len(xy) and ((np.abs(xy[:, 0]) > 180).any() or (np.abs(xy[:, 1]) > 90).any()):
        x = float(np.abs(xy[:, 0]).max())
        raise GridDataError(
            f"the file says {crs} (degrees) but its coordinates reach {x:.0f}: they are in "
            f"a projected system; name it ({CRS_HELP})",
            path=origin,
        )


def _check_columns(layer: Layer, columns: ColumnMap, origin: str) -> None:
    for key, column in columns.used().items():
        if column not in layer.columns:
            have = ", ".join(layer.columns) or "(none)"
            raise GridDataError(
                f"no column {column!r} (given for {key}); the layer's columns are: {have}",
                path=origin,
            )


def _polygons(geoms: np.ndarray, origin: str) -> np.ndarray:
    for i, g in enumerate(geoms):
        if g is None or g.is_empty:
            raise GridDataError("no geometry", feature=f"#{i}", path=origin)
        if g.geom_type not in ("Polygon", "MultiPolygon"):
            raise GridDataError(
                f"a cell must be a Polygon or MultiPolygon, not {g.geom_type}",
                feature=f"#{i}",
                path=origin,
            )
    return np.asarray(geoms, dtype=object)


def _code(value: Any, column: str, i: int, origin: str) -> str:
    """A code as text: Shapefile numbers come as int or float; empty is refused."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    text = "" if value is None or isinstance(value, float) else str(value).strip()
    if not text:
        raise GridDataError(f"empty value in column {column!r}", feature=f"#{i}", path=origin)
    return text


def _parents(
    layer: Layer, columns: ColumnMap, codes: list[str], level: str, origin: str
) -> list[str]:
    column = getattr(columns, level)
    if column is not None:
        return [_code(v, column, i, origin) for i, v in enumerate(layer.columns[column])]
    n = DEFAULT_CODE_LENGTHS[level]
    for i, code in enumerate(codes):
        if len(code) <= n:
            raise GridDataError(
                f"cell code {code!r} is too short to cut the {level} code from it "
                f"(first {n} digits): map a {level} column",
                feature=f"#{i}",
                path=origin,
            )
    return [code[:n] for code in codes]


def _areas(
    layer: Layer,
    columns: ColumnMap,
    codes: list[str],
    parents: Mapping[str, list[str]],
    geoms: np.ndarray,
    origin: str,
) -> tuple[list[Any], list[dict[str, Any]]]:
    """Each district, street and community: one name, one parent, the union of its cells."""
    up = {"community": "street", "street": "district", "district": None}
    out_geoms: list[Any] = []
    out_props: list[dict[str, Any]] = []
    for level in LEVELS:  # district, street, community: parents first
        names = _names(layer, getattr(columns, f"{level}_name"), parents[level], level, origin)
        names_en = _names(
            layer, getattr(columns, f"{level}_name_en"), parents[level], level, origin
        )
        parent_level = up[level]
        parent_of: dict[str, str | None] = {}
        members: dict[str, list[int]] = {}
        for i, code in enumerate(parents[level]):
            parent = parents[parent_level][i] if parent_level else None
            if parent_of.setdefault(code, parent) != parent:
                raise GridDataError(
                    f"{level} {code} lies in {parent_of[code]} and in {parent}",
                    feature=f"{codes[i]} (#{i})",
                    path=origin,
                )
            members.setdefault(code, []).append(i)
        for code in sorted(members):
            out_geoms.append(_union(geoms[members[code]]))
            zh = names.get(code) or code
            out_props.append(
                {
                    "code": code,
                    "level": level,
                    "name_zh": zh,
                    "name_en": names_en.get(code) or zh,
                    "parent": parent_of[code],
                    "generated": False,
                }
            )
    return out_geoms, out_props


def _names(
    layer: Layer, column: str | None, area_codes: list[str], level: str, origin: str
) -> dict[str, str]:
    if column is None:
        return {}
    names: dict[str, str] = {}
    for i, (code, value) in enumerate(zip(area_codes, layer.columns[column], strict=True)):
        name = "" if value is None or isinstance(value, float) else str(value).strip()
        if not name:
            continue
        if names.setdefault(code, name) != name:
            raise GridDataError(
                f"{level} {code} is named {names[code]!r} and {name!r} (column {column!r})",
                feature=f"#{i}",
                path=origin,
            )
    return names


def _union(parts: np.ndarray) -> Any:
    """Coverage union (fast, exact edges) with the full union for nearly matching edges;
    the cells' vertices along straight outlines are dropped (1e-7°, the files' precision)."""
    try:
        merged = shapely.coverage_union_all(parts)
    except shapely.errors.GEOSException:
        merged = shapely.union_all(parts)
    if merged.geom_type not in ("Polygon", "MultiPolygon"):
        merged = shapely.union_all(parts)
    return shapely.simplify(merged, 1e-7)
