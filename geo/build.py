"""Generate unit grid cells (万米单元网格) from parent polygons.

Cells are squares of a lattice laid in a metric CRS (default EPSG:4545, CGCS2000
3-degree Gauss-Krüger zone 36, central meridian 108°E), aligned to multiples of
the cell size so neighbouring parents share lattice lines. Each square is clipped
to its parent; pieces smaller than ``sliver_ratio`` of a full cell are merged into
the neighbour (same parent) they share the longest edge with. Cells are numbered
west→east, north→south inside each parent: code = parent code + sequence.

The output is a pure function of the input: the same parents give the same cells,
coordinate for coordinate, so the written file is byte-identical.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from geo.errors import GridDataError

DEFAULT_CELL_SIZE_M = 100.0
DEFAULT_METRIC_CRS = "EPSG:4545"
DEFAULT_SLIVER_RATIO = 0.25
#: 1e-7 degree is about 1 cm: output coordinates are snapped to this grid.
OUTPUT_GRID_DEG = 1e-7
NOISE_M2 = 1.0


@dataclass(frozen=True)
class Cell:
    code: str
    parent: str
    geometry: BaseGeometry  # WGS-84


class _Projector:
    def __init__(self, metric_crs: str) -> None:
        self.fwd = Transformer.from_crs("EPSG:4326", metric_crs, always_xy=True)
        self.inv = Transformer.from_crs(metric_crs, "EPSG:4326", always_xy=True)

    def to_metric(self, g: BaseGeometry) -> BaseGeometry:
        return shapely.transform(g, lambda c: np.column_stack(self.fwd.transform(*c.T)))

    def to_wgs84(self, g: np.ndarray) -> np.ndarray:
        return np.asarray(
            shapely.transform(g, lambda c: np.column_stack(self.inv.transform(*c.T))),
            dtype=object,
        )


def build_cells(
    parents: Sequence[tuple[str, BaseGeometry]],
    *,
    cell_size_m: float = DEFAULT_CELL_SIZE_M,
    metric_crs: str = DEFAULT_METRIC_CRS,
    sliver_ratio: float = DEFAULT_SLIVER_RATIO,
    digits: int = 3,
    progress: Callable[[int], None] | None = None,
) -> list[Cell]:
    """Cells for every parent ``(code, WGS-84 polygon)``, in parent order then code order."""
    if cell_size_m <= 0:
        raise ValueError("cell_size_m must be positive")
    proj = _Projector(metric_crs)
    out: list[Cell] = []
    for code, geom in parents:
        metric = proj.to_metric(geom)
        if not metric.is_valid:
            raise GridDataError(
                f"invalid parent polygon: {shapely.is_valid_reason(metric)}", feature=code
            )
        pieces, rows, cols = _clip_lattice(metric, cell_size_m)
        pieces, rows, cols = _merge_slivers(pieces, rows, cols, sliver_ratio * cell_size_m**2)
        order = _reading_order(pieces, rows, cols)
        wgs = shapely.set_precision(proj.to_wgs84(pieces[order]), OUTPUT_GRID_DEG)
        wgs = wgs[~shapely.is_empty(wgs)]  # slivers thinner than the output precision
        if len(wgs) >= 10**digits:
            raise GridDataError(
                f"{len(wgs)} cells do not fit {digits}-digit sequence numbers; "
                "split the parent or use more digits",
                feature=code,
            )
        for seq, g in enumerate(wgs, start=1):
            if not g.is_valid or g.geom_type != "Polygon":
                raise GridDataError("a generated cell became invalid when rounded", feature=code)
            out.append(Cell(f"{code}{seq:0{digits}d}", code, g))
        if progress:
            progress(1)
    return out


def _clip_lattice(parent: BaseGeometry, size: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Polygonal pieces of the lattice squares inside the parent, with their row/column."""
    minx, miny, maxx, maxy = parent.bounds
    cols = np.arange(np.floor(minx / size), np.ceil(maxx / size), dtype=np.int64)
    rows = np.arange(np.floor(miny / size), np.ceil(maxy / size), dtype=np.int64)
    grid_c, grid_r = np.meshgrid(cols, rows)
    cc, rr = grid_c.ravel(), grid_r.ravel()
    squares = shapely.box(cc * size, rr * size, (cc + 1) * size, (rr + 1) * size)
    shapely.prepare(parent)
    hit = shapely.intersects(parent, squares)
    inside = shapely.contains_properly(parent, squares[hit])
    squares, cc, rr = squares[hit], cc[hit], rr[hit]
    pieces = squares.copy()
    edge = ~inside
    pieces[edge] = shapely.intersection(squares[edge], parent)
    parts, src = shapely.get_parts(pieces, return_index=True)
    parts = _polygonal(parts)
    # pieces under NOISE_M2 are rounding noise where a parent edge runs along a lattice line
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > NOISE_M2)
    return parts[keep], rr[src][keep], cc[src][keep]


