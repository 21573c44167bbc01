"""Grid versions on SQLite and PostGIS: a redraw never moves an old case.

The city is Nanning's data with the units of the mini grid's street (tests/gridkit.py);
its grid comes in through ``griddispatch load-grid`` like a real city's. Version A is the
mini grid (communities 西社区 / 东社区), version B the same ground redrawn as one community
中社区 with new cell codes.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apikit import DEMO_PASSWORD, Api
from click.testing import CliRunner
from gridkit import NW, running, small_city, source_file

from dispatch.catalogue.grids import GridRefused, open_grid
from dispatch.citydata import load_city
from dispatch.cli import main
from dispatch.db import Database
from dispatch.migrate import upgrade


@pytest.fixture
def city(tmp_path: Path) -> Path:
    """The small city with grid A in its folder."""
    folder = small_city(tmp_path / "city")
    load_grid(tmp_path, "A", "--out", folder, city=folder)
    return folder


def load_grid(tmp_path: Path, which: str, *args: object, city: Path, url: str = "") -> str:
    source, options = source_file(_dir(tmp_path / which), "gpkg", redrawn=which == "B")
    result = CliRunner().invoke(
        main,
        ["load-grid", str(source), *options, "--city", str(city), *map(str, args)],
        env={"DATABASE_URL": url} if url else None,
    )
    assert result.exit_code == 0, result.output
    return result.output


def _dir(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path


def report(api: Api, event: str, point: tuple[float, float] = NW) -> dict[str, Any]:
    r = api.client.post(
        "/api/v1/reports",
        json={"event_type": event, "lon": point[0], "lat": point[1], "description": "测试"},
        headers={**api.auth("worker1"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def cell_codes(api: Api, **params: Any) -> list[str]:
    r = api.get("dispatcher", "/grid/cells", bbox="108.2995,22.7995,108.3035,22.8025", **params)
    assert r.status_code == 200, r.text
    return sorted(f["properties"]["code"] for f in r.json()["features"])


def community_names(api: Api, **params: Any) -> list[str]:
    r = api.get("dispatcher", "/grid/areas", level="community", **params)
    assert r.status_code == 200, r.text
    return sorted(f["properties"]["name_zh"] for f in r.json()["features"])


def test_an_old_case_keeps_its_cell_and_areas_after_a_redraw(
    db_url: str, city: Path, tmp_path: Path
) -> None:
    with running(db_url, city, tmp_path) as api:
        old = report(api, "06014")
        assert old["location"]["cell"] == "450103901901001"
        assert old["location"]["community_name"] == "西社区"
        assert old["location"]["grid_version"] == 1

    out = load_grid(tmp_path, "B", "--activate", city=city, url=db_url)
    assert "grid version 2 (6 cells) is in force" in out

    # the folder still holds A: the process serves B, the version in force, from the database
    with running(db_url, city, tmp_path) as api:
        assert api.state.grid_version == 2
        seen = api.get("dispatcher", f"/cases/{old['id']}").json()
        assert seen["location"]["cell"] == "450103901901001"
        assert seen["location"]["community"] == "450103901901"
        assert seen["location"]["community_name"] == "西社区"
        assert seen["location"]["grid_version"] == 1
        new = report(api, "06010")
        assert new["location"]["cell"] == "450103901903001"
        assert new["location"]["community_name"] == "中社区"
        assert new["location"]["grid_version"] == 2
        listed = {c["id"]: c for c in api.get("dispatcher", "/cases").json()["items"]}
        assert listed[old["id"]]["location"]["community_name"] == "西社区"

        versions = api.get("worker1", "/grid/versions").json()
        assert [(v["id"], v["current"], v["cells"]) for v in versions] == [
            (1, False, 6),
            (2, True, 6),
        ]
        assert versions[0]["valid_to"] == versions[1]["valid_from"]
        assert versions[0]["source"] == "city folder city"
        assert versions[1]["source"] == "load-grid cells.gpkg (EPSG:4545)"

        assert cell_codes(api) == [f"450103901903{i:03d}" for i in range(1, 7)]
        assert cell_codes(api, version=1) == [
            *(f"450103901901{i:03d}" for i in range(1, 5)),
            *(f"450103901902{i:03d}" for i in range(1, 3)),
        ]
        assert community_names(api) == ["中社区"]
        assert community_names(api, version=1) == ["东社区", "西社区"]
        missing = api.get("dispatcher", "/grid/cells", bbox="108.3,22.8,108.301,22.801", version=9)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "unknown_grid_version"

    # the folder brought up to date: the same grid, no third version
    load_grid(tmp_path, "B", "--out", city, city=city)
    with running(db_url, city, tmp_path) as api:
        assert api.state.grid_version == 2
        assert len(api.get("dispatcher", "/grid/versions").json()) == 2


def test_a_changed_city_folder_becomes_the_next_version(
    db_url: str, city: Path, tmp_path: Path
) -> None:
    with running(db_url, city, tmp_path) as api:
        old = report(api, "06014")
    load_grid(tmp_path, "B", "--out", city, city=city)  # edit the folder, then restart
    with running(db_url, city, tmp_path) as api:
        assert api.state.grid_version == 2
        assert report(api, "06010")["location"]["community"] == "450103901903"
        seen = api.get("dispatcher", f"/cases/{old['id']}").json()["location"]
        assert (seen["cell"], seen["community_name"]) == ("450103901901001", "西社区")


def test_a_folder_grid_with_a_routing_hole_is_refused_at_start(
    db_url: str, city: Path, tmp_path: Path
) -> None:
    with running(db_url, city, tmp_path):
        pass
    load_grid(tmp_path, "B", "--out", city, city=city)
    for name in ("units.csv", "teams.csv"):  # then the street's 街道办 goes: the catch-all
        path = city / name  # rule (属地兜底) finds no unit for B's cells
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        path.write_text("".join(x for x in lines if "450103901-jdb" not in x), encoding="utf-8")
    with pytest.raises(GridRefused, match=r"HOLE .* in 6 cells"), running(db_url, city, tmp_path):
        pass
    db = Database(db_url)
    try:
        with db.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT id, valid_to FROM grid_version")).all()
    finally:
        db.dispose()
    assert [(r[0], r[1]) for r in rows] == [(1, None)]  # version 1 still in force


@pytest.mark.postgis
def test_processes_starting_together_store_one_version(pg_url_factory: Any, city: Path) -> None:
    url = pg_url_factory()
    upgrade(url)
    db = Database(url)
    data = load_city(city)
    barrier = threading.Barrier(4)
    found: list[int] = []

    def start() -> None:
        barrier.wait()
        _, version = open_grid(db.engine, city, data, 30.0)
        found.append(version.id)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        with db.engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT count(*) FROM grid_version")).scalar_one()
            cells = conn.execute(sa.text("SELECT count(*) FROM cell")).scalar_one()
            geoms = conn.execute(sa.text("SELECT count(geom) FROM cell")).scalar_one()
    finally:
        db.dispose()
    assert found == [1, 1, 1, 1]
    assert (versions, cells, geoms) == (1, 6, 6)  # the trigger set every cell.geom


def test_data_from_before_grid_versions_becomes_version_1(
    db_url: str, city: Path, tmp_path: Path
) -> None:
    """A database at 0004 (cells keyed by code, cases with the cells file's sha256 prefix)
    is migrated to version 1; the first start with the same folder adopts it."""
    import geoalchemy2  # noqa: F401  (the PostGIS column type, for reflection)
    import shapely

    from dispatch.auth.service import hash_password
    from dispatch.db import normalize_url
    from dispatch.dbtypes import utcnow
    from geo import Grid

    upgrade(db_url, "0004")
    grid = Grid.load(city)
    prefix = str(grid.meta["sha256"])[:12]
    engine = sa.create_engine(normalize_url(db_url))
    meta = sa.MetaData()
    t = {n: sa.Table(n, meta, autoload_with=engine) for n in ("area", "cell", "event_type",
                                                              "user_account", "cases")}  # fmt: skip
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(t["area"].insert(), [
            {"code": a.code, "level": a.level, "name_zh": a.name_zh, "name_en": a.name_en,
             "parent": a.parent, "generated": a.generated} for a in grid.areas.values()
        ])  # fmt: skip
        conn.execute(t["cell"].insert(), [
            {"code": c, "community": grid.parents["community"][i],
             "street": grid.parents["street"][i], "district": grid.parents["district"][i],
             "grid_version": prefix, "lon": 108.3, "lat": 22.8} for i, c in enumerate(grid.codes)
        ])  # fmt: skip
        if conn.dialect.name == "postgresql":  # what 0001's loader put there
            for code, g in zip(grid.codes, grid.geoms, strict=True):
                conn.execute(
                    sa.text("UPDATE cell SET geom = ST_Multi(ST_GeomFromText(:wkt, 4326))"
                            " WHERE code = :code"),
                    {"wkt": shapely.to_wkt(g), "code": code},
                )  # fmt: skip
        conn.execute(t["event_type"].insert(), {
            "code": "06014", "standard": "GB/T 47678.5-2026", "class_code": "06",
            "class_zh": "市容环境", "class_en": "City appearance", "name_zh": "道路遗撒",
            "name_en": "Road spill", "accept_limit": 10, "resolve_limit": 60,
            "verify_limit": 60, "limit_unit": "minutes", "urgent": True, "focus": True,
            "icon": "truck",
        })  # fmt: skip
        uid = conn.execute(t["user_account"].insert().returning(t["user_account"].c.id), {
            "username": "admin", "password_hash": hash_password(DEMO_PASSWORD),
            "role": "admin", "display_name": "admin", "active": True, "created_at": now,
        }).scalar_one()  # fmt: skip
        case_id = conn.execute(t["cases"].insert().returning(t["cases"].c.id), {
            "case_no": "20261120-000001", "event_type": "06014", "status": "reported",
            "version": 1, "urgent": True, "lon": NW[0], "lat": NW[1], "input_crs": "wgs84",
            "input_lon": NW[0], "input_lat": NW[1], "near_edge": False, "snapped_m": 0.0,
            "cell": "450103901901001", "community": "450103901901", "street": "450103901",
            "district": "450103", "grid_version": prefix, "description": "旧", "reporter_id": uid,
            "self_handled": False, "report_count": 1, "rework_count": 0, "captured_at": now,
            "created_at": now, "updated_at": now,
        }).scalar_one()  # fmt: skip
    engine.dispose()

    upgrade(db_url)
    engine = sa.create_engine(normalize_url(db_url))
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT id, checksum, valid_to FROM grid_version")).all()
        assert [tuple(v) for v in version] == [(1, prefix, None)]
        assert conn.execute(sa.text("SELECT grid_version FROM cases")).scalar_one() == 1
    engine.dispose()

    with running(db_url, city, tmp_path) as api:
        assert api.state.grid_version == 1
        versions = api.get("admin", "/grid/versions").json()
        assert [(v["id"], v["checksum"]) for v in versions] == [(1, grid.meta["checksum"])]
        seen = api.get("admin", f"/cases/{case_id}").json()["location"]
        assert (seen["cell"], seen["community_name"], seen["grid_version"]) == (
            "450103901901001",
            "西社区",
            1,
        )
        with api.state.db.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(shape) FROM cell")).scalar_one() == 6
            assert conn.execute(sa.text("SELECT count(shape) FROM area")).scalar_one() == 4
            if conn.dialect.name == "postgresql":  # the trigger followed the outlines
                same = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM cell"
                        " WHERE ST_Equals(geom, ST_GeomFromWKB(shape, 4326))"
                    )
                ).scalar_one()
                assert same == 6
