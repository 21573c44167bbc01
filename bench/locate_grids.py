"""The grids bench/locate.py measures: Nanning, and synthetic grids built by geo.build."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import shapely

from geo.build import build_cells, partition
from geo.grid import Grid
from geo.io import write_features

ROOT = Path(__file__).resolve().parents[1]
NANNING = ROOT / "grid_data" / "nanning"
CACHE = ROOT / "var" / "bench"
CENTRE = (108.32, 22.82)  # lon, lat of central Nanning
SEED = 20240601


def synthetic_grid(area_km2: float, n_parents: int, cell_m: float = 100.0) -> tuple[Grid, dict]:
    """A square of ``area_km2`` around Nanning cut into Voronoi parents, then cells.

    Cached under ``var/bench/`` keyed by the parameters; returns the grid and timings.
    """
    key = f"synthetic_{int(area_km2)}km2_{n_parents}p_{int(cell_m)}m_s{SEED}_v1"
    folder = CACHE / key
    cells_path = folder / "cells.geojson"
    info: dict[str, Any] = {"cache": str(cells_path.relative_to(ROOT))}
    if cells_path.exists():
        info["cached"] = True
    else:
        info["cached"] = False
        lon0, lat0 = CENTRE
        half_km = math.sqrt(area_km2) / 2
        hw = half_km / (111.32 * math.cos(math.radians(lat0)))
        hh = half_km / 110.57
        square = shapely.box(lon0 - hw, lat0 - hh, lon0 + hw, lat0 + hh)
        t0 = time.perf_counter()
        parents = partition(square, n_parents, seed=SEED)
        # district 450199, street 3 digits, community 3 digits, cell 4 digits
        named = [(f"450199{i // 10 + 1:03d}{i % 10 + 1:03d}", p) for i, p in enumerate(parents)]
        cells = build_cells(named, cell_size_m=cell_m, digits=4)
        info["generate_s"] = time.perf_counter() - t0
        folder.mkdir(parents=True, exist_ok=True)
        tmp = cells_path.with_suffix(".tmp")
        write_features(
            tmp,
            [c.geometry for c in cells],
            (
                {
                    "code": c.code,
                    "district": c.parent[:6],
                    "street": c.parent[:9],
                    "community": c.parent,
                }
                for c in cells
            ),
            meta={"name": key},
        )
        tmp.replace(cells_path)
    t0 = time.perf_counter()
    grid = Grid.load(folder, validate=False)
    info["load_s"] = time.perf_counter() - t0
    return grid, info


def nanning_grid() -> tuple[Grid, dict]:
    t0 = time.perf_counter()
    grid = Grid.load(NANNING, validate=False)
    return grid, {"load_s": time.perf_counter() - t0, "cached": None}
