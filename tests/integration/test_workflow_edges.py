"""Edge cases of the workflow found in review: returns after resolution, reporter privacy."""

from __future__ import annotations

import io
from typing import Any

from apikit import Api
from PIL import Image


def photo(api: Api, user: str) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (20, 20), (30, 160, 90)).save(buf, "JPEG")
    r = api.client.post(
        "/api/v1/photos",
        files={"file": ("a.jpg", buf.getvalue(), "image/jpeg")},
        headers=api.auth(user),
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def act(api: Api, user: str, ticket: int, action: str, body: dict[str, Any] | None = None) -> Any:
    r = api.client.post(
        f"/api/v1/tickets/{ticket}/{action}", json=body or {}, headers=api.auth(user)
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_a_support_returning_after_the_lead_resolved_lets_the_case_go_to_check(api: Api) -> None:
    case = api.report("worker1", event_type="06014", where="450103901", k=120).json()
    tickets = {u["role"] + ":" + u["unit_id"]: u["ticket_id"] for u in case["units"]}
    lead = tickets["lead:450103-cgzf"]
    team = "team-450103-cgzf"
    act(api, team, lead, "accept")
    act(api, team, lead, "resolve", {"note": "清理完毕", "photo_ids": [photo(api, team)]})
    supports = [(k.split(":", 1)[1], t) for k, t in tickets.items() if k.startswith("support")]
    *others, (last_unit, last_ticket) = supports
    for unit, t in others:
        act(api, f"team-{unit}", t, "accept")
        act(
            api,
            f"team-{unit}",
            t,
            "resolve",
            {"note": "done", "photo_ids": [photo(api, f"team-{unit}")]},
        )
    got = api.client.get(f"/api/v1/cases/{case['id']}", headers=api.auth("dispatcher")).json()
    assert got["status"] == "dispatched"  # still waiting for the last support unit
    act(api, f"team-{last_unit}", last_ticket, "return", {"reason": "非本单位职责"})
    got = api.client.get(f"/api/v1/cases/{case['id']}", headers=api.auth("dispatcher")).json()
    assert got["status"] == "verifying"


def test_a_self_handling_reporter_stays_anonymous_to_commanders(api: Api) -> None:
    before, after = photo(api, "worker1"), photo(api, "worker1")
    case = api.report(
        "worker1",
        event_type="06010",
        k=121,
        self_handled=True,
        photo_ids=[before],
        after_photo_ids=[after],
    ).json()
    assert case["photo_ids"] == [before, after]
    timeline = api.client.get(f"/api/v1/cases/{case['id']}", headers=api.auth("commander")).json()[
        "timeline"
    ]
    assert [e["type"] for e in timeline] == ["case.reported", "case.closed"]
    assert all(e["actor"] == "worker" and e["actor_hidden"] for e in timeline)
    mine = api.client.get(f"/api/v1/cases/{case['id']}", headers=api.auth("worker1")).json()
    assert {e["actor"] for e in mine["timeline"]} == {"worker1"}
