"""The unit grid of a city: cells, their parent areas, and point location.

>>> grid = Grid.load("grid_data/nanning")                       # doctest: +SKIP
>>> loc = grid.locate(108.3245, 22.8168)                        # doctest: +SKIP
>>> loc.cell, loc.community, loc.street, loc.district           # doctest: +SKIP
('450103901904027', '450103901904', '450103901', '450103')

Every covered point maps to exactly one cell. A point on a shared edge or corner
belongs to the cell with the smallest code among those whose closed polygon holds
it. A point outside every cell but within ``snap_tolerance_m`` (GPS drift) snaps
to the nearest cell and says how far it moved; anything farther is refused.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import Transformer

from geo.crs import check_coordinates, normalize_crs, to_wgs84
from geo.errors import GridDataError, InvalidCoordinateError, OutsideServedAreaError
from geo.index import CellIndex
from geo.io import decode, grid_checksum, parse_features, read_bytes

if TYPE_CHECKING:
    from geo.validate import ValidationReport

#: Default snapping distance for GPS drift just outside the served area.
DEFAULT_SNAP_TOLERANCE_M = 30.0
LEVELS = ("district", "street", "community")
#: Code lengths of the parent levels in the national scheme (GB/T 2260 + GB/T 10114).
DEFAULT_CODE_LENGTHS = {"district": 6, "street": 9, "community": 12}


@dataclass(frozen=True, slots=True)
class Location:
    """Where a point falls: its cell and parent areas (codes), in WGS-84."""

    cell: str
    community: str
    street: str
    district: str
    lon: float
    lat: float
    snapped_m: float = 0.0
    #: distance to the cell's edge, only computed when an accuracy radius is given
    edge_m: float | None = None
    #: True when the GPS accuracy circle reaches into a neighbouring cell
    near_edge: bool | None = None


@dataclass(frozen=True, slots=True)
class Area:
    """A parent area (district, street office or community)."""

    code: str
    level: str
    name_zh: str
    name_en: str
    parent: str | None
    generated: bool = False


class Grid:
    """Cells in code order, their parents, and a point index over them."""

    def __init__(
        self,
        codes: list[str],
        geoms: np.ndarray,
        parents: Mapping[str, list[str]],
        areas: Mapping[str, Area],
        *,
        snap_tolerance_m: float = DEFAULT_SNAP_TOLERANCE_M,
        meta: Mapping[str, Any] | None = None,
        area_geoms: Mapping[str, Any] | None = None,
    ) -> None:
        order = sorted(range(len(codes)), key=codes.__getitem__)
        self.codes: list[str] = [codes[i] for i in order]
        self.geoms: np.ndarray = np.asarray(geoms, dtype=object)[order]
        self.parents = {lvl: [parents[lvl][i] for i in order] for lvl in LEVELS}
        self.areas = dict(areas)
        self.area_geoms = dict(area_geoms or {})
        self.snap_tolerance_m = float(snap_tolerance_m)
        self.meta = dict(meta or {})
        self._pos = {c: i for i, c in enumerate(self.codes)}
        self._code_array = np.array([*self.codes, ""])
        if not self.codes:
            raise GridDataError("a grid needs at least one cell")
        self.validation: ValidationReport | None = None

    @cached_property
    def index(self) -> CellIndex:
        """The point index, built on first use: a grid only shown (an old version's cells)
        never needs it; a server builds it before it serves (touch ``grid.index``)."""
        return CellIndex(self.geoms)

    # ------------------------------------------------------------- loading
    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        validate: bool = True,
        snap_tolerance_m: float = DEFAULT_SNAP_TOLERANCE_M,
    ) -> Grid:
        """Read ``cells.geojson`` (and ``areas.geojson`` beside it) from a folder or a file."""
        path = Path(path)
        cells_path = path / "cells.geojson" if path.is_dir() else path
        areas_path = cells_path.with_name("areas.geojson")
        return cls.from_geojson(
            read_bytes(cells_path),
            read_bytes(areas_path) if areas_path.exists() else None,
            cells_origin=str(cells_path),
            areas_origin=str(areas_path),
            validate=validate,
            snap_tolerance_m=snap_tolerance_m,
        )

    @classmethod
    def from_geojson(
        cls,
        cells: bytes,
        areas: bytes | None = None,
        *,
        cells_origin: str = "cells.geojson",
        areas_origin: str = "areas.geojson",
        validate: bool = True,
        snap_tolerance_m: float = DEFAULT_SNAP_TOLERANCE_M,
    ) -> Grid:
        """A grid from the text of its two files; the origins name them in errors.

        ``meta["checksum"]`` is :func:`geo.io.grid_checksum` of the two texts: equal
        bytes, equal grid.
        """
        from geo.validate import validate_grid  # validation is heavy; load it on use

        table = parse_features(decode(cells, cells_origin), cells_origin)
        codes, parents = _cell_codes(table.props, cells_origin)
        area_map: dict[str, Area] = {}
        area_geoms: dict[str, Any] = {}
        if areas is not None:
            area_map, area_geoms = _read_areas(decode(areas, areas_origin), areas_origin)
        for lvl in LEVELS:  # parents with no area record still get one (codes only)
            for code in parents[lvl]:
                if code not in area_map:
                    area_map[code] = Area(code, lvl, code, code, None)
        report = None
        if validate:
            report = validate_grid(
                codes, table.geoms, parents, area_map, area_geoms, path=cells_origin
            )
        meta = dict(table.meta)
        meta["sha256"] = hashlib.sha256(cells).hexdigest()
        meta["checksum"] = grid_checksum(cells, areas)
        grid = cls(
            codes,
            table.geoms,
            parents,
            area_map,
            snap_tolerance_m=snap_tolerance_m,
            meta=meta,
            area_geoms=area_geoms,
        )
        grid.validation = report
        return grid

    # --------------------------------------------------------------- lookup
    def __len__(self) -> int:
        return len(self.codes)

    def __contains__(self, code: object) -> bool:
        return code in self._pos

    def position(self, code: str) -> int:
        """Index of a cell in code order (KeyError if unknown)."""
        return self._pos[code]

    def locate(
        self, lon: float, lat: float, crs: str = "wgs84", *, accuracy_m: float | None = None
    ) -> Location:
        """The cell of one point; raises :class:`OutsideServedAreaError` when too far out."""
        lon, lat = _scalar(lon, lat)
        if crs != "wgs84":
            lon, lat = to_wgs84(lon, lat, crs)
        i = self.index.lookup_one(lon, lat)
        snapped = 0.0
        if i < 0:
            i, snapped = self._snap_one(lon, lat)
        edge_m = near = None
        if accuracy_m is not None:
            edge_m = self.edge_distance_m(i, lon, lat)
            near = edge_m < float(accuracy_m)
        return Location(
            self.codes[i],
            self.parents["community"][i],
            self.parents["street"][i],
            self.parents["district"][i],
            lon,
            lat,
            snapped,
            edge_m,
            near,
        )

    def locate_indices(
        self, lons: ArrayLike, lats: ArrayLike, crs: str = "wgs84", *, snap: bool = True
    ) -> NDArray[np.int64]:
        """Cell positions (code order) for many points; −1 where outside."""
        x, y = check_coordinates(lons, lats)
        if normalize_crs(crs) in ("gcj02", "bd09"):
            x, y = to_wgs84(x, y, crs)
        shape = x.shape
        x, y = x.reshape(-1), y.reshape(-1)
        out = self.index.lookup(x, y)
        if snap and self.snap_tolerance_m > 0:
            miss = np.flatnonzero(out < 0)
            if len(miss):
                idx, dist = self._snap_many(x[miss], y[miss])
                out[miss] = np.where(dist <= self.snap_tolerance_m, idx, -1)
        return out.reshape(shape)

    def locate_many(
        self, lons: ArrayLike, lats: ArrayLike, crs: str = "wgs84", *, snap: bool = True
    ) -> NDArray[np.str_]:
        """Cell codes for many points, vectorised; ``""`` where outside the served area."""
        return self._code_array[self.locate_indices(lons, lats, crs, snap=snap)]

    def edge_distance_m(self, i: int, lon: float, lat: float) -> float:
        """Metres from a point to the boundary of cell ``i`` (for GPS accuracy checks)."""
        x, y = self._to_metric.transform(lon, lat)
        return float(shapely.distance(self._metric_geoms[i].boundary, shapely.Point(x, y)))

    def cells_in_bbox(
        self, minx: float, miny: float, maxx: float, maxy: float
    ) -> NDArray[np.int64]:
        """Positions of the cells whose polygon meets a lon/lat box."""
        box = shapely.box(minx, miny, maxx, maxy)
        return np.sort(self._tree.query(box, predicate="intersects"))

    @cached_property
    def bounds(self) -> tuple[float, float, float, float]:
        xmin, ymin, xmax, ymax = shapely.total_bounds(self.geoms)
        return (float(xmin), float(ymin), float(xmax), float(ymax))

    # ------------------------------------------------------------- snapping
    @cached_property
    def _tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.geoms)

    @cached_property
    def _to_metric(self) -> Transformer:
        """Lon/lat → the UTM zone of the grid's centre: metres for distances."""
        xmin, ymin, xmax, ymax = self.bounds
        lon0, lat0 = (xmin + xmax) / 2, (ymin + ymax) / 2
        zone = int((lon0 + 180) // 6) + 1
        epsg = (32600 if lat0 >= 0 else 32700) + zone
        return Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True)

    @cached_property
    def _metric_geoms(self) -> np.ndarray:
        to_m = self._to_metric
        geoms = shapely.transform(self.geoms, lambda c: np.column_stack(to_m.transform(*c.T)))
        return np.asarray(geoms, dtype=object)

    @cached_property
    def _metric_tree(self) -> shapely.STRtree:
        return shapely.STRtree(self._metric_geoms)

    def _snap_many(
        self, x: NDArray[np.float64], y: NDArray[np.float64]
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Nearest cell within the tolerance and its distance in metres (inf if none).

        Ties go to the smallest code, like points on shared edges.
        """
        best = np.full(len(x), -1, dtype=np.int64)
        dist = np.full(len(x), np.inf)
        # a cheap box test in degrees first: most outside points are far away
        margin = self.snap_tolerance_m / 100_000 + 1e-6  # > tolerance in degrees
        xmin, ymin, xmax, ymax = self.bounds
        near = np.flatnonzero(
            (x >= xmin - margin / 0.5)
            & (x <= xmax + margin / 0.5)
            & (y >= ymin - margin)
            & (y <= ymax + margin)
        )
        if len(near) == 0:
            return best, dist
        mx, my = self._to_metric.transform(x[near], y[near])
        pts = shapely.points(mx, my)
        pi, ci = self._metric_tree.query(pts, predicate="dwithin", distance=self.snap_tolerance_m)
        if len(pi):
            d = shapely.distance(pts[pi], self._metric_geoms[ci])
            # lexsort: by point, then distance, then cell position; take the first of each
            order = np.lexsort((ci, d, pi))
            first = np.r_[True, pi[order][1:] != pi[order][:-1]]
            sel = order[first]
            best[near[pi[sel]]] = ci[sel]
            dist[near[pi[sel]]] = d[sel]
        return best, dist

    def _snap_one(self, lon: float, lat: float) -> tuple[int, float]:
        idx, dist = self._snap_many(np.array([lon]), np.array([lat]))
        if idx[0] < 0:
            raise OutsideServedAreaError(
                lon, lat, self._distance_m(lon, lat), self.snap_tolerance_m
            )
        return int(idx[0]), float(dist[0])

    def _distance_m(self, lon: float, lat: float) -> float:
        """Metres to the nearest cell, for the error message only."""
        mx, my = self._to_metric.transform(lon, lat)
        _, d = self._metric_tree.query_nearest(shapely.Point(mx, my), return_distance=True)
        return float(d[0])


def _scalar(lon: float, lat: float) -> tuple[float, float]:
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InvalidCoordinateError(f"coordinates must be numbers: {lon!r}, {lat!r}") from None
    if not (-180.0 <= x <= 180.0 and -90.0 <= y <= 90.0):  # also false for NaN
        raise InvalidCoordinateError(
            f"invalid coordinate: lon={x!r}, lat={y!r}; "
            "need finite lon in [-180, 180] and lat in [-90, 90]"
        )
    return x, y


def _cell_codes(props: list[dict[str, Any]], path: str) -> tuple[list[str], dict[str, list[str]]]:
    """Cell codes and parent codes; parents default to the national code lengths."""
    codes: list[str] = []
    parents: dict[str, list[str]] = {lvl: [] for lvl in LEVELS}
    for i, p in enumerate(props):
        code = p.get("code")
        if not isinstance(code, str) or not code.strip():
            raise GridDataError("missing or non-string 'code'", feature=f"#{i}", path=path)
        codes.append(code)
        for lvl in LEVELS:
            value = p.get(lvl)
            if value is None:
                n = DEFAULT_CODE_LENGTHS[lvl]
                if len(code) <= n:
                    raise GridDataError(
                        f"no '{lvl}' given and the code is too short to derive it",
                        feature=f"{code} (#{i})",
                        path=path,
                    )
                value = code[:n]
            parents[lvl].append(str(value))
    return codes, parents


def _read_areas(text: str, path: str) -> tuple[dict[str, Area], dict[str, Any]]:
    table = parse_features(text, path)
    areas: dict[str, Area] = {}
    geoms: dict[str, Any] = {}
    for i, (p, g) in enumerate(zip(table.props, table.geoms, strict=True)):
        code, level = p.get("code"), p.get("level")
        if not isinstance(code, str) or level not in LEVELS:
            raise GridDataError(
                "an area needs a string 'code' and a 'level' of "
                f"{', '.join(LEVELS)}; got {code!r}, {level!r}",
                feature=f"#{i}",
                path=path,
            )
        if code in areas:
            raise GridDataError("duplicate area code", feature=code, path=path)
        areas[code] = Area(
            code,
            level,
            str(p.get("name_zh") or code),
            str(p.get("name_en") or p.get("name_zh") or code),
            p.get("parent"),
            bool(p.get("generated", False)),
        )
        geoms[code] = g
    return areas, geoms


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (for tests and sanity checks)."""
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))
