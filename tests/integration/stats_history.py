"""A known history for the figure tests, written through the real API on a stopped clock.

The services take "now" from ``dispatch.dbtypes.utcnow``; :class:`Clock` replaces it in
every dispatch module (but auth, whose tokens keep real time), so each request happens at
the local time the script names and every figure can be worked out by hand. The cases
(all in 街道 450103901 unless said; 06010 暴露垃圾 → 450103-hw; 09009 乱停放 → 450103-jj
lead, 450103-cgzf support; 06014 遗撒, urgent, clock minutes → 450103-cgzf lead, jj and
hw support; auto-dispatch is off, so the dispatcher registers each case by hand):

A  06010  Tue 10-13 08:50 reported, 09:00 dispatched, accepted 09:20, started 09:30,
          resolved 10:30, closed 11:00; Fri 10-16 10:00 reopened, accepted 10:30,
          resolved 11:30, closed 12:00.
B  06010  10-13 10:00 reported, 10:45 dispatched (late), accepted 11:40, resolved 14:40,
          check failed 15:40 (返工; new due 10-14 10:10), escalated 10-14 10:15,
          resolved 11:00, closed 11:30.
C  09009  Wed 10-14 09:00 reported, 09:05 dispatched; jj returns 09:10; reassigned to hw
          (lead) 09:30; cgzf accepts 09:40, resolves 10:00; hw accepts 09:45, resolves
          10:45; closed 11:15.
D  06014  Thu 10-15 09:00 reported, 09:12 dispatched (late: urgent limit 10 min); cgzf
          accepts 09:17, jj 09:30 (late), hw never; G joins it 10:00; escalated 11:20
          (three resolve deadlines, one accept deadline); left open.
E  06010  10-15 10:00 reported, 10:20 not registered (不予立案).
F  06010  10-15 14:40 reported self-handled (自处理): registered and closed at once.
H  06010  Fri 10-16 09:00 reported, 09:10 dispatched, 09:30 voided (作废).
J  06010  in 街道 450103902: 10-16 09:00 reported, 09:05 dispatched, left open.
R  06010  in 450103902, three times in one cell, 25 hours apart (a repeat place).
K  06010  in 450103902: Mon 10-19 09:00 reported and dispatched, hw accepts 09:10; 11:00
          the dispatcher extends it (延期) by 4 working hours: resolve due 15:30 → Tue
          10:00, close-by 16:30 → Tue 11:00; the escalation at 16:00 passes it by; resolved
          Tue 09:30 (on time for the new due), closed 09:45 (on time).
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apikit import Api

from dispatch import dbtypes
from dispatch.tickets.escalation import escalate_overdue

TZ = ZoneInfo("Asia/Shanghai")
BEAT, OTHER = "450103901", "450103902"
GARBAGE, PARKING, SPILL = "06010", "09009", "06014"
HW, JJ, CG = "450103-hw", "450103-jj", "450103-cgzf"


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=TZ).astimezone(UTC)


class Clock:
    """``utcnow`` for every dispatch module but auth, set by hand."""

    def __init__(self, mp: pytest.MonkeyPatch) -> None:
        real = dbtypes.utcnow
        self.now = real()
        for name, module in list(sys.modules.items()):
            if (
                name.startswith("dispatch.")
                and not name.startswith(("dispatch.auth", "dispatch.dbtypes"))
                and getattr(module, "utcnow", None) is real
            ):
                mp.setattr(module, "utcnow", self)

    def __call__(self) -> datetime:
        return self.now

    def at(self, text: str) -> datetime:
        self.now = local(text)
        return self.now


@dataclass
class History:
    cases: dict[str, int] = field(default_factory=dict)
    cells: dict[str, str] = field(default_factory=dict)
    points: dict[str, tuple[float, float]] = field(default_factory=dict)


class Script:
    def __init__(self, w: Api, clock: Clock) -> None:
        self.w, self.clock, self.h = w, clock, History()
        self.tickets: dict[tuple[str, str], int] = {}

    def at(self, text: str) -> Script:
        self.clock.at(text)
        return self

    def report(
        self,
        name: str,
        event_type: str,
        where: str = BEAT,
        point: tuple[float, float] | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        lon, lat = point or self.w.free_point(where)
        body = {"event_type": event_type, "lon": lon, "lat": lat, "description": name, **extra}
        headers = {**self.w.auth("worker1"), "Idempotency-Key": str(uuid.uuid4())}
        r = self.w.client.post("/api/v1/reports", json=body, headers=headers)
        assert r.status_code == 201, r.text
        out: dict[str, Any] = r.json()
        if not out["joined_existing"]:
            self.h.cases[name] = out["id"]
            self.h.cells[name] = out["location"]["cell"]
            self.h.points[name] = (lon, lat)
        return out

    def case(self, name: str, action: str, body: dict[str, Any], user: str = "dispatcher") -> Any:
        out = self.w.ok(user, f"/cases/{self.h.cases[name]}/{action}", body)
        self._note(name, out)
        return out

    def _note(self, name: str, case: dict[str, Any]) -> None:
        for u in case["units"]:
            if u["status"] not in ("returned", "cancelled"):
                self.tickets[(name, u["unit_id"])] = u["ticket_id"]

    def team(self, name: str, unit: str, action: str, body: dict[str, Any] | None = None) -> Any:
        out = self.w.ok(f"team-{unit}", f"/tickets/{self.tickets[(name, unit)]}/{action}", body)
        return out

    def resolve(self, name: str, unit: str) -> Any:
        photo = self.w.photo(f"team-{unit}")
        return self.team(name, unit, "resolve", {"note": "已处置", "photo_ids": [photo]})

    def extend(self, name: str, unit: str, extra: float) -> Any:
        body = {"extra": extra, "reason": "等待业主整改材料"}
        return self.w.ok("dispatcher", f"/tickets/{self.tickets[(name, unit)]}/extend", body)

    def escalate(self, text: str) -> int:
        return escalate_overdue(self.w.state.db.engine, now=self.clock.at(text))


def build(w: Api, mp: pytest.MonkeyPatch) -> History:
    s = Script(w, Clock(mp))
    verify = {"passed": True, "note": "已核实"}
    # Tue 10-13
    s.at("2026-10-13 08:50").report("A", GARBAGE)
    s.at("2026-10-13 09:00").case("A", "dispatch", {})
    s.at("2026-10-13 09:20").team("A", HW, "accept")
    s.at("2026-10-13 09:30").team("A", HW, "start")
    s.at("2026-10-13 10:00").report("B", GARBAGE)
    s.at("2026-10-13 10:30").resolve("A", HW)
    s.at("2026-10-13 10:45").case("B", "dispatch", {})
    s.at("2026-10-13 11:00").case("A", "verify", verify, user="worker1")
    s.at("2026-10-13 11:40").team("B", HW, "accept")
    s.at("2026-10-13 14:40").resolve("B", HW)
    s.at("2026-10-13 15:40").case("B", "verify", {"passed": False, "note": "未清理干净"}, "worker1")
    # Wed 10-14
    s.at("2026-10-14 09:00").report("C", PARKING)
    s.at("2026-10-14 09:05").case("C", "dispatch", {})
    s.at("2026-10-14 09:10").team("C", JJ, "return", {"reason": "非本单位职责"})
    s.at("2026-10-14 09:30").case("C", "reassign", {"unit_id": HW, "role": "lead"})
    s.at("2026-10-14 09:40").team("C", CG, "accept")
    s.at("2026-10-14 09:45").team("C", HW, "accept")
    s.at("2026-10-14 10:00").resolve("C", CG)
    assert s.escalate("2026-10-14 10:15") == 1  # B's new deadline (10:10)
    s.at("2026-10-14 10:45").resolve("C", HW)
    s.at("2026-10-14 11:00").resolve("B", HW)
    s.at("2026-10-14 11:15").case("C", "verify", verify, user="worker1")
    s.at("2026-10-14 11:30").case("B", "verify", verify, user="worker1")
    # Thu 10-15
    s.at("2026-10-15 09:00").report("D", SPILL)
    s.at("2026-10-15 09:12").case("D", "dispatch", {})
    s.at("2026-10-15 09:17").team("D", CG, "accept")
    s.at("2026-10-15 09:30").team("D", JJ, "accept")
    joined = s.at("2026-10-15 10:00").report("G", SPILL, point=s.h.points["D"])
    assert joined["joined_existing"]
    assert joined["id"] == s.h.cases["D"]
    s.at("2026-10-15 10:00").report("E", GARBAGE)
    s.at("2026-10-15 10:20").case("E", "reject", {"reason": "重复上报"})
    assert s.escalate("2026-10-15 11:20") == 4  # hw's accept, and all three resolves
    before = [s.w.photo("worker1"), s.w.photo("worker1", (10, 10, 10))]
    s.at("2026-10-15 14:40").report(
        "F", GARBAGE, self_handled=True, photo_ids=before[:1], after_photo_ids=before[1:]
    )
    # Fri 10-16
    s.at("2026-10-16 09:00").report("H", GARBAGE)
    s.at("2026-10-16 09:00").report("J", GARBAGE, where=OTHER)
    s.at("2026-10-16 09:05").case("J", "dispatch", {})
    s.at("2026-10-16 09:10").case("H", "dispatch", {})
    s.at("2026-10-16 09:30").case("H", "reject", {"reason": "误报作废"})
    s.at("2026-10-16 10:00").case("A", "reopen", {"reason": "群众反映仍有垃圾"})
    s.at("2026-10-16 10:30").team("A", HW, "accept")
    s.at("2026-10-16 11:30").resolve("A", HW)
    s.at("2026-10-16 12:00").case("A", "verify", verify, user="worker1")
    # Mon 10-19: an extension (K); a repeat place: the same cell, three days in a row (more
    # than the 24 h duplicate window), R0 on Tuesday between K's moves
    spot = s.w.free_point(OTHER)
    s.at("2026-10-19 09:00").report("K", GARBAGE, where=OTHER)
    s.at("2026-10-19 09:00").case("K", "dispatch", {})
    s.at("2026-10-19 09:10").team("K", HW, "accept")
    extended = s.at("2026-10-19 11:00").extend("K", HW, 4)
    assert extended["resolve_due"] == local("2026-10-20 10:00").isoformat().replace("+00:00", "Z")
    assert s.escalate("2026-10-19 16:00") == 2  # J's accept and resolve; K is due tomorrow
    s.at("2026-10-20 09:00").report("R0", GARBAGE, point=spot)
    s.at("2026-10-20 09:30").resolve("K", HW)
    s.at("2026-10-20 09:45").case("K", "verify", verify, user="worker1")
    for i, when in ((1, "2026-10-21 10:00"), (2, "2026-10-22 11:00")):
        s.at(when).report(f"R{i}", GARBAGE, point=spot)
    return s.h
