"""Generated case histories for bench/stats.py, written with COPY.

Each case follows the moves the services make (the same event types, entities, from/to
states and event data; the database's transition check accepts every row): report,
registration by the system or a dispatcher, one ticket per responsible unit from the
real routing rules, acceptance, work, resolution, the check and the close, with the side
flows at fixed rates: not registered, self-handled, returned and reassigned, reworked,
left open, an extension (延期) for half the tickets whose work would outrun their due
(asked in time, when the work starts), and an escalation event wherever a deadline passes
before the work is done.
Due times come from the real calendar (dispatch.tickets.deadlines).
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import shapely

from dispatch.state import AppState
from dispatch.tickets.deadlines import deadlines_for, verify_due
from dispatch.tickets.deadlines import due as due_after

REJECT, SELF, RETURN, REWORK, OPEN = 0.03, 0.05, 0.04, 0.05, 0.02
EXTEND = 0.5  # of the tickets that would be late
MANUAL = 0.3  # registered by hand, the rest by the system at intake
EVENT_COLS = (
    "(type, at, actor_id, case_id, ticket_id, unit_id, entity, from_status, to_status, data)"
)
CASE_COLS = (
    "(id, case_no, event_type, status, version, urgent, lon, lat, input_crs, input_lon, "
    "input_lat, near_edge, snapped_m, cell, community, street, district, grid_version, "
    "description, reporter_id, self_handled, report_count, rework_count, captured_at, "
    "created_at, dispatched_at, resolved_at, closed_at, updated_at)"
)
TICKET_COLS = (
    "(id, case_id, unit_id, role, status, version, dispatched_at, accept_due, resolve_due, "
    "accepted_at, resolved_at, returned_at, rework_count, updated_at)"
)
N = r"\N"


def ts(t: datetime | None) -> str:
    """Times are aware UTC datetimes here: ISO 8601 is what COPY reads fastest."""
    return N if t is None else t.isoformat()


def js(data: dict[str, Any]) -> str:
    """Event data as the services write it (times in UTC with Z), escaped for COPY."""
    return orjson.dumps(data, option=orjson.OPT_UTC_Z).decode().replace("\\", "\\\\")


@dataclass
class Buffers:
    cases: io.StringIO = field(default_factory=io.StringIO)
    tickets: io.StringIO = field(default_factory=io.StringIO)
    events: io.StringIO = field(default_factory=io.StringIO)
    n_events: int = 0

    def ev(self, typ: str, at: datetime, case: int, ticket: int | None = None,
           unit: str | None = None, move: tuple[str, str, str] | None = None,
           actor: int | None = None, **data: Any) -> None:  # fmt: skip
        ent, frm, to = move or (N, N, N)
        self.events.write(
            f"{typ}\t{ts(at)}\t{actor or N}\t{case}\t{ticket or N}\t{unit or N}\t"
            f"{ent}\t{frm}\t{to}\t{js(data)}\n"
        )
        self.n_events += 1


class Generator:
    def __init__(self, state: AppState, seed: int = 7) -> None:
        self.state, self.rng = state, random.Random(seed)
        grid, city = state.grid, state.city
        self.cal = state.calendar
        self.codes = grid.codes
        # hot places: cell weights follow a Zipf-like law over a shuffled order
        w = 1 / np.arange(1, len(self.codes) + 1) ** 0.8
        np.random.default_rng(seed).shuffle(w)
        self.cell_weights = (w / w.sum()).cumsum()
        self.pts = shapely.get_coordinates(shapely.point_on_surface(grid.geoms))
        types = sorted(city.event_types.values(), key=lambda e: e.code)
        self.types = types
        tw = np.array([8.0 if e.focus else 1.0 for e in types])
        self.type_weights = (tw / tw.sum()).cumsum()
        self.parents = grid.parents
        self.routes: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {}
        self.units = sorted(city.units)
        self.np_rng = np.random.default_rng(seed)

    def route(self, et: str, cell: str) -> tuple[str, tuple[str, ...]]:
        key = (et, cell[:12])
        if key not in self.routes:
            a = self.state.rules.resolve(et, cell)
            self.routes[key] = (a.lead, a.support)
        return self.routes[key]

    def minutes(self, mean: float) -> timedelta:
        return timedelta(minutes=self.rng.expovariate(1 / mean))

    def day(self, d: date, count: int, first_id: int, ticket_id: int, reporter: int,
            buf: Buffers) -> int:  # fmt: skip
        """``count`` cases reported on local day ``d``; returns the next ticket id."""
        tz = self.cal.tz
        cells = np.searchsorted(self.cell_weights, self.np_rng.random(count))
        types = np.searchsorted(self.type_weights, self.np_rng.random(count))
        # reports cluster in the daytime: 06:00–22:00 local, peaking mid-morning
        hours = np.clip(self.np_rng.normal(11.5, 3.5, count), 6, 21.99)
        for k in range(count):
            cid = first_id + k
            ci = int(min(cells[k], len(self.codes) - 1))
            cell = self.codes[ci]
            et = self.types[int(min(types[k], len(self.types) - 1))]
            t0 = datetime(d.year, d.month, d.day, tzinfo=tz) + timedelta(hours=float(hours[k]))
            t0 = t0.astimezone(UTC)
            ticket_id = self.case(cid, cell, ci, et, t0, ticket_id, reporter, buf)
        return ticket_id

    def case(self, cid: int, cell: str, ci: int, et: Any, t0: datetime, tid: int,
             reporter: int, buf: Buffers) -> int:  # fmt: skip
        r = self.rng.random()
        ev = buf.ev
        ev("case.reported", t0, cid, move=("case", "", "reported"), actor=reporter,
           cell=cell, event_type=et.code)  # fmt: skip
        status, dispatched, resolved, closed, rework = "reported", None, None, None, 0
        tickets: list[list[Any]] = []
        if r < REJECT:
            ev("case.rejected", t0 + self.minutes(20), cid, move=("case", "reported", "rejected"),
               reason="不予立案")  # fmt: skip
            status = "rejected"
        elif r < REJECT + SELF:
            ev("case.closed", t0, cid, move=("case", "reported", "closed"), self_handled=True)
            status, closed = "closed", t0
        else:
            lead, support = self.route(et.code, cell)
            td = t0 if self.rng.random() > MANUAL else t0 + self.minutes(15)
            dispatched, status = td, "dispatched"
            ev("case.dispatched", td, cid, move=("case", "reported", "dispatched"),
               auto=td == t0)  # fmt: skip
            for unit, role in [(lead, "lead"), *((u, "support") for u in support)]:
                tickets.append(self.ticket(buf, cid, tid, unit, role, td, et))
                tid += 1
            if self.rng.random() < RETURN:
                old = tickets[0]
                back = td + self.minutes(20)
                ev("ticket.returned", back, cid, old[0], old[1],
                   ("ticket", "dispatched", "returned"), reason="非本单位")  # fmt: skip
                old[3], old[7] = "returned", back
                taken = (lead, *support)
                new = f"{cell[:9]}-jdb"  # the street office, else any other unit
                if new not in self.state.city.units or new in taken:
                    new = self.rng.choice([u for u in self.units if u not in taken])
                tr = back + self.minutes(15)
                ev("case.reassigned", tr, cid, move=("case", "dispatched", "dispatched"),
                   unit_id=new, role="lead", replaces=old[0], replaced_unit=old[1])  # fmt: skip
                tickets.append(self.ticket(buf, cid, tid, new, "lead", tr, et))
                tid += 1
            if self.rng.random() < OPEN:
                for t in tickets:
                    self.escalate_open(buf, t)
                    self.flush_ticket(buf, t)
            else:
                live = [t for t in tickets if t[3] != "returned"]
                done = max(self.work(buf, cid, t, et) for t in live)
                vd = verify_due(et, done, self.cal)
                ev("case.resolved", done, cid, move=("case", "dispatched", "verifying"),
                   verify_due=vd)  # fmt: skip
                check = done + self.minutes(50)
                if self.rng.random() < REWORK:
                    rework = 1
                    ev("case.reworked", check, cid, move=("case", "verifying", "dispatched"),
                       note="未整改到位")  # fmt: skip
                    done = max(self.redo(buf, cid, t, et, check) for t in live)
                    ev("case.resolved", done, cid, move=("case", "dispatched", "verifying"),
                       verify_due=verify_due(et, done, self.cal))  # fmt: skip
                    check = done + self.minutes(50)
                ev("case.closed", check, cid, move=("case", "verifying", "closed"), note="")
                status, resolved, closed = "closed", done, check
                for t in tickets:
                    self.flush_ticket(buf, t)
        lon, lat = self.pts[ci]
        p = self.parents
        buf.cases.write("\t".join(map(str, (
            cid, f"B{cid:09d}", et.code, status, 1, "t" if et.urgent else "f", lon, lat,
            "wgs84", lon, lat, "f", 0.0, cell, p["community"][ci], p["street"][ci],
            p["district"][ci], self.state.grid_version, "", reporter,
            "t" if status == "closed" and not dispatched else "f", 1, rework, ts(t0), ts(t0),
            ts(dispatched), ts(resolved), ts(closed), ts(closed or dispatched or t0),
        ))) + "\n")  # fmt: skip
        return tid

    def ticket(self, buf: Buffers, cid: int, tid: int, unit: str, role: str, at: datetime,
               et: Any) -> list[Any]:  # fmt: skip
        accept_due, resolve_due = deadlines_for(et, at, self.cal)
        buf.ev("ticket.dispatched", at, cid, tid, unit, ("ticket", "", "dispatched"), role=role,
               accept_due=accept_due, resolve_due=resolve_due)  # fmt: skip
        # id, unit, role, status, dispatched, accept_due, resolve_due, accepted or returned,
        # resolved, rework count, case
        return [tid, unit, role, "dispatched", at, accept_due, resolve_due, None, None, 0, cid]

    def work(self, buf: Buffers, cid: int, t: list[Any], et: Any) -> datetime:
        tid, unit, at = t[0], t[1], t[4]
        acc = at + self.minutes(25)
        if acc > t[5] + timedelta(seconds=30):  # the job saw it still waiting
            buf.ev("ticket.escalated", t[5] + timedelta(seconds=30), cid, tid, unit,
                   stage="accept", due=t[5].isoformat(), overdue_by_s=30)  # fmt: skip
        buf.ev("ticket.accepted", acc, cid, tid, unit, ("ticket", "dispatched", "accepted"))
        start = acc + self.minutes(20)
        buf.ev("ticket.started", start, cid, tid, unit, ("ticket", "accepted", "in_progress"))
        done = start + self.minutes(120)
        if start < t[6] < done and self.rng.random() < EXTEND:  # 延期, approved in time
            new = due_after(t[6], et.resolve_limit, et.limit_unit, self.cal)
            buf.ev("ticket.extended", start, cid, tid, unit,
                   previous_due=t[6], resolve_due=new, extra=et.resolve_limit,
                   limit_unit=et.limit_unit, reason="延期")  # fmt: skip
            t[6] = new
        return self.finish(buf, cid, t, done, acc)

    def finish(self, buf: Buffers, cid: int, t: list[Any], done: datetime,
               accepted: datetime | None = None) -> datetime:  # fmt: skip
        if done > t[6] + timedelta(seconds=30):
            buf.ev("ticket.escalated", t[6] + timedelta(seconds=30), cid, t[0], t[1],
                   stage="resolve", due=t[6].isoformat(), overdue_by_s=30)  # fmt: skip
        buf.ev("ticket.resolved", done, cid, t[0], t[1], ("ticket", "in_progress", "resolved"),
               photo_ids=[])  # fmt: skip
        t[3], t[8] = "resolved", done
        if accepted is not None:
            t[7] = accepted
        return done

    def redo(self, buf: Buffers, cid: int, t: list[Any], et: Any, at: datetime) -> datetime:
        _, due = deadlines_for(et, at, self.cal)
        buf.ev("ticket.reworked", at, cid, t[0], t[1], ("ticket", "resolved", "in_progress"),
               note="返工", resolve_due=due)  # fmt: skip
        t[6], t[9] = due, t[9] + 1
        return self.finish(buf, cid, t, at + self.minutes(90))

    def escalate_open(self, buf: Buffers, t: list[Any]) -> None:
        """The escalation job's events for a ticket left open: both deadlines pass."""
        stages = (("accept", t[5]), ("resolve", t[6])) if t[3] == "dispatched" else ()
        for stage, due in stages:
            buf.ev("ticket.escalated", due + timedelta(seconds=30), t[10], t[0], t[1],
                   stage=stage, due=due.isoformat(), overdue_by_s=30)  # fmt: skip

    def flush_ticket(self, buf: Buffers, t: list[Any]) -> None:
        tid, unit, role, status, at, adue, rdue, acc, res, rework, cid = t
        returned = acc if status == "returned" else None
        accepted = None if status == "returned" else acc
        buf.tickets.write("\t".join(map(str, (
            tid, cid, unit, role, status, 1, ts(at), ts(adue), ts(rdue), ts(accepted), ts(res),
            ts(returned), rework, ts(res or at),
        ))) + "\n")  # fmt: skip


def days_of(year: int) -> Iterator[date]:
    d = date(year, 1, 1)
    while d.year == year:
        yield d
        d += timedelta(days=1)
