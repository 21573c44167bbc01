"""The front ends as the app serves them: pages, static files, the worker's service worker,
the pages' settings; and what the checker's page relies on in the case timeline."""

from __future__ import annotations

import re
from pathlib import Path

from apikit import Api

from dispatch.config import Settings
from dispatch.web.views import page_config

WEB = Path(__file__).resolve().parents[2] / "web"


def test_pages_are_served(api: Api) -> None:
    for path, script in [
        ("/report", "/static/js/report/main.js"),
        ("/team", "/static/js/team/main.js"),
        ("/command", "/static/js/command/main.js"),
    ]:
        r = api.client.get(path)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-cache"
        assert f'<script type="module" src="{script}">' in r.text
        js = api.client.get(script)
        assert js.status_code == 200
        assert js.headers["cache-control"] == "no-cache"
    assert "/report" in api.client.get("/").text
    assert api.client.get("/static/js/nothing.js").status_code == 404


def test_pages_fetch_nothing_from_other_hosts() -> None:
    """No page, script or style names another host (the browser tests check the requests)."""
    files = [*WEB.glob("pages/*.html"), *WEB.glob("static/**/*.js"), *WEB.glob("static/css/*")]
    files = [f for f in files if "vendor" not in f.parts]
    assert files
    for f in files:
        assert not re.search(r"(?<![\w:])//[a-z0-9.-]+\.[a-z]{2,}", f.read_text()), f


def test_service_worker_keeps_the_report_shell(api: Api) -> None:
    r = api.client.get("/report/sw.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["service-worker-allowed"] == "/report"
    shell = re.search(r"const SHELL = (\[.*?\]);", r.text, re.S)
    assert shell
    urls = re.findall(r'"([^"]+)"', shell.group(1))
    assert "/report" in urls
    assert "/static/js/report/main.js" in urls
    assert "/static/js/lib/outbox.js" in urls
    for url in urls:
        assert api.client.get(url).status_code == 200, url
    version = re.search(r'const VERSION = "([0-9a-f]{16})"', r.text)
    assert version
    assert api.client.get("/report/sw.js").text == r.text


def test_page_config_needs_no_sign_in(api: Api) -> None:
    cfg = api.client.get("/api/v1/web/config").json()
    assert cfg["tiles"] is None  # the city's own vector data only, nothing fetched elsewhere
    minx, miny, maxx, maxy = cfg["city"]["bounds"]
    assert 108.0 < minx < maxx < 108.7
    assert 22.5 < miny < maxy < 23.1
    assert cfg["timezone"] == "Asia/Shanghai"


def test_page_config_declares_the_tile_crs(api: Api) -> None:
    settings = Settings(tile_url="http://tiles.intranet/{z}/{x}/{y}.png", tile_crs="gcj02")
    cfg = page_config(settings, api.state.grid, "1")
    assert cfg["tiles"] == {
        "url": "http://tiles.intranet/{z}/{x}/{y}.png",
        "crs": "gcj02",
        "attribution": "",
        "max_zoom": 18,
    }


def test_every_icon_the_pages_use_is_in_the_sprite_list() -> None:
    names = set((WEB / "icons.txt").read_text().split())
    used: set[str] = set()
    for f in WEB.glob("static/js/**/*.js"):
        used |= set(re.findall(r'\bicon\("([a-z0-9-]+)"', f.read_text()))
    catalogue = (WEB / "static/js/lib/catalogue.js").read_text()
    block = catalogue[catalogue.index("EVENT_ICONS") : catalogue.index("};")]
    used |= set(re.findall(r'"([a-z0-9-]+)"', block))
    assert used
    assert used <= names, used - names


def test_checker_sees_the_team_note(api: Api) -> None:
    """A worker cannot read tickets; the resolution note reaches the checker in the timeline."""
    lon, lat = api.free_point("450103902")
    r = api.report("worker1", event_type="06010", lon=lon, lat=lat)
    case = r.json()
    (ticket,) = case["units"]
    team = f"team-{ticket['unit_id']}"
    api.ok(team, f"/tickets/{ticket['ticket_id']}/accept")
    body = {"note": "  已清运 cleared  ", "photo_ids": [api.photo(team)]}
    api.ok(team, f"/tickets/{ticket['ticket_id']}/resolve", body)
    seen = api.get("worker2", f"/cases/{case['id']}").json()
    (resolved,) = [e for e in seen["timeline"] if e["type"] == "ticket.resolved"]
    assert resolved["data"]["note"] == "已清运 cleared"
