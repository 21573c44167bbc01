"""One case's event history → the figures it adds to each day (the facts).

Pure: no I/O, no framework. The rollup and the live path both read a case's events in
``seq`` order and hand them here; only events inside ``[start, end)`` yield facts, but
every earlier event is read, because a fact may need the state they left (when was the
ticket dispatched, which deadline was in force, who led the case).

A fact is dated by the moment it happened, so a day's figures depend only on what had
happened by the end of that day: once the day is over they never change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from dispatch.tickets.deadlines import LimitSource, WorkingCalendar, due, elapsed_seconds

CLOCK = "minutes"  # the limit unit of clock time (see dispatch.tickets.deadlines)


@dataclass(frozen=True, slots=True)
class CaseInfo:
    """The fixed facts of a case: where, what, when reported."""

    id: int
    cell: str
    event_type: str
    urgent: bool
    reported_at: datetime


_NO_DATA: Mapping[str, Any] = MappingProxyType({})


class Ev(NamedTuple):
    """One event-log row of the case (or of one of its tickets); a tuple, built by the
    ten thousand per query."""

    type: str
    at: datetime
    ticket_id: int | None = None
    unit_id: str | None = None
    from_status: str | None = None
    data: Mapping[str, Any] = _NO_DATA

    @staticmethod
    def parse_data(text: str | None) -> Mapping[str, Any]:
        return orjson.loads(text) if text else {}


@dataclass(frozen=True, slots=True)
class Rules:
    """What the facts are judged by: the calendar, each type's limits, the dispatch limits."""

    calendar: WorkingCalendar
    limits: Mapping[str, LimitSource]
    dispatch_limit: timedelta = timedelta(minutes=30)
    dispatch_limit_urgent: timedelta = timedelta(minutes=10)


class Fact(NamedTuple):
    """One count (``counted``) or one step time (``step``, ``seconds``) on behalf of ``unit``.

    ``unit`` is the ticket's unit for ticket events and the case's lead unit at the time for
    case events ("" before the case has one). A tuple, not a dataclass: a year of an area
    makes hundreds of thousands of them, and a frozen dataclass costs twice as much to build.
    """

    at: datetime
    unit: str
    counted: str | None = None
    step: str | None = None
    seconds: float = 0.0


@dataclass(slots=True)
class CaseResult:
    facts: list[Fact]
    #: when the case had to be closed by (set once it was registered), for the due cohort
    close_due: datetime | None
    #: when that was fixed (the first dispatch, or a self-handled close)
    close_due_set: datetime | None = None


@dataclass(slots=True)
class _Ticket:
    unit: str
    role: str
    dispatched_at: datetime
    accept_due: datetime
    cycle_start: datetime
    resolve_due: datetime
    settled: bool = False  # this deadline cycle has its outcome (met or missed)


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


