"""The case workflow through the real app: 派遣 → 签收 → 处置 → 核查 → 结案, and its side flows.

On SQLite and on PostGIS (the shared ``api`` fixture: one app per backend for the module,
Nanning demo city, demo accounts). Every test files its own 泥头车撒漏 (06014) reports in
worker1's beat (街道 450103901), each in a fresh cell far from the others so no report joins
another's case, and looks only at the cases and tickets it made. 06014 in 青秀 routes to
450103-cgzf (lead, 城管) with 450103-jj (交警) and 450103-hw (环卫) supporting.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from apikit import Api
from sqlalchemy import update
from sqlmodel import Session, col, select

from dispatch.auth.models import User
from dispatch.auth.principal import Principal
from dispatch.cases import service as case_service
from dispatch.dbtypes import utcnow
from dispatch.enums import Role
from dispatch.errors import Conflict, Forbidden
from dispatch.feed.models import Event
from dispatch.tickets.guard import move_row
from dispatch.tickets.models import Ticket
from dispatch.tickets.states import TICKET_MOVES

LEAD, JJ, HW = "450103-cgzf", "450103-jj", "450103-hw"
BEAT = "450103901"  # worker1's street


def report(w: Api, user: str = "worker1") -> Any:
    """A fresh 06014 case in worker1's beat, far from every other report of this app."""
    lon, lat = w.free_point(BEAT)
    r = w.report(user, lon=lon, lat=lat, description="泥头车撒漏")
    assert r.status_code == 201, r.text
    assert r.json()["joined_existing"] is False
    return r.json()


def resolve(w: Api, unit: str, ticket_id: int) -> Any:
    body = {"note": "已清理路面", "photo_ids": [w.photo(f"team-{unit}")]}
    return w.ok(f"team-{unit}", f"/tickets/{ticket_id}/resolve", body)


def events_of(w: Api, case_id: int) -> list[Event]:
    with Session(w.state.db.engine) as s:
        query = select(Event).where(Event.case_id == case_id).order_by(col(Event.seq))
        return list(s.exec(query).all())


def tickets_of(w: Api, case_id: int) -> list[Ticket]:
    with Session(w.state.db.engine) as s:
        query = select(Ticket).where(Ticket.case_id == case_id).order_by(col(Ticket.id))
        return list(s.exec(query).all())


def units(case: Any) -> dict[str, Any]:
    return {u["unit_id"]: u for u in case["units"]}


