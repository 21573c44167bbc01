"""A request filed through Open311 lives the life of any report: the teams' inboxes, the
command centre's cases and event log, the workflow to 结案; and the key commands that let
a client in and out. On SQLite and PostGIS."""

from __future__ import annotations

from typing import Any

import pytest
from apikit import Api
from click.testing import CliRunner
from open311kit import Open311, doc, errors
from sqlmodel import Session, col, select

from dispatch.cli import main
from dispatch.feed.models import Event
from dispatch.open311.keys import principal_for_key

LEAD, SUPPORT = "450103-cgzf", ("450103-jj", "450103-hw")
SPILL = {"still_spilling": "yes", "plate_no": "桂A12345"}


def spill(api: Api, o311: Open311) -> str:
    """A 泥头车 spill in worker1's beat, filed through Open311."""
    return o311.file("450103901", event="06014", description="泥头车撒漏", attribute=SPILL)


def request(o311: Open311, rid: str, fmt: str = "json") -> dict[str, Any]:
    (req,) = doc(o311.get(f"requests/{rid}", fmt), fmt, "service_requests")
    return dict(req)


def find(items: list[dict[str, Any]], case_no: str) -> dict[str, Any]:
    return next(i for i in items if (i.get("case") or i).get("case_no") == case_no)


def test_an_open311_request_reaches_the_teams_and_the_command_centre(api: Api) -> None:
    o311 = Open311(api, "flow-hotline")
    rid = spill(api, o311)
    cases = api.get("commander", "/cases", event_type="06014", unit=LEAD).json()["items"]
    case = find(cases, rid)
    assert case["status"] == "dispatched"
    assert case["location"]["street"] == "450103901"
    assert "【补充信息】是否仍在撒漏：是，仍在撒漏；肇事车辆车牌号：桂A12345" in case["description"]
    for unit, role in [(LEAD, "lead")] + [(u, "support") for u in SUPPORT]:
        inbox = api.get(f"team-{unit}", "/tickets").json()["items"]
        ticket = find(inbox, rid)
        assert (ticket["unit_id"], ticket["role"], ticket["status"]) == (unit, role, "dispatched")
    other = api.get("team-450105-cgzf", "/tickets").json()["items"]
    assert all(t["case"]["case_no"] != rid for t in other)
    principal = principal_for_key(api.state.db.engine, o311.key)
    assert principal is not None
    with Session(api.state.db.engine) as s:
        reported = s.execute(
            select(Event).where(
                col(Event.case_id) == case["id"], col(Event.type) == "case.reported"
            )
        ).scalar_one()
    assert reported.actor_id == principal.user_id  # the client's service account reported it
    timeline = api.get("commander", f"/cases/{case['id']}").json()["timeline"]
    entry = next(e for e in timeline if e["type"] == "case.reported")
    assert entry["actor_hidden"] is True  # teams and the command centre never see who
    assert api.get("dispatcher", f"/cases/{case['id']}").json()["timeline"][0]["actor"] == (
        "open311-flow-hotline"
    )


def test_the_workflow_shows_through_open311_until_closed(api: Api) -> None:
    o311 = Open311(api, "flow-citizen-app")
    rid = spill(api, o311)
    case_id = find(api.get("commander", "/cases", event_type="06014").json()["items"], rid)["id"]
    first = request(o311, rid)
    assert (first["status"], first["agency_responsible"]) == ("open", "青秀区城管执法大队")
    for unit in (LEAD, *SUPPORT):
        ticket = find(api.get(f"team-{unit}", "/tickets").json()["items"], rid)
        api.ok(f"team-{unit}", f"/tickets/{ticket['ticket_id']}/accept", {})
        photo = api.photo(f"team-{unit}")
        body = {"note": "已冲洗路面", "photo_ids": [photo]}
        api.ok(f"team-{unit}", f"/tickets/{ticket['ticket_id']}/resolve", body)
    waiting = request(o311, rid, "xml")
    assert waiting["status"] == "open"
    assert waiting["status_notes"] == "责任单位已处置完毕，等待现场核查"
    closed_case = api.ok("worker1", f"/cases/{case_id}/verify", {"passed": True})
    done = request(o311, rid, "xml")
    assert done["status"] == "closed"
    assert done["status_notes"] == "已核查结案"
    assert done["updated_datetime"] == closed_case["closed_at"][:19] + "Z"
    closed = o311.get("requests", "json", status="closed", service_code="06014").json()
    assert rid in [r["service_request_id"] for r in closed]


def test_key_commands_let_a_client_in_and_out(api: Api) -> None:
    url = api.state.settings.database_url
    runner = CliRunner()
    made = runner.invoke(main, ["open311-key", "create", "cli-client", "--database-url", url])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert len(key) >= 40
    lon, lat = api.free_point("450103902")
    form = {"api_key": key, "service_code": "06001", "lat": lat, "long": lon}
    assert api.client.post("/open311/v2/requests.json", data=form).status_code == 201
    listing = runner.invoke(main, ["open311-key", "list", "--database-url", url])
    assert listing.exit_code == 0
    line = next(x for x in listing.output.splitlines() if x.startswith("cli-client"))
    assert key[:6] in line
    assert "live" in line
    assert key not in listing.output  # only its first characters
    gone = runner.invoke(main, ["open311-key", "revoke", "cli-client", "--database-url", url])
    assert gone.exit_code == 0
    assert "revoked 1 key of cli-client" in gone.output
    form["description"] = "after revocation"
    errors(api.client.post("/open311/v2/requests.xml", data=form), "xml", 403)
    listing = runner.invoke(main, ["open311-key", "list", "--database-url", url])
    assert "revoked" in next(x for x in listing.output.splitlines() if x.startswith("cli-client"))
    again = runner.invoke(main, ["open311-key", "revoke", "cli-client", "--database-url", url])
    assert again.exit_code == 1
    assert "no live key" in again.output
    renewed = runner.invoke(main, ["open311-key", "create", "cli-client", "--database-url", url])
    form["api_key"] = renewed.stdout.strip()
    assert api.client.post("/open311/v2/requests.json", data=form).status_code == 201


@pytest.mark.parametrize("name", ["", "_underscore-first", "has space", "x" * 49, "名字"])
def test_a_bad_client_name_is_refused(api: Api, name: str) -> None:
    url = api.state.settings.database_url
    out = CliRunner().invoke(main, ["open311-key", "create", name, "--database-url", url])
    assert out.exit_code == 1
    assert "client name" in out.output


def test_a_persons_account_is_never_taken_over(api: Api) -> None:
    """A user whose name looks like a service account but has a password stays a person."""
    from dispatch.auth.models import User
    from dispatch.auth.service import hash_password
    from dispatch.db import transaction
    from dispatch.enums import Role

    with transaction(api.state.db.engine) as s:
        s.add(User(username="open311-mallory", password_hash=hash_password("pw"), role=Role.admin))
    url = api.state.settings.database_url
    out = CliRunner().invoke(main, ["open311-key", "create", "mallory", "--database-url", url])
    assert out.exit_code == 1
    assert "person's account" in out.output


def test_the_service_account_cannot_sign_in(api: Api) -> None:
    Open311(api, "no-login")
    for password in ("", "!open311-service-account", "anything"):
        r = api.client.post(
            "/api/v1/auth/token", data={"username": "open311-no-login", "password": password}
        )
        assert r.status_code in (401, 422), r.text
