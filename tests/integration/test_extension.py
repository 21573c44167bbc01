"""延期 (an approved extension) on SQLite and PostGIS: the dispatcher moves a live ticket's
resolve due on by some of its type's limit units before it has passed; the ticket keeps its
state, the event log says who and why, and the overdue job goes by the new due.

06010 暴露垃圾 counts working hours (08:00–12:00, 14:30–17:30 on working days) and routes to
450103-hw alone. (Who may extend at all is in test_permissions.py.)
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from apikit import Api
from stats_history import Clock

from dispatch.tickets.deadlines import due
from dispatch.tickets.escalation import escalate_overdue

HW = "450103-hw"


def error(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"]["code"] == code
    return dict(body["error"])


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.fixture
def ticket(api: Api) -> dict[str, Any]:
    """A fresh 06010 ticket of hw, dispatched by the rules at intake."""
    lon, lat = api.free_point("450103901")
    r = api.report(event_type="06010", lon=lon, lat=lat)
    assert r.status_code == 201, r.text
    (unit,) = r.json()["units"]
    assert unit["unit_id"] == HW
    return dict(api.get("dispatcher", f"/tickets/{unit['ticket_id']}").json())


def extend(api: Api, ticket_id: int, **body: Any) -> Any:
    return api.post("dispatcher", f"/tickets/{ticket_id}/extend", body)


def test_an_extension_moves_the_resolve_due_and_is_logged(api: Api, ticket: dict[str, Any]) -> None:
    old = parse(ticket["resolve_due"])
    r = extend(api, ticket["ticket_id"], extra=2, reason="等待业主整改", version=ticket["version"])
    assert r.status_code == 200, r.text
    out = r.json()
    expected = due(old, 2, "work_hours", api.state.calendar)
    assert parse(out["resolve_due"]) == expected
    assert expected - old >= timedelta(hours=2)  # working hours: at least as long on the clock
    assert (out["status"], out["version"]) == (ticket["status"], ticket["version"] + 1)
    assert out["accept_due"] == ticket["accept_due"]  # only the resolve deadline moves
    timeline = api.get("dispatcher", f"/cases/{out['case_id']}").json()["timeline"]
    (ev,) = [e for e in timeline if e["type"] == "ticket.extended"]
    assert (ev["actor"], ev["unit_id"], ev["ticket_id"]) == ("dispatcher", HW, out["ticket_id"])
    assert (ev["from_status"], ev["to_status"]) == (None, None)  # no workflow move
    assert ev["data"]["reason"] == "等待业主整改"
    assert (parse(ev["data"]["previous_due"]), parse(ev["data"]["resolve_due"])) == (old, expected)
    assert (ev["data"]["extra"], ev["data"]["limit_unit"]) == (2, "work_hours")
    again = extend(api, ticket["ticket_id"], extra=1, reason="再延期")  # a second one adds on
    assert parse(again.json()["resolve_due"]) == due(expected, 1, "work_hours", api.state.calendar)


def escalations(api: Api, ticket: dict[str, Any]) -> list[str]:
    timeline = api.get("dispatcher", f"/cases/{ticket['case_id']}").json()["timeline"]
    return [e["data"]["stage"] for e in timeline if e["type"] == "ticket.escalated"]


def test_the_overdue_job_goes_by_the_new_due(api: Api, ticket: dict[str, Any]) -> None:
    old = parse(ticket["resolve_due"])
    api.ok(f"team-{HW}", f"/tickets/{ticket['ticket_id']}/accept")
    out = extend(api, ticket["ticket_id"], extra=7, reason="大件垃圾需调车").json()
    new = parse(out["resolve_due"])
    engine = api.state.db.engine
    escalate_overdue(engine, now=old + timedelta(minutes=1))
    assert escalations(api, ticket) == []
    escalate_overdue(engine, now=new + timedelta(minutes=1))
    assert escalations(api, ticket) == ["resolve"]


def test_bad_extensions_are_refused(
    api: Api, ticket: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    tid = ticket["ticket_id"]
    error(extend(api, tid, extra=0, reason="x"), 422, "invalid_request")
    error(extend(api, tid, extra=2000, reason="x"), 422, "invalid_request")
    error(extend(api, tid, extra=1, reason="   "), 422, "reason_required")
    error(extend(api, tid, extra=1, reason="x", version=ticket["version"] + 5), 409, "conflict")
    error(api.post(f"team-{HW}", f"/tickets/{tid}/extend", {"extra": 1, "reason": "x"}), 403,
          "forbidden")  # fmt: skip
    clock = Clock(monkeypatch)  # the deadline has passed: too late to extend
    clock.now = parse(ticket["resolve_due"]) + timedelta(seconds=1)
    details = error(extend(api, tid, extra=1, reason="x"), 409, "deadline_passed")["details"]
    assert parse(details["resolve_due"]) == parse(ticket["resolve_due"])
    monkeypatch.undo()
    photo = api.photo(f"team-{HW}")
    api.ok(f"team-{HW}", f"/tickets/{tid}/accept")
    api.ok(f"team-{HW}", f"/tickets/{tid}/resolve", {"note": "已清理", "photo_ids": [photo]})
    details = error(extend(api, tid, extra=1, reason="x"), 409, "invalid_transition")["details"]
    assert details["status"] == "resolved"
