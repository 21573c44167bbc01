"""Checks a grid must pass before anyone routes a case with it.

Hard errors (raised as :class:`GridDataError`, naming the feature): invalid
polygons, duplicate codes, codes that do not start with their parents' codes,
overlaps larger than the tolerance. Gaps are not errors (a city may leave a lake
or a military area out) but are reported with their size and place.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from geo.errors import GridDataError

#: Overlaps up to this size are rounding noise of digitised boundaries.
OVERLAP_TOLERANCE_M2 = 1.0
#: Gaps smaller than this are not worth a line in the report.
GAP_REPORT_MIN_M2 = 1.0

_R = 6371008.8


@dataclass(frozen=True)
class Gap:
    area_m2: float
    lon: float
    lat: float


@dataclass
class ValidationReport:
    cells: int
    gaps: list[Gap] = field(default_factory=list)
    #: cells whose edges do not match their neighbours' exactly (within tolerance)
    mismatched_cells: list[str] = field(default_factory=list)

    def summary(self) -> str:
        gap_area = sum(g.area_m2 for g in self.gaps)
        return (
            f"{self.cells} cells; {len(self.gaps)} gaps ({gap_area:.0f} m²); "
            f"{len(self.mismatched_cells)} cells with edges not matching a neighbour exactly"
        )


def area_m2(geoms: Any) -> np.ndarray:
    """Approximate area in m² of lon/lat polygons (local scale at each centroid)."""
    geoms = np.atleast_1d(np.asarray(geoms, dtype=object))
    lat = shapely.get_y(shapely.centroid(geoms))
    k = (_R * math.pi / 180) ** 2 * np.cos(np.radians(lat))
    return np.asarray(shapely.area(geoms) * k, dtype=np.float64)


def validate_grid(
    codes: Sequence[str],
    geoms: np.ndarray,
    parents: Mapping[str, Sequence[str]],
    areas: Mapping[str, Any],
    area_geoms: Mapping[str, Any] | None = None,
    *,
    path: str | None = None,
    overlap_tolerance_m2: float = OVERLAP_TOLERANCE_M2,
) -> ValidationReport:
    """Raise on the first hard error; return what is worth knowing otherwise."""
    geoms = np.asarray(geoms, dtype=object)
    _check_codes(codes, parents, areas, path)
    _check_polygons(codes, geoms, path)
    mismatched = _check_overlaps(codes, geoms, overlap_tolerance_m2, path)
    report = ValidationReport(cells=len(codes), mismatched_cells=mismatched)
    report.gaps = find_gaps(geoms)
    return report


def _check_codes(
    codes: Sequence[str],
    parents: Mapping[str, Sequence[str]],
    areas: Mapping[str, Any],
    path: str | None,
) -> None:
    seen: set[str] = set()
    for i, code in enumerate(codes):
        if code in seen:
            raise GridDataError("duplicate cell code", feature=f"{code} (#{i})", path=path)
        seen.add(code)
        chain = [parents["district"][i], parents["street"][i], parents["community"][i], code]
        for parent, child in itertools.pairwise(chain):
            if not child.startswith(parent) or child == parent:
                raise GridDataError(
                    f"code {child} does not start with its parent's code {parent}",
                    feature=f"{code} (#{i})",
                    path=path,
                )
    for area in areas.values():
        if area.parent and not area.code.startswith(area.parent):
            raise GridDataError(
                f"area code {area.code} does not start with its parent's code {area.parent}",
                feature=area.code,
                path=path,
            )


def _check_polygons(codes: Sequence[str], geoms: np.ndarray, path: str | None) -> None:
    kinds = shapely.get_type_id(geoms)
    bad = np.flatnonzero(~np.isin(kinds, (3, 6)))  # Polygon, MultiPolygon
    if len(bad):
        i = int(bad[0])
        raise GridDataError("a cell must be a polygon", feature=f"{codes[i]} (#{i})", path=path)
    valid = shapely.is_valid(geoms)
    if not valid.all():
        i = int(np.flatnonzero(~valid)[0])
        reason = shapely.is_valid_reason(geoms[i])
        raise GridDataError(f"invalid polygon: {reason}", feature=f"{codes[i]} (#{i})", path=path)
    b = shapely.bounds(geoms)
    if (
        (b[:, [0, 2]] < -180).any()
        or (b[:, [0, 2]] > 180).any()
        or (np.abs(b[:, [1, 3]]) > 90).any()
    ):
        i = int(
            np.flatnonzero(
                (np.abs(b[:, [0, 2]]) > 180).any(1) | (np.abs(b[:, [1, 3]]) > 90).any(1)
            )[0]
        )
        raise GridDataError(
            "coordinates out of lon/lat range: is the file in WGS-84 degrees?",
            feature=f"{codes[i]} (#{i})",
            path=path,
        )
    empty = area_m2(geoms) <= 0
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise GridDataError("cell has no area", feature=f"{codes[i]} (#{i})", path=path)


def _check_overlaps(
    codes: Sequence[str], geoms: np.ndarray, tolerance_m2: float, path: str | None
) -> list[str]:
    """GEOS finds edges that do not match; only around those do we measure overlaps."""
    edges = shapely.coverage_invalid_edges(geoms)
    suspects = np.flatnonzero(~shapely.is_empty(edges))
    if len(suspects) == 0:
        return []
    tree = shapely.STRtree(geoms)
    si, nj = tree.query(geoms[suspects], predicate="intersects")
    a, b = suspects[si], nj
    keep = a < b
    a, b = a[keep], b[keep]
    overlap = area_m2(shapely.intersection(geoms[a], geoms[b]))
    big = np.flatnonzero(overlap > tolerance_m2)
    if len(big):
        k = int(big[np.argmax(overlap[big])])
        i, j = int(a[k]), int(b[k])
        raise GridDataError(
            f"overlaps cell {codes[j]} by {overlap[k]:.1f} m² (tolerance {tolerance_m2:g} m²)",
            feature=f"{codes[i]} (#{i})",
            path=path,
        )
    return sorted(codes[int(i)] for i in suspects)


def find_gaps(geoms: np.ndarray) -> list[Gap]:
    """Holes in the union of the cells, largest first.

    Coverage union is ~10x faster than a full union but needs exactly matching
    edges; grids whose neighbours match only nearly take the full union.
    """
    try:
        union = shapely.coverage_union_all(geoms)
    except shapely.errors.GEOSException:
        union = shapely.union_all(geoms)
    holes = [
        shapely.Polygon(ring)
        for part in shapely.get_parts(union)
        for ring in shapely.get_parts(shapely.get_rings(part))[1:]
    ]
    if not holes:
        return []
    sizes = area_m2(holes)
    points = shapely.point_on_surface(np.asarray(holes, dtype=object))
    gaps = [
        Gap(float(s), float(p.x), float(p.y))
        for s, p in zip(sizes, points, strict=True)
        if s >= GAP_REPORT_MIN_M2
    ]
    return sorted(gaps, key=lambda g: -g.area_m2)
