"""``griddispatch backup`` while the app runs, ``restore`` into a new database: it works.

On SQLite (the online backup API) and PostGIS (pg_dump / pg_restore): a case and its
photo filed before the backup come back, byte for byte; one filed after does not; the
restored database serves the same accounts and grid version.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from gridkit import NW, running, small_city, source_file

from dispatch.cli import main
from dispatch.migrate import head


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def make_url(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Makes new empty databases of the backend under test."""
    made = iter(range(100))

    def make() -> str:
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path / f'gd{next(made)}.sqlite'}"
        url: str = request.getfixturevalue("pg_url_factory")()
        return url

    return make


def cli(*args: object, url: str, photos: Path) -> tuple[int, str]:
    env = {"DATABASE_URL": url, "GRIDDISPATCH_PHOTO_DIR": str(photos)}
    result = CliRunner().invoke(main, [str(a) for a in args], env=env)
    return result.exit_code, result.output


def test_a_backup_restores_into_a_new_database(make_url: Any, tmp_path: Path) -> None:
    city = small_city(tmp_path / "city")
    source, options = source_file(tmp_path, "gpkg")
    assert cli("load-grid", source, *options, "--city", city, "--out", city, url="x",
               photos=tmp_path)[0] == 0  # fmt: skip
    url, restored_url = make_url(), make_url()
    photos, restored_photos = tmp_path / "photos", tmp_path / "restored-photos"
    dest = tmp_path / "backup"

    with running(url, city, tmp_path, photos) as api:
        photo = api.photo("worker1", (200, 30, 30))
        before = _report(api, photo_ids=[photo])
        jpeg = api.client.get(f"/api/v1/photos/{photo}", headers=api.auth("worker1")).content
        code, out = cli("backup", dest, url=url, photos=photos)  # while it serves
        assert code == 0, out
        after = _report(api, lon=NW[0] + 0.001)  # not in the backup

    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["photos"] == 1
    assert manifest["revision"] == head()  # the schema it was taken at

    code, out = cli("restore", dest, url=restored_url, photos=restored_photos)
    assert code == 0, out
    with running(restored_url, city, tmp_path, restored_photos) as api:
        got = api.get("dispatcher", f"/cases/{before}")
        assert got.status_code == 200, got.text
        assert got.json()["photo_ids"] == [photo]
        assert api.get("dispatcher", f"/cases/{after}").status_code == 404
        served = api.client.get(f"/api/v1/photos/{photo}", headers=api.auth("worker1"))
        assert served.status_code == 200
        assert served.content == jpeg
        assert [v["id"] for v in api.get("dispatcher", "/grid/versions").json()] == [1]

    code, out = cli("restore", dest, url=restored_url, photos=restored_photos)
    assert code == 1
    assert "not empty" in out


def _report(api: Any, lon: float = NW[0], **extra: Any) -> int:
    body = {"event_type": "06014", "lon": lon, "lat": NW[1], "description": "备份", **extra}
    r = api.client.post(
        "/api/v1/reports",
        json=body,
        headers={**api.auth("worker1"), "Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])
