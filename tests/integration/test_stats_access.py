"""Who may see which figures, and bad input, on SQLite and PostGIS (the shared app).

Dispatchers, the command center and admins see every figure; a team sees its own unit's
figures only; grid workers see none. Hotspots and the district report are city roles only.
"""

from __future__ import annotations

from typing import Any

import pytest
from apikit import Api

from dispatch.dbtypes import utcnow
from dispatch.stats.rollup import rollup

JJ, CG = "450103-jj", "450103-cgzf"
FIGURES = ("/stats/units", "/stats/areas", "/stats/event-types", "/stats/days")
CITY_ONLY = ("/stats/hotspots/cells", "/stats/hotspots/streets", "/stats/hotspots/repeats")


def error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return dict(body["error"])


@pytest.fixture(scope="module")
def today(api: Api) -> str:
    """A 06014 case reported now (cgzf leads, jj and hw support), rolled up."""
    lon, lat = api.free_point("450103901")
    assert api.report(lon=lon, lat=lat).status_code == 201
    st, now = api.state, utcnow()
    day = now.astimezone(st.stats.tz).date()
    rollup(st.db.engine, st.stats, [day], now)
    return day.isoformat()


@pytest.mark.parametrize("user", ["commander", "dispatcher", "admin"])
def test_city_roles_see_everything(api: Api, today: str, user: str) -> None:
    for path in (*FIGURES, *CITY_ONLY):
        assert api.get(user, path, **{"from": today, "to": today}).status_code == 200, path
    r = api.get(user, "/stats/report.html", district="450103", month=today[:7])
    assert r.status_code == 200


def test_workers_see_no_figures(api: Api, today: str) -> None:
    for path in (*FIGURES, *CITY_ONLY, "/stats/report.html"):
        error(api.get("worker1", path, district="450103", month=today[:7]), 403, "forbidden")
    r = api.client.get("/api/v1/stats/units")
    error(r, 401, "unauthenticated")


def test_a_team_sees_its_own_unit_only(api: Api, today: str) -> None:
    period = {"from": today, "to": today}
    own = api.get(f"team-{JJ}", "/stats/units", **period).json()
    assert [r["key"] for r in own["rows"]] == [JJ]
    assert own["rows"][0]["counts"]["tickets"] >= 1
    assert own["total"] is None
    assert own["unit"] == JJ
    city = api.get("commander", "/stats/units", **period).json()
    assert {r["key"] for r in city["rows"]} >= {JJ, CG}
    mine = {r["key"]: r for r in city["rows"]}[JJ]
    assert own["rows"][0]["counts"] == mine["counts"]
    areas = api.get(f"team-{JJ}", "/stats/areas", **period).json()
    assert areas["unit"] == JJ
    assert areas["total"]["counts"] == mine["counts"]  # the unit's figures by area
    forced = api.get(f"team-{JJ}", "/stats/event-types", unit=JJ, **period)
    assert forced.status_code == 200
    error(api.get(f"team-{JJ}", "/stats/units", unit=CG, **period), 403, "forbidden")
    for path in (*CITY_ONLY, "/stats/report.html"):
        r = api.get(f"team-{JJ}", path, district="450103", month=today[:7], **period)
        error(r, 403, "forbidden")


@pytest.mark.parametrize(
    ("path", "params", "code"),
    [
        ("/stats/units", {"from": "2026-11-02", "to": "2026-11-01"}, "invalid_request"),
        ("/stats/units", {"from": "2000-01-01", "to": "2026-11-01"}, "invalid_request"),
        ("/stats/units", {"from": "2026-13-01"}, "invalid_request"),
        ("/stats/units", {"area": "99"}, "unknown_area"),
        ("/stats/units", {"area": "45%"}, "invalid_request"),
        ("/stats/areas", {"unit": "no-such-unit"}, "unknown_unit"),
        ("/stats/event-types", {"class": "77"}, "unknown_event_class"),
        ("/stats/event-types", {"by": "colour"}, "invalid_request"),
        ("/stats/units", {"format": "pdf"}, "invalid_request"),
        ("/stats/hotspots/cells", {"min_cases": 0}, "invalid_request"),
        ("/stats/report.html", {"district": "450103", "month": "2026-13"}, "invalid_month"),
        ("/stats/report.html", {"district": "450103901", "month": "2026-11"}, "unknown_district"),
        ("/stats/report.html", {"month": "2026-11"}, "invalid_request"),
    ],
)
def test_bad_input_is_a_clear_422(api: Api, path: str, params: dict[str, Any], code: str) -> None:
    error(api.get("commander", path, **params), 422, code)


def test_the_default_period_is_this_month(api: Api, today: str) -> None:
    table = api.get("commander", "/stats/units").json()
    assert table["from"] == today[:8] + "01"
    assert table["to"] == today
    assert table["labels"]["rates"][0] == {"key": "registration_rate", "zh": "立案率",
                                           "en": "Registration rate"}  # fmt: skip