def _polygonal(parts: np.ndarray) -> np.ndarray:
    """Drop the lines and points an intersection may add along touching edges."""
    out: list[BaseGeometry] = []
    for g in parts:
        if g.geom_type == "GeometryCollection":
            out.extend(p for p in shapely.get_parts(g) if p.geom_type == "Polygon")
        else:
            out.append(g)
    return np.asarray(out, dtype=object)


def _merge_slivers(
    pieces: np.ndarray, rows: np.ndarray, cols: np.ndarray, min_area: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fold small pieces into the neighbour sharing the longest edge."""
    areas = shapely.area(pieces)
    small = np.flatnonzero(areas < min_area)
    if len(small) == 0 or len(small) == len(pieces):
        return pieces, rows, cols
    big = np.flatnonzero(areas >= min_area)
    tree = shapely.STRtree(pieces[big])
    si, bj = tree.query(pieces[small], predicate="touches")
    shared = shapely.length(
        shapely.intersection(shapely.boundary(pieces[small[si]]), shapely.boundary(pieces[big[bj]]))
    )
    target: dict[int, int] = {}
    best: dict[int, tuple[float, int]] = {}
    for s, b, length in zip(si.tolist(), bj.tolist(), shared.tolist(), strict=True):
        if length <= 0:
            continue
        key = (-length, int(big[b]))
        if s not in best or key < best[s]:
            best[s] = key
            target[s] = int(big[b])
    groups: dict[int, list[int]] = {}
    for s, t in sorted(target.items()):
        groups.setdefault(t, []).append(int(small[s]))
    merged = pieces.copy()
    drop = np.zeros(len(pieces), dtype=bool)
    for t, members in groups.items():
        u = shapely.union_all(np.asarray([pieces[t], *pieces[members]], dtype=object))
        if u.geom_type != "Polygon":  # touching only at a point: leave them apart
            continue
        merged[t] = u
        drop[members] = True
    keep = ~drop
    return merged[keep], rows[keep], cols[keep]


def _reading_order(pieces: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """North row first, then west to east; pieces of one square by their inner point."""
    pts = shapely.point_on_surface(pieces)
    return np.lexsort((shapely.get_x(pts), -shapely.get_y(pts), cols, -rows))


def partition(
    polygon: BaseGeometry,
    n: int,
    *,
    seed: int,
    metric_crs: str = DEFAULT_METRIC_CRS,
    iterations: int = 8,
) -> list[BaseGeometry]:
    """Split a WGS-84 polygon into ``n`` compact parts of similar size (demo data only).

    Voronoi regions of seed points relaxed by Lloyd's algorithm, clipped to the
    polygon, ordered north→south, west→east. Deterministic for a given ``seed``.
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    proj = _Projector(metric_crs)
    metric = proj.to_metric(polygon)
    if n == 1:
        return [polygon]
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = metric.bounds
    shapely.prepare(metric)
    pts = np.empty((0, 2))
    while len(pts) < n:
        cand = rng.uniform((minx, miny), (maxx, maxy), size=(4 * n, 2))
        ok = shapely.contains_xy(metric, cand[:, 0], cand[:, 1])
        pts = np.vstack([pts, cand[ok]])
    pts = pts[:n]
    regions = _voronoi(pts, metric)
    for _ in range(iterations):
        empty = shapely.is_empty(regions)
        cents = pts.copy()
        cents[~empty] = shapely.get_coordinates(shapely.centroid(regions[~empty]))
        pts = cents
        regions = _voronoi(pts, metric)
    regions = regions[~shapely.is_empty(regions)]
    pos = shapely.point_on_surface(regions)
    order = np.lexsort((shapely.get_x(pos), -shapely.get_y(pos)))
    return list(proj.to_wgs84(regions[order]))


def _voronoi(pts: np.ndarray, clip: BaseGeometry) -> np.ndarray:
    cells = shapely.get_parts(
        shapely.voronoi_polygons(
            shapely.multipoints(pts), extend_to=shapely.box(*clip.bounds), ordered=True
        )
    )
    return np.asarray(shapely.intersection(cells, clip), dtype=object)