def error(r: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    if code:
        assert body["error"]["code"] == code
    return dict(body["error"])


def work(w: Api, case: Any, unit: str) -> Any:
    """The unit's team accepts (with its version), starts and resolves with an after-photo."""
    t = units(case)[unit]
    team = f"team-{unit}"
    out = w.ok(team, f"/tickets/{t['ticket_id']}/accept", {"version": t["version"]})
    assert (out["status"], out["version"]) == ("accepted", t["version"] + 1)
    out = w.ok(team, f"/tickets/{t['ticket_id']}/start", {"version": out["version"]})
    assert out["status"] == "in_progress"
    return resolve(w, unit, t["ticket_id"])


def finish(w: Api, case: Any) -> Any:
    """Every live ticket worked, lead first; the case must wait for the last one."""
    order = [LEAD, *sorted(u for u in units(case) if u != LEAD)]
    live = [u for u in order if units(case)[u]["status"] not in ("returned", "cancelled")]
    out: Any = None
    for i, unit in enumerate(live):
        out = work(w, case, unit)
        expected = "verifying" if i == len(live) - 1 else "dispatched"
        assert out["case"]["status"] == expected
    return out["case"]


def test_joint_case_lifecycle(api: Api) -> None:
    w = api
    case = report(w)
    assert case["status"] == "dispatched"
    by_unit = units(case)
    assert by_unit[LEAD]["role"] == "lead"
    assert by_unit[JJ]["role"] == "support"
    assert {u["role"] for u in case["units"]} == {"lead", "support"}
    assert sum(u["role"] == "lead" for u in case["units"]) == 1

    inbox = w.get(f"team-{JJ}", "/tickets").json()
    assert by_unit[JJ]["ticket_id"] in {t["ticket_id"] for t in inbox["items"]}
    assert all(t["unit_id"] == JJ for t in inbox["items"])

    verifying = finish(w, case)
    assert verifying["resolved_at"]
    assert verifying["verify_due"]
    closed = w.ok("worker1", f"/cases/{case['id']}/verify", {"passed": True, "note": "已核实"})
    assert closed["status"] == "closed"
    assert closed["closed_at"]

    events = events_of(w, case["id"])
    assert all(e.entity and e.to_status for e in events)  # every event is a state change
    seq = [(e.type, e.ticket_id) for e in events]
    assert [e.type for e in events[:2]] == ["case.reported", "case.dispatched"]
    assert seq[-2:] == [("case.resolved", None), ("case.closed", None)]
    for u in case["units"]:
        mine = [e.type for e in events if e.ticket_id == u["ticket_id"]]
        steps = ["dispatched", "accepted", "started", "resolved"]
        assert mine == [f"ticket.{x}" for x in steps]
        data = [json.loads(e.data) for e in events if e.ticket_id == u["ticket_id"]]
        assert [d.get("version") for d in data[1:]] == [2, 3, 4]
    chain = " ".join(f"{e.from_status}>{e.to_status}" for e in events if e.entity == "case")
    assert chain == ">reported reported>dispatched dispatched>verifying verifying>closed"

    # 重办: the dispatcher reopens; the same units get fresh tickets
    reopened = w.ok("dispatcher", f"/cases/{case['id']}/reopen", {"reason": "群众再次投诉"})
    assert reopened["status"] == "dispatched"
    fresh = [u for u in reopened["units"] if u["status"] == "dispatched"]
    assert sorted(u["unit_id"] for u in fresh) == sorted(by_unit)
    assert sorted(u["role"] for u in fresh) == sorted(u["role"] for u in case["units"])
    old = {u["ticket_id"] for u in case["units"]}
    assert {u["status"] for u in reopened["units"] if u["ticket_id"] in old} == {"cancelled"}


def test_return_and_reassign(api: Api) -> None:
    w = api
    case = report(w)
    jj = units(case)[JJ]["ticket_id"]
    error(w.post(f"team-{JJ}", f"/tickets/{jj}/return", {"reason": "  "}), 422, "reason_required")
    out = w.ok(f"team-{JJ}", f"/tickets/{jj}/return", {"reason": "非交警职责"})
    assert out["status"] == "returned"
    assert out["return_reason"] == "非交警职责"
    assert out["case"]["status"] == "dispatched"

    returned = w.get("dispatcher", "/tickets", status="returned", unit=JJ).json()["items"]
    assert jj in {t["ticket_id"] for t in returned}
    assert jj not in {t["ticket_id"] for t in w.get(f"team-{JJ}", "/tickets").json()["items"]}

    body = {"unit_id": "450103-ga", "role": "support", "replace_ticket_id": jj}
    case = w.ok("dispatcher", f"/cases/{case['id']}/reassign", body)
    assert case["status"] == "dispatched"
    assert units(case)["450103-ga"]["status"] == "dispatched"
    assert units(case)["450103-ga"]["role"] == "support"
    assert units(case)[JJ]["status"] == "returned"
    closed = finish(w, case)
    resolved = {u["unit_id"] for u in closed["units"] if u["status"] == "resolved"}
    assert resolved == {LEAD, HW, "450103-ga"}
    events = events_of(w, case["id"])
    ret = next(e for e in events if e.type == "ticket.returned")
    assert json.loads(ret.data)["reason"] == "非交警职责"
    assert any(e.type == "case.reassigned" for e in events)


def test_rework_then_pass(api: Api) -> None:
    w = api
    case = finish(w, report(w))
    path = f"/cases/{case['id']}/verify"
    error(w.post("worker1", path, {"passed": False, "note": ""}), 422, "note_required")
    back = w.ok("worker1", path, {"passed": False, "note": "路面仍有泥浆"})
    assert back["status"] == "dispatched"
    assert back["rework_count"] == 1
    assert {u["status"] for u in back["units"]} == {"in_progress"}
    assert {t.rework_count for t in tickets_of(w, case["id"])} == {1}
    types = [e.type for e in events_of(w, case["id"])]
    assert types.count("case.reworked") == 1
    assert types.count("ticket.reworked") == len(case["units"])

    last = len(back["units"]) - 1
    for i, u in enumerate(back["units"]):
        out = resolve(w, u["unit_id"], u["ticket_id"])
        assert out["case"]["status"] == ("verifying" if i == last else "dispatched")
    closed = w.ok("worker1", path, {"passed": True})
    assert (closed["status"], closed["rework_count"]) == ("closed", 1)


def test_reject_and_manual_dispatch(api: Api) -> None:
    w = api
    case = report(w)
    path = f"/cases/{case['id']}/reject"
    error(w.post("dispatcher", path, {"reason": ""}), 422, "reason_required")
    rejected = w.ok("dispatcher", path, {"reason": "重复上报"})
    assert rejected["status"] == "rejected"
    assert {u["status"] for u in rejected["units"]} == {"cancelled"}
    cancelled = [e.type for e in events_of(w, case["id"])].count("ticket.cancelled")
    assert cancelled == len(case["units"])
    error(w.post("dispatcher", path, {"reason": "again"}), 409, "invalid_transition")

    w.state.settings.auto_dispatch = False  # routing by hand: reports wait as `reported`
    try:
        reported = [report(w) for _ in range(3)]
    finally:
        w.state.settings.auto_dispatch = True
    assert {c["status"] for c in reported} == {"reported"}
    dropped = w.ok("dispatcher", f"/cases/{reported[0]['id']}/reject", {"reason": "不予立案"})
    assert dropped["status"] == "rejected"
    by_rules = w.ok("dispatcher", f"/cases/{reported[1]['id']}/dispatch", {})
    assert by_rules["status"] == "dispatched"
    assert set(units(by_rules)) == set(units(case))
    body = {"lead_unit": "450103-hw", "support_units": [LEAD, "450103-hw"]}
    manual = w.ok("dispatcher", f"/cases/{reported[2]['id']}/dispatch", body)
    assert {u: t["role"] for u, t in units(manual).items()} == {HW: "lead", LEAD: "support"}
    error(w.post("worker1", f"/cases/{reported[2]['id']}/dispatch", {}), 403, "forbidden")


def second_member(w: Api) -> str:
    """A second member of the lead unit's team (on team 2), made once per app."""
    name = f"team-{LEAD}-b"
    with Session(w.state.db.engine) as s:
        if s.exec(select(User).where(User.username == name)).first() is None:
            first = s.exec(select(User).where(User.username == f"team-{LEAD}")).one()
            b = User(username=name, password_hash=first.password_hash, role=Role.team)
            b.unit_id, b.team_id = LEAD, f"{LEAD}-2"
            s.add(b)
            s.commit()
    return name


def test_accept_race_names_the_winner(api: Api) -> None:
    """Two members accept at once: on SQLite BEGIN IMMEDIATE orders them, on PostgreSQL the
    two transactions really race and the guarded UPDATE picks the winner."""
    w = api
    users = [f"team-{LEAD}", second_member(w)]
    for u in users:
        w.auth(u)
    case = report(w)
    t = units(case)[LEAD]
    barrier = threading.Barrier(2)
    results: dict[str, Any] = {}
    failures: list[BaseException] = []

    def go(user: str) -> None:
        try:
            barrier.wait(timeout=30)
            path = f"/tickets/{t['ticket_id']}/accept"
            results[user] = w.post(user, path, {"version": t["version"]})
        except BaseException as exc:  # reported below, not lost in the thread
            failures.append(exc)

    threads = [threading.Thread(target=go, args=(u,)) for u in users]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not any(th.is_alive() for th in threads)
    assert failures == []
    assert sorted(r.status_code for r in results.values()) == [200, 409]
    winner = next(u for u, r in results.items() if r.status_code == 200)
    loser = error(next(r for r in results.values() if r.status_code == 409), 409, "conflict")
    assert winner in loser["message"]
    assert loser["details"]["changed_by"] == winner
    assert (loser["details"]["status"], loser["details"]["version"]) == ("accepted", 2)
    team = f"{LEAD}-2" if winner.endswith("-b") else f"{LEAD}-1"
    assert results[winner].json()["team_id"] == team
    accepted = [e for e in events_of(w, case["id"]) if e.type == "ticket.accepted"]
    assert len(accepted) == 1  # the loser wrote nothing


def test_refusals(api: Api) -> None:
    w = api
    case = report(w)
    t = units(case)[LEAD]["ticket_id"]
    lead = f"team-{LEAD}"
    # wrong state
    error(w.post(lead, f"/tickets/{t}/start"), 409, "invalid_transition")
    # another unit's ticket does not exist for them
    error(w.post(f"team-{HW}", f"/tickets/{t}/accept"), 404, "not_found")
    error(w.get(f"team-{HW}", f"/tickets/{t}"), 404, "not_found")
    error(w.get(f"team-{HW}", "/tickets", unit=LEAD), 403)
    error(w.get("worker1", "/tickets"), 403)
    # roles
    error(w.post("dispatcher", f"/tickets/{t}/accept"), 403, "forbidden")
    error(w.post(lead, f"/cases/{case['id']}/verify", {"passed": True}), 403, "forbidden")
    # mass assignment
    error(w.post(lead, f"/tickets/{t}/accept", {"status": "resolved"}), 422, "invalid_request")
    # stale version names who changed the ticket
    w.ok(lead, f"/tickets/{t}/accept")
    stale = error(w.post(lead, f"/tickets/{t}/start", {"version": 1}), 409, "conflict")
    assert stale["details"]["changed_by"] == lead
    # resolve needs an after-photo of one's own, and a note
    body: dict[str, Any] = {"note": "done", "photo_ids": []}
    error(w.post(lead, f"/tickets/{t}/resolve", body), 422, "photo_required")
    body["photo_ids"] = [w.photo("worker1")]
    error(w.post(lead, f"/tickets/{t}/resolve", body), 422)
    body = {"note": " ", "photo_ids": [w.photo(lead)]}
    error(w.post(lead, f"/tickets/{t}/resolve", body), 422, "note_required")
    assert w.get(lead, f"/tickets/{t}").json()["status"] == "accepted"
    # verify only while verifying
    error(w.post("worker1", f"/cases/{case['id']}/verify", {"passed": True}), 409)


def test_guarded_write_loses_to_a_concurrent_change(api: Api) -> None:
    """A row changed after it was read (as on PostgreSQL): zero rows, 409 naming the winner."""
    w = api
    t = units(report(w))[LEAD]
    w.ok(f"team-{LEAD}", f"/tickets/{t['ticket_id']}/accept")
    with Session(w.state.db.engine) as s, s.begin():
        row = s.get_one(Ticket, t["ticket_id"])
        bump = update(Ticket).where(col(Ticket.id) == row.id).values(version=Ticket.version + 1)
        s.exec(bump.execution_options(synchronize_session=False))  # in-memory row now stale
        with pytest.raises(Conflict) as exc:
            move_row(s, row, TICKET_MOVES["start"], utcnow(), None)
        s.rollback()
    assert exc.value.details["changed_by"] == f"team-{LEAD}"
    assert exc.value.details["version"] == t["version"] + 2
    assert w.get(f"team-{LEAD}", f"/tickets/{t['ticket_id']}").json()["status"] == "accepted"


def test_resolver_may_not_verify(api: Api) -> None:
    """The service refuses a checker who resolved one of the case's tickets (核查 ≠ 处置)."""
    w = api
    case = finish(w, report(w))
    resolver = next(t.resolved_by for t in tickets_of(w, case["id"]) if t.unit_id == HW)
    assert resolver is not None
    as_worker = Principal(user_id=resolver, username="x", role=Role.worker, area_prefix="450103")
    with pytest.raises(Forbidden) as exc:
        case_service.verify(w.state, as_worker, case_id=case["id"], passed=True)
    assert exc.value.code == "verifier_is_resolver"
    assert w.get("dispatcher", f"/cases/{case['id']}").json()["status"] == "verifying"


def test_inbox_paging(api: Api) -> None:
    w = api
    mine = [units(report(w))[LEAD]["ticket_id"] for _ in range(3)]
    page = w.get(f"team-{LEAD}", "/tickets", limit=2).json()
    assert page["limit"] == 2
    assert len(page["items"]) <= 2
    assert page["total"] >= len(page["items"])
    assert len(page["items"]) == 2
    assert page["total"] >= len(mine)
    big = w.get("dispatcher", "/tickets", limit=10_000, unit=LEAD).json()
    assert big["limit"] == w.state.settings.max_page_size
    stamps = [t["dispatched_at"] for t in big["items"]]
    assert stamps == sorted(stamps, reverse=True)
    assert {t["unit_id"] for t in big["items"]} == {LEAD}
    assert set(mine) <= {t["ticket_id"] for t in big["items"]}  # the newest are on page 1
