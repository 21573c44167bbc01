"""Reading the event log for the figures: the cases of a time range and their histories.

The SQL half of the computation: :func:`facts` loads what the pure replay
(:mod:`dispatch.stats.history`) needs and hands back its facts with each case's areas.
The rollup calls it for one day over the whole city.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from dispatch.dbtypes import UTCDateTime
from dispatch.stats.figures import Tally
from dispatch.stats.history import CaseInfo, CaseResult, Ev, Fact, Rules, case_facts

K = TypeVar("K", bound=Hashable)
CHUNK = 2000  # ids per IN list (SQLite caps bound parameters)


@dataclass(frozen=True, slots=True)
class CaseArea:
    """Where a case is: its cell and the areas above it (copied onto the case at intake)."""

    cell: str
    community: str
    street: str
    district: str
    event_type: str

    def at_level(self, level: str) -> str:
        return str(getattr(self, level))


@dataclass(frozen=True, slots=True)
class Computed:
    """The facts of each case in a range, with where the case is."""

    cases: dict[int, CaseArea]
    results: dict[int, CaseResult]

    def tallies(self, key: Callable[[CaseArea, Fact], K]) -> dict[K, Tally]:
        """The facts summed per ``key(case, fact)``."""
        out: dict[K, Tally] = {}
        for cid, result in self.results.items():
            where = self.cases[cid]
            for f in result.facts:
                t = out.get(k := key(where, f))
                if t is None:
                    t = out[k] = Tally()
                if f.counted:
                    t.count(f.counted)
                if f.step:
                    t.steps[f.step].add_duration(f.seconds)
        return out


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """A local calendar day as a UTC half-open range."""
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)
    return start, end


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i : i + CHUNK])


_ACTIVE = "SELECT DISTINCT case_id FROM event_log WHERE at >= :start AND at < :end"
_FALLING_DUE = "SELECT case_id FROM stats_case_due WHERE close_due >= :start AND close_due < :end"
_EVENTS = text(
    "SELECT case_id, type, at, ticket_id, unit_id, from_status, data FROM event_log "
    "WHERE case_id IN :ids AND at < :end ORDER BY case_id, seq"
).bindparams(bindparam("ids", expanding=True), bindparam("end", type_=UTCDateTime()))
_CASES = text(
    "SELECT id, cell, community, street, district, event_type, urgent, created_at FROM cases "
    "WHERE id IN :ids"
).bindparams(bindparam("ids", expanding=True))


def like_prefix(prefix: str) -> str:
    """A LIKE pattern for codes starting with ``prefix`` (wildcards escaped)."""
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _as_utc(value: datetime | str) -> datetime:
    """A time read by raw SQL: SQLite gives naive ISO text, PostgreSQL an aware datetime."""
    t = datetime.fromisoformat(value) if isinstance(value, str) else value
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def case_ids(s: Session, start: datetime, end: datetime) -> list[int]:
    """Cases with an event in ``[start, end)`` or falling due in it."""
    times = (bindparam("start", type_=UTCDateTime()), bindparam("end", type_=UTCDateTime()))
    params: dict[str, Any] = {"start": start, "end": end}
    found: set[int] = set()
    conn = s.connection()
    for sql in (_ACTIVE, _FALLING_DUE):
        found.update(int(r[0]) for r in conn.execute(text(sql).bindparams(*times), params))
    return sorted(found)


def histories(
    s: Session, ids: Sequence[int], end: datetime
) -> tuple[dict[int, CaseInfo], dict[int, CaseArea], dict[int, list[Ev]]]:
    """Each case's fixed facts, areas and events before ``end`` in ``seq`` order."""
    infos: dict[int, CaseInfo] = {}
    areas: dict[int, CaseArea] = {}
    events: dict[int, list[Ev]] = {i: [] for i in ids}
    conn = s.connection()
    for chunk in _chunks(ids):
        for cid, cell, comm, street, district, etype, urgent, created in conn.execute(
            _CASES, {"ids": chunk}
        ).all():
            infos[cid] = CaseInfo(cid, cell, etype, bool(urgent), _as_utc(created))
            areas[cid] = CaseArea(cell, comm, street, district, etype)
        for cid, typ, at, tid, uid, from_status, data in conn.execute(
            _EVENTS, {"ids": chunk, "end": end}
        ).all():  # one fetch: row by row costs more than the replay
            events[cid].append(Ev(typ, _as_utc(at), tid, uid, from_status, Ev.parse_data(data)))
    return infos, areas, events


def facts(
    s: Session,
    rules: Rules,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> Computed:
    """The facts of ``[start, end)`` known at ``as_of`` of every case."""
    ids = case_ids(s, start, end)
    infos, areas, events = histories(s, ids, end)
    results = {
        cid: case_facts(infos[cid], events[cid], start, end, rules, as_of)
        for cid in ids
        if cid in infos
    }
    return Computed(areas, results)


def local_day(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def days(first: date, last: date) -> Iterable[date]:
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)
