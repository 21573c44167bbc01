"""A city's own grid files for load-grid tests, written with pyogrio from tests/data/mini.

The mini grid (3 × 2 cells of 0.001° at 108.300 E, 22.800 N; west community = columns 0–1)
is written with a survey office's column names (WGBM cell code, SQBM/SQMC community code
and name, JDBM/JDMC street, QXBM/QXMC district) as GeoJSON (WGS-84), GeoPackage
(EPSG:4545, CGCS2000 Gauss-Krüger, metres) or Shapefile (GCJ-02, no .prj). ``redrawn``
gives the same ground as one community 中社区 (450103901903) with new cell codes.
"""

from __future__ import annotations

import csv
import shutil
import warnings
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import numpy as np
import pyogrio.raw
import shapely
from apikit import Api, running_app
from pyproj import Transformer

from geo import from_wgs84
from geo.io import read_features

ROOT = Path(__file__).resolve().parents[1]
MINI = ROOT / "tests" / "data" / "mini"
NANNING = ROOT / "grid_data" / "nanning"
#: the source columns and the load-grid options naming them
COLUMNS = {
    "code": "WGBM",
    "community": "SQBM",
    "community_name": "SQMC",
    "street": "JDBM",
    "street_name": "JDMC",
    "district": "QXBM",
    "district_name": "QXMC",
}
OPTIONS = [
    arg for key, column in COLUMNS.items() for arg in (f"--{key.replace('_', '-')}-column", column)
]
NW = (108.3005, 22.8015)  # inside the north-west cell of the mini grid
NAMES = {"450103901901": "西社区", "450103901902": "东社区", "450103901903": "中社区"}
#: per format: file name, coordinates written, CRS the file declares, --source-crs needed
FORMATS: dict[str, tuple[str, str, str | None, str | None]] = {
    "geojson": ("cells.geojson", "wgs84", "EPSG:4326", None),
    "gpkg": ("cells.gpkg", "EPSG:4545", "EPSG:4545", None),
    "shp": ("cells.shp", "gcj02", None, "gcj02"),  # GCJ-02 has no EPSG code: declared
}
DRIVERS = {"geojson": "GeoJSON", "gpkg": "GPKG", "shp": "ESRI Shapefile"}


def mini_cells(*, redrawn: bool = False) -> tuple[np.ndarray, list[dict[str, str]]]:
    """The mini grid's polygons (WGS-84) and their attributes under the source's names."""
    table = read_features(MINI / "cells.geojson")
    rows = []
    for i, p in enumerate(table.props):
        community = "450103901903" if redrawn else p["community"]
        code = f"{community}{i + 1:03d}" if redrawn else p["code"]
        rows.append(
            {
                "WGBM": code,
                "SQBM": community,
                "SQMC": NAMES[community],
                "JDBM": "450103901",
                "JDMC": "测试街道",
                "QXBM": "450103",
                "QXMC": "青秀区",
            }
        )
    return np.asarray(table.geoms, dtype=object), rows


def in_crs(geoms: np.ndarray, crs: str) -> np.ndarray:
    """WGS-84 polygons in ``crs`` (an EPSG code, or gcj02)."""
    if crs == "wgs84":
        return geoms
    if crs == "gcj02":
        return shapely.transform(
            geoms, lambda c: np.column_stack(from_wgs84(c[:, 0], c[:, 1], crs))
        )
    to = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    return shapely.transform(geoms, lambda c: np.column_stack(to.transform(c[:, 0], c[:, 1])))


def write_layer(
    path: Path,
    geoms: np.ndarray,
    rows: list[dict[str, Any]],
    *,
    driver: str,
    crs: str | None,
) -> Path:
    fields = list(rows[0]) if rows else []
    data = [np.asarray([r[f] for r in rows], dtype=object) for f in fields]
    with warnings.catch_warnings():  # a file without a CRS is what some tests want
        warnings.filterwarnings("ignore", "'crs' was not provided", UserWarning)
        _write(path, geoms, data, fields, driver=driver, crs=crs)
    return path


def _write(path: Path, geoms: np.ndarray, data: list[Any], fields: list[str], **kw: Any) -> None:
    driver, crs = kw["driver"], kw["crs"]
    pyogrio.raw.write(
        path,
        shapely.to_wkb(geoms),
        data,
        fields,
        driver=driver,
        geometry_type="Polygon",
        crs=crs,
        encoding="UTF-8" if driver == "ESRI Shapefile" else None,
    )


def source_file(folder: Path, fmt: str, *, redrawn: bool = False) -> tuple[Path, list[str]]:
    """The mini grid as ``fmt``; the path and the load-grid options it needs."""
    name, coords, file_crs, declared = FORMATS[fmt]
    geoms, rows = mini_cells(redrawn=redrawn)
    path = write_layer(
        folder / name, in_crs(geoms, coords), rows, driver=DRIVERS[fmt], crs=file_crs
    )
    return path, [*OPTIONS, *(["--source-crs", declared] if declared else [])]


def small_city(folder: Path) -> Path:
    """Nanning's event types, rules and calendar with the units of 青秀 / street 450103901
    only (the mini grid's areas); the grid files are for load-grid to write."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in NANNING.iterdir():
        if f.suffix in (".csv", ".toml"):
            shutil.copy(f, folder / f.name)
    keep = ("4501", "450103", "450103901")
    units = _filter(folder / "units.csv", lambda r: r["area_code"] in keep)
    _filter(folder / "teams.csv", lambda r: r["unit_id"] in units)
    return folder


def _filter(path: Path, keep: Any) -> set[str]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        rows = [r for r in reader if keep(r)]
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)
    return {r[fields[0]] for r in rows}


def running(
    url: str, city: Path, tmp_path: Path, photo_dir: Path | None = None
) -> AbstractContextManager[Api]:
    """The app on ``url`` with ``city``, started and stopped like a process."""
    return running_app(url, city_dir=city, photo_dir=photo_dir or tmp_path / "photos")
