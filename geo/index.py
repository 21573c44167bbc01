"""A bucket index that maps points to cells of a polygon tiling, vectorised.

Why not a plain STRtree: unit cells tile the plane regularly, so a fine lattice of
buckets over the grid's bounding box answers most points with one array lookup.

* A *pure* bucket is touched by no cell edge: every point in it belongs to one
  cell (or to none), found at build time by a scanline over the bucket centres.
* A *line* bucket is touched only by edges lying on one straight line with one
  cell on each side (the common case along a cell edge): a sign test decides.
* Any other bucket (corners, irregular edges) keeps its candidate cells, tested
  exactly with GEOS. Points within a hair of a line fall back to that exact test.

The rule for points on an edge or corner: the point belongs to the cell with the
lowest index among the cells whose closed polygon contains it. Cells are kept in
code order, so that is the smallest code: one cell, always, deterministically.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import shapely

#: Buckets per typical cell width: 8 puts ~77 % of points in pure buckets.
DEFAULT_RESOLUTION = 8
#: Upper bound on the bucket lattice (int32 each): 32 M buckets = 128 MB.
MAX_BUCKETS = 32_000_000
#: Relative precision margin: points nearer a line than ~1e-12 of the coordinates'
#: magnitude go to the exact GEOS test, where float rounding could flip a sign.
_REL_TOL = 1e-12

_PAIR_CHUNK = 2_000_000
_UNKNOWN = -3


class CellIndex:
    """Point → cell index over a tiling of polygons (lon/lat or any planar frame)."""

    def __init__(self, geoms: np.ndarray, resolution: int = DEFAULT_RESOLUTION) -> None:
        self.geoms = np.asarray(geoms, dtype=object)
        shapely.prepare(self.geoms)
        n = len(self.geoms)
        if n == 0:
            raise ValueError("no cells to index")
        bounds = shapely.bounds(self.geoms)
        self.xmin, self.ymin = float(bounds[:, 0].min()), float(bounds[:, 1].min())
        self.xmax, self.ymax = float(bounds[:, 2].max()), float(bounds[:, 3].max())
        w = float(np.median(bounds[:, 2] - bounds[:, 0]))
        h = float(np.median(bounds[:, 3] - bounds[:, 1]))
        span_x = max(self.xmax - self.xmin, 1e-12)
        span_y = max(self.ymax - self.ymin, 1e-12)
        dx = max(w / resolution, span_x / 65536)
        dy = max(h / resolution, span_y / 65536)
        while math.ceil(span_x / dx) * math.ceil(span_y / dy) > MAX_BUCKETS:
            dx, dy = dx * 1.25, dy * 1.25
        self.dx, self.dy = dx, dy
        self.nx = math.ceil(span_x / dx) + 1
        self.ny = math.ceil(span_y / dy) + 1
        self._eps_x, self._eps_y = dx * 1e-6, dy * 1e-6
        self._scale = abs(self.xmin) + abs(self.xmax) + abs(self.ymin) + abs(self.ymax) + 1.0
        self._build(self._segments())

    # ------------------------------------------------------------------ build
    def _segments(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Every ring edge (ax, ay, bx, by, cell), rings oriented so interiors lie left."""
        oriented = shapely.orient_polygons(self.geoms, exterior_cw=False)
        parts, part_cell = shapely.get_parts(oriented, return_index=True)
        rings, ring_part = shapely.get_rings(parts, return_index=True)
        xy, ring_of = shapely.get_coordinates(rings, return_index=True)
        same = ring_of[:-1] == ring_of[1:]
        a, b = xy[:-1][same], xy[1:][same]
        cell = part_cell[ring_part[ring_of[:-1][same]]]
        keep = (a[:, 0] != b[:, 0]) | (a[:, 1] != b[:, 1])
        a, b, cell = a[keep], b[keep], cell[keep]
        return a[:, 0], a[:, 1], b[:, 0], b[:, 1], cell.astype(np.int64)

    def _build(self, seg: tuple[np.ndarray, ...]) -> None:
        ax, ay, bx, by, cell = seg
        pair_bucket, pair_seg = self._rasterize(ax, ay, bx, by)
        labels = self._scanline_labels(ax, ay, bx, by, cell)
        touched = np.zeros(self.nx * self.ny, dtype=bool)
        touched[pair_bucket] = True
        impure = np.flatnonzero(touched)
        del touched
        bucket = labels.astype(np.int32)
        unknown = np.flatnonzero(labels == _UNKNOWN)
        if len(unknown):
            cx = self.xmin + (unknown % self.nx + 0.5) * self.dx
            cy = self.ymin + (unknown // self.nx + 0.5) * self.dy
            bucket[unknown] = self._exact_any(cx, cy)
        bucket[impure] = -2 - np.arange(len(impure), dtype=np.int32)
        self.bucket = bucket
        # one sort groups the pairs by bucket, with cells ascending inside each
        k = (-2 - bucket[pair_bucket]).astype(np.int64)
        order = np.argsort(k * len(self.geoms) + cell[pair_seg])
        k, pair_seg = k[order], pair_seg[order]
        c = cell[pair_seg]
        first = np.r_[True, (k[1:] != k[:-1]) | (c[1:] != c[:-1])]
        self.cand_idx = c[first].astype(np.int32)
        self.cand_ptr = np.searchsorted(k[first], np.arange(len(impure) + 1)).astype(np.int32)
        self._classify_lines(k, pair_seg, ax, ay, bx, by, cell, len(impure))

    def _rasterize(
        self, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(bucket, segment) pairs for every bucket whose closed box a segment touches."""
        ix0 = self._col(np.minimum(ax, bx) - self._eps_x)
        ix1 = self._col(np.maximum(ax, bx) + self._eps_x)
        iy0 = self._row(np.minimum(ay, by) - self._eps_y)
        iy1 = self._row(np.maximum(ay, by) + self._eps_y)
        all_counts = (ix1 - ix0 + 1) * (iy1 - iy0 + 1)
        # chunks of about _PAIR_CHUNK (segment, bucket) pairs bound the memory used
        cuts = np.searchsorted(
            np.cumsum(all_counts), np.arange(1, all_counts.sum() // _PAIR_CHUNK + 1) * _PAIR_CHUNK
        )
        bounds = np.unique(np.concatenate([[0], cuts, [len(ax)]]))
        out_b, out_s = [], []
        for start, stop in itertools.pairwise(bounds):
            sl = slice(start, stop)
            x1, y1, x2, y2 = ax[sl], ay[sl], bx[sl], by[sl]
            nxs = ix1[sl] - ix0[sl] + 1
            counts = all_counts[sl]
            sid = np.repeat(np.arange(len(x1)), counts)
            offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            cx = ix0[sl][sid] + offset % nxs[sid]
            cy = iy0[sl][sid] + offset // nxs[sid]
            # box corners (expanded by eps) against the segment's line
            x_lo = self.xmin + cx * self.dx - self._eps_x
            y_lo = self.ymin + cy * self.dy - self._eps_y
            x_hi, y_hi = x_lo + self.dx + 2 * self._eps_x, y_lo + self.dy + 2 * self._eps_y
            ux, uy = (x2 - x1)[sid], (y2 - y1)[sid]
            px, py = x1[sid], y1[sid]
            c1 = ux * (y_lo - py) - uy * (x_lo - px)
            c2 = ux * (y_lo - py) - uy * (x_hi - px)
            c3 = ux * (y_hi - py) - uy * (x_lo - px)
            c4 = ux * (y_hi - py) - uy * (x_hi - px)
            lo = np.minimum(np.minimum(c1, c2), np.minimum(c3, c4))
            hi = np.maximum(np.maximum(c1, c2), np.maximum(c3, c4))
            tol = np.hypot(ux, uy) * self._scale * _REL_TOL
            hit = (lo <= tol) & (hi >= -tol)
            out_b.append((cy * self.nx + cx)[hit])
            out_s.append(sid[hit] + start)
        return np.concatenate(out_b), np.concatenate(out_s)

    def _col(self, x: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((x - self.xmin) / self.dx), 0, self.nx - 1).astype(np.int64)

    def _row(self, y: np.ndarray) -> np.ndarray:
        return np.clip(np.floor((y - self.ymin) / self.dy), 0, self.ny - 1).astype(np.int64)

    def _scanline_labels(
        self, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, cell: np.ndarray
    ) -> np.ndarray:
        """The cell (or -1) at every bucket centre, exact for buckets no edge touches.

        Going east along a row of centres, crossing a downward edge of cell c
        enters c and crossing an upward edge leaves it (interiors lie left).
        """
        # canonical endpoint order, so a shared edge gives bit-identical crossings
        swap = (by < ay) | ((by == ay) & (bx < ax))
        lx, ly = np.where(swap, bx, ax), np.where(swap, by, ay)
        hx, hy = np.where(swap, ax, bx), np.where(swap, ay, by)
        down = swap  # the ring runs from high to low y
        r0 = np.ceil((ly - self.ymin) / self.dy - 0.5).astype(np.int64)
        r1 = np.ceil((hy - self.ymin) / self.dy - 0.5).astype(np.int64)  # half-open [ly, hy)
        r0, r1 = np.clip(r0, 0, self.ny), np.clip(r1, 0, self.ny)
        counts = np.maximum(r1 - r0, 0)
        sid = np.repeat(np.arange(len(lx)), counts)
        row = r0[sid] + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        yc = self.ymin + (row + 0.5) * self.dy
        t = (yc - ly[sid]) / (hy - ly)[sid]
        xc = lx[sid] + t * (hx - lx)[sid]
        label = np.where(down[sid], cell[sid], -1)
        # a synthetic "outside" crossing at the start of every row
        rows = np.arange(self.ny)
        row = np.concatenate([rows, row])
        xc = np.concatenate([np.full(self.ny, -np.inf), xc])
        label = np.concatenate([np.full(self.ny, -1), label])
        is_down = np.concatenate([np.zeros(self.ny, bool), down[sid]])
        order = np.lexsort((is_down, xc, row))
        row, xc, label, is_down = row[order], xc[order], label[order], is_down[order]
        # depth of nesting after each crossing; an exit that leaves us still "inside"
        # means two edges that should coincide do not: resolve such spans exactly
        depth = np.cumsum(np.where(is_down, 1, -1) * (np.isfinite(xc)))
        depth -= depth[np.searchsorted(row, row)]
        label = np.where(~is_down & (depth != 0), _UNKNOWN, label)
        col = np.ceil((xc - self.xmin) / self.dx - 0.5)
        col = np.clip(np.nan_to_num(col, neginf=0), 0, self.nx).astype(np.int64)
        pos = row * self.nx + col
        inside = col < self.nx
        last = np.r_[pos[1:] != pos[:-1], True] & inside
        marker = np.zeros(self.ny * self.nx, dtype=np.int64)
        marker[pos[last]] = np.flatnonzero(last) + 1
        np.maximum.accumulate(marker, out=marker)
        return label[marker - 1]

    def _classify_lines(
        self,
        k: np.ndarray,
        pair_seg: np.ndarray,
        ax: np.ndarray,
        ay: np.ndarray,
        bx: np.ndarray,
        by: np.ndarray,
        cell: np.ndarray,
        n_impure: int,
    ) -> None:
        """Mark impure buckets whose edges all lie on one line between two cells."""
        s = pair_seg  # grouped by bucket k
        first = np.searchsorted(k, np.arange(n_impure))
        f = s[first]  # the reference segment of each bucket
        ox, oy = ax[f], ay[f]
        ux, uy = bx[f] - ox, by[f] - oy
        length = np.hypot(ux, uy)
        ref_x, ref_y, ref_ux, ref_uy = ox[k], oy[k], ux[k], uy[k]
        tol = (length * self._scale * _REL_TOL * 0.1)[k]
        ca = ref_ux * (ay[s] - ref_y) - ref_uy * (ax[s] - ref_x)
        cb = ref_ux * (by[s] - ref_y) - ref_uy * (bx[s] - ref_x)
        collinear = (np.abs(ca) <= tol) & (np.abs(cb) <= tol)
        same_dir = ref_ux * (bx[s] - ax[s]) + ref_uy * (by[s] - ay[s]) > 0
        c = cell[s]
        ok = np.ones(n_impure, bool)
        np.logical_and.at(ok, k, collinear)
        left = np.full(n_impure, -1, np.int32)
        right = np.full(n_impure, -1, np.int32)
        # each side must be a single cell: compare min and max cell per side
        for side, want in ((left, True), (right, False)):
            sel = same_dir == want
            lo = np.full(n_impure, np.iinfo(np.int64).max)
            hi = np.full(n_impure, -1, np.int64)
            np.minimum.at(lo, k[sel], c[sel])
            np.maximum.at(hi, k[sel], c[sel])
            single = hi >= 0
            ok &= ~single | (lo == hi)
            side[single] = hi[single]
        ok &= left >= 0
        self.line_ok = ok
        self.line_ox, self.line_oy = ox, oy
        self.line_ux, self.line_uy = ux, uy
        self.line_left, self.line_right = left, right

    # ----------------------------------------------------------------- lookup
    def lookup(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Cell index of each point (−1 where no cell covers it). Inputs must be finite."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        out = np.full(x.shape, -1, dtype=np.int64)
        fx = np.floor((x - self.xmin) / self.dx)
        fy = np.floor((y - self.ymin) / self.dy)
        inb = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        pos = np.flatnonzero(inb)
        b = self.bucket[fy[pos].astype(np.int64) * self.nx + fx[pos].astype(np.int64)]
        out[pos] = b  # pure buckets: the answer; impure ones are fixed below
        imp = b <= -2
        if not imp.any():
            return out
        pos, kk = pos[imp], -2 - b[imp].astype(np.int64)
        out[pos] = -1
        line = self.line_ok[kk]
        lp, lk = pos[line], kk[line]
        cross = self.line_ux[lk] * (y[lp] - self.line_oy[lk]) - self.line_uy[lk] * (
            x[lp] - self.line_ox[lk]
        )
        tol = np.hypot(self.line_ux[lk], self.line_uy[lk]) * (self._scale * _REL_TOL)
        out[lp] = np.where(cross > tol, self.line_left[lk], self.line_right[lk])
        near = np.abs(cross) <= tol
        slow_pos = np.concatenate([pos[~line], lp[near]])
        slow_k = np.concatenate([kk[~line], lk[near]])
        if len(slow_pos):
            out[slow_pos] = self._exact(x[slow_pos], y[slow_pos], slow_k)
        return out

    def _exact(self, x: np.ndarray, y: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Lowest-index candidate whose closed polygon holds the point, else −1."""
        start, stop = self.cand_ptr[k], self.cand_ptr[k + 1]
        counts = stop - start
        pid = np.repeat(np.arange(len(k)), counts)
        cidx = self.cand_idx[
            np.repeat(start, counts)
            + np.arange(counts.sum())
            - np.repeat(np.cumsum(counts) - counts, counts)
        ]
        hit = shapely.intersects_xy(self.geoms[cidx], x[pid], y[pid])
        res = np.full(len(k), np.iinfo(np.int64).max)
        np.minimum.at(res, pid[hit], cidx[hit])
        res[res == np.iinfo(np.int64).max] = -1
        return res

    def _exact_any(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Lowest-index cell holding each point, by a tree query (build-time only)."""
        pi, ci = shapely.STRtree(self.geoms).query(shapely.points(x, y), predicate="intersects")
        res = np.full(len(x), np.iinfo(np.int64).max)
        np.minimum.at(res, pi, ci)
        res[res == np.iinfo(np.int64).max] = -1
        return res

    def lookup_one(self, x: float, y: float) -> int:
        """Scalar lookup without array overhead (the single-report hot path)."""
        fx = math.floor((x - self.xmin) / self.dx)
        fy = math.floor((y - self.ymin) / self.dy)
        if not (0 <= fx < self.nx and 0 <= fy < self.ny):
            return -1
        b = int(self.bucket[fy * self.nx + fx])
        if b >= -1:
            return b
        k = -2 - b
        if self.line_ok[k]:
            cross = float(self.line_ux[k]) * (y - float(self.line_oy[k])) - float(
                self.line_uy[k]
            ) * (x - float(self.line_ox[k]))
            tol = (
                math.hypot(float(self.line_ux[k]), float(self.line_uy[k])) * self._scale * _REL_TOL
            )
            if cross > tol:
                return int(self.line_left[k])
            if cross < -tol:
                return int(self.line_right[k])
        cands = self.cand_idx[self.cand_ptr[k] : self.cand_ptr[k + 1]]
        hit = shapely.intersects_xy(self.geoms[cands], x, y)
        return int(cands[hit][0]) if hit.any() else -1

    @property
    def nbytes(self) -> int:
        arrays = (
            self.bucket,
            self.cand_ptr,
            self.cand_idx,
            self.line_ok,
            self.line_ox,
            self.line_oy,
            self.line_ux,
            self.line_uy,
            self.line_left,
            self.line_right,
        )
        return int(sum(a.nbytes for a in arrays))
