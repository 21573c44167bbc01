"""Reading cases, the catalogue and the grid through the real app, on SQLite and on PostGIS.

The shared ``api`` fixture gives one app per backend for the module (demo accounts). The
module's ``world`` makes five cases through POST /reports:

* A: worker1, 06014 in 450103901 (worker1's beat) → 450103-cgzf lead, jj + hw support
* B: worker1, 06010 in 450103901 → 450103-hw only
* C: worker3, 06014 in 450102901 (worker3's beat) → 450102-cgzf …
* D: dispatcher, 06014 in 450103902 (nobody's beat above) → 450103-cgzf …
* E: worker1, 06010 in 450102901 (worker1's own report, worker3's beat) → 450102-hw

Then, straight in the database: E is closed; B's ticket is past its accept deadline; D's lead
ticket is accepted and past its resolve deadline; C's lead ticket is accepted, past its accept
deadline but not its resolve deadline (so not overdue).

Lists are read as the names of these five cases (any other case of the app is left out),
and counts and pages are taken over the cases updated since the world was made.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from apikit import API, Api
from sqlalchemy import update
from sqlmodel import col

from dispatch.cases.models import Case
from dispatch.dbtypes import utcnow
from dispatch.tickets.models import Ticket
from geo import Grid, from_wgs84


@dataclass
class World:
    api: Api
    ids: dict[str, int]
    points: dict[str, tuple[float, float]]
    photo_id: str
    since: str  # before the first of the five cases: `since` keeps the page to them

    @property
    def client(self) -> Any:
        return self.api.client

    @property
    def grid(self) -> Grid:
        grid: Grid = self.api.state.grid
        return grid

    def get(self, user: str, path: str, **params: Any) -> Any:
        return self.api.get(user, path, **params)

    def listed(self, user: str, **params: Any) -> set[str]:
        """Which of the five cases ``user`` sees in GET /cases with these filters."""
        r = self.get(user, "/cases", limit=100, **params)
        assert r.status_code == 200, r.text
        by_id = {v: k for k, v in self.ids.items()}
        return {by_id[c["id"]] for c in r.json()["items"] if c["id"] in by_id}


def _report(api: Api, user: str, event: str, point: tuple[float, float], **extra: Any) -> int:
    r = api.report(user, event_type=event, lon=point[0], lat=point[1], description="test", **extra)
    assert r.status_code == 201, r.text
    assert not r.json()["joined_existing"]
    return int(r.json()["id"])


@pytest.fixture(scope="module")
def world(api: Api) -> World:
    since = utcnow().isoformat()
    # each point > 300 m from every other (no duplicate join)
    a, b = api.free_point("450103901", 300), api.free_point("450103901", 300)
    c, e = api.free_point("450102901", 300), api.free_point("450102901", 300)
    d = api.free_point("450103902", 300)
    w = World(api, {}, {"A": a, "B": b, "C": c, "D": d, "E": e}, api.photo("worker1"), since)
    w.ids["A"] = _report(api, "worker1", "06014", a, photo_ids=[w.photo_id])
    w.ids["B"] = _report(api, "worker1", "06010", b)
    w.ids["C"] = _report(api, "worker3", "06014", c)
    w.ids["D"] = _report(api, "dispatcher", "06014", d)
    w.ids["E"] = _report(api, "worker1", "06010", e)
    _age(api.state.db.engine, w.ids)
    return w


def _age(engine: Any, ids: dict[str, int]) -> None:
    past, future = utcnow() - timedelta(hours=1), utcnow() + timedelta(days=3)
    lead = (col(Ticket.role) == "lead",)
    with engine.begin() as conn:
        conn.execute(update(Case).where(col(Case.id) == ids["E"]).values(status="closed"))
        conn.execute(update(Ticket).where(col(Ticket.case_id) == ids["B"]).values(accept_due=past))
        conn.execute(
            update(Ticket)
            .where(col(Ticket.case_id) == ids["D"], *lead)
            .values(status="accepted", accept_due=past, resolve_due=past)
        )
        conn.execute(
            update(Ticket)
            .where(col(Ticket.case_id) == ids["C"], *lead)
            .values(status="accepted", accept_due=past, resolve_due=future)
        )


# ---------------------------------------------------------------- visibility


def test_worker_sees_own_reports_and_beat(world: World) -> None:
    assert world.listed("worker1") == {"A", "B", "E"}
    assert world.listed("worker3") == {"C", "E"}
    for name in ("C", "D"):
        r = world.get("worker1", f"/cases/{world.ids[name]}")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
    assert world.get("worker1", f"/cases/{world.ids['E']}").status_code == 200
    assert world.get("worker3", f"/cases/{world.ids['A']}").status_code == 404


def test_team_sees_cases_with_its_units_ticket(world: World) -> None:
    assert world.listed("team-450103-cgzf") == {"A", "D"}
    assert world.listed("team-450103-hw") == {"A", "B", "D"}
    assert world.listed("team-450102-cgzf") == {"C"}
    assert world.get("team-450103-cgzf", f"/cases/{world.ids['B']}").status_code == 404
    assert world.get("team-450103-cgzf", f"/cases/{world.ids['D']}").status_code == 200


def test_commander_sees_all_newest_first(world: World) -> None:
    r = world.get("commander", "/cases", since=world.since)  # the five, not older cases
    body = r.json()
    assert body["total"] == 5
    assert [c["id"] for c in body["items"]] == sorted(world.ids.values(), reverse=True)
    assert world.get("commander", f"/cases/{world.ids['C']}").status_code == 200


def test_missing_case_and_anonymous(world: World) -> None:
    r = world.get("admin", "/cases/999999")
    assert r.status_code == 404
    assert set(r.json()["error"]) == {"code", "message", "details"}
    assert world.client.get(f"{API}/cases").status_code == 401


# ---------------------------------------------------------------- filters and paging


def test_filters(world: World) -> None:
    assert world.listed("commander", status="closed") == {"E"}
    assert world.listed("commander", status="dispatched") == {"A", "B", "C", "D"}
    assert world.listed("commander", unit="450103-hw") == {"A", "B", "D"}
    assert world.listed("commander", area="450102") == {"C", "E"}
    assert world.listed("commander", area="450103901") == {"A", "B"}
    assert world.listed("commander", event_type="06010") == {"B", "E"}
    x, y = world.points["A"]
    assert world.listed("commander", bbox=f"{x - 1e-4},{y - 1e-4},{x + 1e-4},{y + 1e-4}") == {"A"}
    # filters combine with the caller's scope
    assert world.listed("worker1", event_type="06010") == {"B", "E"}
    assert world.listed("team-450103-hw", unit="450103-cgzf") == {"A", "D"}


def test_since(world: World) -> None:
    c = world.get("commander", f"/cases/{world.ids['C']}").json()
    assert world.listed("commander", since=c["created_at"]) == {"C", "D", "E"}
    later = world.get("commander", "/cases", since="2999-01-01T00:00:00+08:00").json()
    assert later["total"] == 0
    naive = world.get("commander", "/cases", since="2026-01-01T00:00:00")
    assert naive.status_code == 422


def test_overdue(world: World) -> None:
    # B: dispatched past accept_due; D: accepted past resolve_due. C: accepted, only its
    # accept deadline passed, so it is on time.
    assert world.listed("commander", overdue="true") == {"B", "D"}
    assert world.listed("commander", overdue="false") == {"A", "C", "E"}
    assert world.listed("team-450103-cgzf", overdue="true") == {"D"}


def test_paging(world: World) -> None:
    # paged over the five cases (those updated since the world began)
    first = world.get("commander", "/cases", limit=2, since=world.since).json()
    assert (first["total"], first["limit"], first["offset"], len(first["items"])) == (5, 2, 0, 2)
    last = world.get("commander", "/cases", limit=2, offset=4, since=world.since).json()
    assert len(last["items"]) == 1
    assert last["total"] == 5
    assert last["items"][0]["id"] == min(world.ids.values())
    for bad in (
        {"limit": 501},
        {"limit": 0},
        {"offset": -1},
        {"bbox": "1,2,3"},
        {"status": "nope"},
        {"area": "45x"},
    ):
        r = world.get("commander", "/cases", **bad)
        assert r.status_code == 422, bad
        assert r.json()["error"]["code"] == "invalid_request"


# ---------------------------------------------------------------- detail


def test_detail_has_tickets_photos_and_timeline(world: World) -> None:
    r = world.get("dispatcher", f"/cases/{world.ids['A']}")
    assert r.status_code == 200
    case = r.json()
    assert {u["unit_id"] for u in case["units"]} == {"450103-cgzf", "450103-jj", "450103-hw"}
    assert case["units"][0]["role"] == "lead"
    assert case["photo_ids"] == [world.photo_id]
    assert case["photos"] == [
        {
            "id": world.photo_id,
            "kind": "report",
            "ticket_id": None,
            "url": f"{API}/photos/{world.photo_id}",
        }
    ]
    tl = case["timeline"]
    seqs = [e["seq"] for e in tl]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert tl[0]["type"] == "case.reported"
    assert tl[0]["actor"] == "worker1"
    assert tl[0]["data"]["event_type"] == "06014"
    dispatched = [e for e in tl if e["type"] == "ticket.dispatched"]
    assert {e["unit_id"] for e in dispatched} == {"450103-cgzf", "450103-jj", "450103-hw"}
    assert all(e["actor"] is None for e in dispatched)  # the system dispatched them


def test_timeline_hides_the_reporter_from_teams_and_commanders(world: World) -> None:
    for user in ("team-450103-cgzf", "commander"):
        tl = world.get(user, f"/cases/{world.ids['A']}").json()["timeline"]
        reported = tl[0]
        assert reported["type"] == "case.reported"
        assert reported["actor"] == "worker"
        assert reported["actor_hidden"] is True
        assert "worker1" not in str(tl)
    own = world.get("worker1", f"/cases/{world.ids['A']}").json()["timeline"][0]
    assert own["actor"] == "worker1"
    assert own["actor_hidden"] is False


# ---------------------------------------------------------------- grid


def test_locate_gcj02_matches_geo(world: World) -> None:
    lon, lat = from_wgs84(*world.points["A"], "gcj02")
    r = world.get("worker1", "/grid/locate", lon=lon, lat=lat, crs="gcj02")
    assert r.status_code == 200, r.text
    body = r.json()
    loc = world.grid.locate(lon, lat, crs="gcj02")
    assert (body["cell"], body["street"], body["district"]) == (loc.cell, loc.street, loc.district)
    assert body["lon"] == pytest.approx(world.points["A"][0], abs=1e-7)
    assert body["names"]["street"]["name_zh"] == world.grid.areas[loc.street].name_zh
    assert body["snapped_m"] == 0


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"lon": 100.0, "lat": 20.0}, "outside_served_area"),
        ({"lon": 108.3, "lat": 95.0}, "invalid_coordinates"),
        ({"lon": 108.3, "lat": 22.8, "crs": "mercator"}, "unknown_crs"),
    ],
)
def test_locate_refusals(world: World, params: dict[str, Any], code: str) -> None:
    r = world.get("worker1", "/grid/locate", **params)
    assert r.status_code == 422
    err = r.json()["error"]
    assert set(err) == {"code", "message", "details"}
    assert err["code"] == code
    assert err["message"]


def test_cells_in_bbox(world: World) -> None:
    x, y = world.points["A"]
    box = (x - 0.003, y - 0.003, x + 0.003, y + 0.003)
    r = world.get("worker1", "/grid/cells", bbox=",".join(map(str, box)))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    doc = r.json()
    assert doc["type"] == "FeatureCollection"
    want = [world.grid.codes[i] for i in world.grid.cells_in_bbox(*box)]
    assert [f["properties"]["code"] for f in doc["features"]] == want
    props = doc["features"][0]["properties"]
    assert set(props) == {"code", "community", "street", "district"}
    assert doc["features"][0]["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert world.get("worker1", "/grid/cells", bbox=",".join(map(str, box))).json() == doc


def test_cells_refuses_large_and_bad_boxes(world: World) -> None:
    r = world.get("worker1", "/grid/cells", bbox=",".join(map(str, world.grid.bounds)))
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "bbox_too_large"
    assert "zoom in" in r.json()["error"]["message"]
    for bad in ("1,2,3", "a,b,c,d", "108.4,22.8,108.3,22.9", "0,0,0,nan", "0,0,200,0"):
        r = world.get("worker1", "/grid/cells", bbox=bad)
        assert r.status_code == 422, bad
        assert r.json()["error"]["code"] == "invalid_request"


def test_areas_by_level(world: World) -> None:
    r = world.get("worker1", "/grid/areas", level="street")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/geo+json")
    feats = {f["properties"]["code"]: f for f in r.json()["features"]}
    assert set(feats) == {c for c, a in world.grid.areas.items() if a.level == "street"}
    p = feats["450103901"]["properties"]
    assert p["generated"] is True
    assert p["level"] == "street"
    assert p["parent"] == "450103"
    assert set(p) == {"code", "level", "name_zh", "name_en", "parent", "generated"}
    assert world.get("worker1", "/grid/areas", level="street").text == r.text
    assert world.get("worker1", "/grid/areas", level="city").status_code == 422


# ---------------------------------------------------------------- catalogue


def test_event_types_grouped(world: World) -> None:
    r = world.get("team-450103-cgzf", "/event-types")
    assert r.status_code == 200
    groups = r.json()
    assert [g["class_code"] for g in groups] == sorted(g["class_code"] for g in groups)
    c06 = next(g for g in groups if g["class_code"] == "06")
    spill = next(t for t in c06["types"] if t["code"] == "06014")
    assert spill["urgent"] is True
    assert spill["focus"] is True
    assert spill["limits"] == {"accept": 10, "resolve": 120, "verify": 60, "unit": "minutes"}
    for g in groups:
        focus = [t["focus"] for t in g["types"]]
        assert focus == sorted(focus, reverse=True)
    assert world.client.get(f"{API}/event-types").status_code == 401


def test_units_with_teams(world: World) -> None:
    r = world.get("worker1", "/units")
    assert r.status_code == 200
    units = {u["id"]: u for u in r.json()}
    cgzf = units["450103-cgzf"]
    assert cgzf["kind"] == "cgzf"
    assert cgzf["kind_zh"] == "城管执法大队"
    assert cgzf["area_code"] == "450103"
    assert cgzf["teams"]
    assert all(set(t) == {"id", "name_zh", "name_en"} for t in cgzf["teams"])
    assert world.client.get(f"{API}/units").status_code == 401