class _Replay:
    def __init__(
        self,
        info: CaseInfo,
        start: datetime,
        end: datetime,
        rules: Rules,
        events: Sequence[Ev],
        as_of: datetime,
    ) -> None:
        self.info, self.start, self.end, self.rules = info, start, end, rules
        self.as_of = as_of
        self.limit = rules.limits[info.event_type]
        self.events = events
        self.facts: list[Fact] = []
        self.leads: list[tuple[datetime, str]] = []  # (since, unit)
        self.tickets: dict[int, _Ticket] = {}
        self.close_due: datetime | None = None
        self.close_due_set: datetime | None = None
        self.first_closed: datetime | None = None
        self.voided: datetime | None = None
        self.resolved_at: datetime | None = None  # last time the case went to 核查

    # -- helpers

    def lead_at(self, t: datetime) -> str:
        unit = ""
        for since, u in self.leads:
            if since <= t:
                unit = u
        return unit

    def emit(
        self, ev_at: datetime, unit: str, count: str, step: str = "", seconds: float = 0
    ) -> None:
        """A count and, with ``step``, that step's time, if the event is in the range."""
        if self.start <= ev_at < self.end:
            self.facts.append(Fact(ev_at, unit, count))
            if step:
                self.facts.append(Fact(ev_at, unit, None, step, seconds))

    def in_range(self, ev_at: datetime) -> bool:
        return self.start <= ev_at < self.end

    def limit_time(self, a: datetime, b: datetime) -> float:
        """Time between a and b as the type's limits count it (working or clock time)."""
        return elapsed_seconds(a, b, self.limit.limit_unit, self.rules.calendar)

    def next_lead(self, i: int) -> str:
        """The lead unit of the tickets a case move at position i dispatches (same commit)."""
        for ev in self.events[i + 1 :]:
            if ev.type == "ticket.dispatched" and ev.data.get("role") == "lead":
                return ev.unit_id or ""
            if ev.type.startswith("case."):
                break
        return self.lead_at(self.events[i].at)

    # -- the replay

    def run(self) -> CaseResult:
        handlers = _HANDLERS
        for i, ev in enumerate(self.events):
            handler = handlers.get(ev.type)
            if handler is not None:
                handler(self, i, ev)
        self.cohort()
        return CaseResult(self.facts, self.close_due, self.close_due_set)

    def on_case_reported(self, i: int, ev: Ev) -> None:
        self.emit(ev.at, "", "cases")
        self.emit(ev.at, "", "reports")

    def on_case_report_joined(self, i: int, ev: Ev) -> None:
        self.emit(ev.at, self.lead_at(ev.at), "reports")

    def on_case_dispatched(self, i: int, ev: Ev) -> None:
        unit = self.next_lead(i)
        took = (ev.at - self.info.reported_at).total_seconds()
        limit = self.rules.dispatch_limit_urgent if self.info.urgent else self.rules.dispatch_limit
        self.emit(ev.at, unit, "registered")
        self.emit(ev.at, unit, "dispatched", "dispatch", took)
        if took <= limit.total_seconds():
            self.emit(ev.at, unit, "dispatched_on_time")

    def on_case_rejected(self, i: int, ev: Ev) -> None:
        if ev.from_status == "reported":
            self.emit(ev.at, self.lead_at(ev.at), "rejected")  # 不予立案
        else:
            self.voided = self.voided or ev.at
            self.emit(ev.at, self.lead_at(ev.at), "voided")  # 作废 after registration

    def on_case_reassigned(self, i: int, ev: Ev) -> None:
        self.emit(ev.at, self.lead_at(ev.at), "reassigned")

    def on_case_reopened(self, i: int, ev: Ev) -> None:
        self.emit(ev.at, self.lead_at(ev.at), "reopened")

    def on_case_resolved(self, i: int, ev: Ev) -> None:
        self.resolved_at = ev.at

    def on_case_reworked(self, i: int, ev: Ev) -> None:
        unit = self.lead_at(ev.at)
        self.emit(ev.at, unit, "reworked")
        self._verify_time(ev.at, unit)

    def on_case_closed(self, i: int, ev: Ev) -> None:
        total = (ev.at - self.info.reported_at).total_seconds()
        if ev.from_status == "reported":  # 自处理: registered and closed on the spot
            if self.close_due is None:
                self.close_due = self.close_due_set = ev.at
            self.emit(ev.at, "", "registered")
            self.emit(ev.at, "", "self_handled")
            self.emit(ev.at, "", "closed", "close", total)
        else:
            unit = self.lead_at(ev.at)
            self.emit(ev.at, unit, "closed", "close", total)
            self._verify_time(ev.at, unit)
        self.first_closed = self.first_closed or ev.at

    def _verify_time(self, at: datetime, unit: str) -> None:
        if self.resolved_at and self.in_range(at):
            self.facts.append(Fact(at, unit, None, "verify", self.limit_time(self.resolved_at, at)))

    def on_ticket_dispatched(self, i: int, ev: Ev) -> None:
        unit = ev.unit_id or ""
        cal = self.rules.calendar
        accept_due = _time(ev.data.get("accept_due")) or due(
            ev.at, self.limit.accept_limit, self.limit.limit_unit, cal
        )
        resolve_due = _time(ev.data.get("resolve_due")) or due(
            ev.at, self.limit.resolve_limit, self.limit.limit_unit, cal
        )
        if ev.ticket_id is not None:
            role = str(ev.data.get("role") or "")
            self.tickets[ev.ticket_id] = _Ticket(unit, role, ev.at, accept_due, ev.at, resolve_due)
        if ev.data.get("role") == "lead":
            if not self.leads:  # the case's close-by time is fixed by its first lead
                lim = self.limit
                self.close_due = due(resolve_due, lim.verify_limit, lim.limit_unit, cal)
                self.close_due_set = ev.at
            self.leads.append((ev.at, unit))
        self.emit(ev.at, unit, "tickets")

    def _ticket(self, ev: Ev) -> _Ticket | None:
        return self.tickets.get(ev.ticket_id) if ev.ticket_id is not None else None

    def on_ticket_accepted(self, i: int, ev: Ev) -> None:
        t = self._ticket(ev)
        if t is None:
            return
        if self.in_range(ev.at):  # the working time only when it counts
            self.emit(ev.at, t.unit, "accepted", "accept", self.limit_time(t.dispatched_at, ev.at))
        if ev.at <= t.accept_due:
            self.emit(ev.at, t.unit, "accepted_on_time")

    def on_ticket_returned(self, i: int, ev: Ev) -> None:
        t = self._ticket(ev)
        if t is not None:
            self.emit(ev.at, t.unit, "returned")

    def on_ticket_resolved(self, i: int, ev: Ev) -> None:
        t = self._ticket(ev)
        if t is None:
            return
        if self.in_range(ev.at):
            self.emit(ev.at, t.unit, "resolved", "resolve", self.limit_time(t.cycle_start, ev.at))
        if t.settled:
            return  # this deadline was already counted as missed when it passed
        self.emit(ev.at, t.unit, "resolved_on_time" if ev.at <= t.resolve_due else "overdue")
        t.settled = True

    def on_ticket_reworked(self, i: int, ev: Ev) -> None:
        t = self._ticket(ev)
        if t is None:
            return
        t.cycle_start = ev.at
        t.resolve_due = _time(ev.data.get("resolve_due")) or due(
            ev.at, self.limit.resolve_limit, self.limit.limit_unit, self.rules.calendar
        )
        t.settled = False

    def on_ticket_extended(self, i: int, ev: Ev) -> None:
        """延期: the deadline in force moves on (it had not passed: the workflow refuses that).

        The lead's extension moves the case's close-by time too (its new due plus the check
        limit) unless that time has passed already: the due cohort is settled then.
        """
        t = self._ticket(ev)
        if t is None:
            return
        lim, cal = self.limit, self.rules.calendar
        t.resolve_due = _time(ev.data.get("resolve_due")) or due(
            t.resolve_due, float(ev.data.get("extra") or 0), lim.limit_unit, cal
        )
        self.emit(ev.at, t.unit, "extensions")
        if t.role == "lead" and self.close_due is not None and ev.at < self.close_due:
            moved = due(t.resolve_due, lim.verify_limit, lim.limit_unit, cal)
            if moved > self.close_due:
                self.close_due, self.close_due_set = moved, ev.at

    def on_ticket_escalated(self, i: int, ev: Ev) -> None:
        t = self._ticket(ev)
        if t is None or ev.data.get("stage") != "resolve" or t.settled:
            return
        t.settled = True
        self.emit(ev.at, t.unit, "overdue")

    def cohort(self) -> None:
        """应结案 / 按期结案: the case falls due on the day of its close-by time."""
        cd = self.close_due
        if cd is None or not (self.start <= cd < self.end) or cd > self.as_of:
            return  # not due in the range, or not yet: today's figures count it once it is
        if self.voided is not None and self.voided <= cd:
            return  # voided (作废) before it fell due: nothing was due
        on_time = self.first_closed is not None and self.first_closed <= cd
        unit = self.lead_at(min(cd, self.first_closed or cd))
        self.facts.append(Fact(cd, unit, "due"))
        if on_time:
            self.facts.append(Fact(cd, unit, "closed_on_time"))


#: event type → its handler ("ticket.accepted" → ``_Replay.on_ticket_accepted``)
_HANDLERS: dict[str, Callable[[_Replay, int, Ev], None]] = {
    name[3:].replace("_", ".", 1): fn
    for name, fn in vars(_Replay).items()
    if name.startswith("on_")
}


def case_facts(
    info: CaseInfo,
    events: Sequence[Ev],
    start: datetime,
    end: datetime,
    rules: Rules,
    as_of: datetime | None = None,
) -> CaseResult:
    """The facts of one case in ``[start, end)``, from its events up to ``end`` in order.

    ``as_of`` is the time of the computation: a case whose close-by time is still ahead is
    not yet due (default: ``end``).
    """
    return _Replay(info, start, end, rules, events, as_of or end).run()
