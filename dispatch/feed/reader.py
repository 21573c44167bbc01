"""Reading the event log for the feed: events after a position, with what filtering needs.

One read serves every connection of a process: each event is encoded to its wire text
once, and carries the facts the role filter needs (:class:`Audience` in
:mod:`dispatch.feed.audience`): the case's reporter and cell and the units that hold a
ticket on it. ``case`` and ``ticket`` in a message are the *current* summaries; ``from`` /
``to`` and ``data`` are the change itself, as it was logged.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import orjson
from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection, RowMapping

from dispatch.auth.principal import Principal
from dispatch.cases.models import Case
from dispatch.cases.queries import visibility
from dispatch.dbtypes import table_of
from dispatch.feed.log import json_default
from dispatch.feed.models import Event
from dispatch.feed.sequence import read_head
from dispatch.tickets.models import Ticket

CASE_FIELDS = (
    "id", "case_no", "status", "event_type", "urgent", "lon", "lat", "cell", "community",
    "street", "district", "reporter_id", "report_count", "rework_count", "created_at",
    "updated_at", "verify_due",
)  # fmt: skip
TICKET_FIELDS = (
    "id", "case_id", "unit_id", "team_id", "role", "status", "accept_due", "resolve_due",
    "rework_count",
)  # fmt: skip
#: the case statuses a snapshot leaves out: nothing more will happen to them on the map
DONE_CASE = ("closed", "rejected")

_EVENT = table_of(Event)
_CASE = table_of(Case)
_TICKET = table_of(Ticket)
_EVENT_COLS = [
    _EVENT.c[n]
    for n in ("seq", "type", "at", "actor_id", "case_id", "ticket_id", "unit_id", "from_status",
              "to_status", "data")
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class FeedEvent:
    """One logged event, ready to send: ``text`` is the whole JSON message."""

    seq: int
    text: str
    case_id: int | None
    ticket_id: int | None
    unit_id: str | None
    reporter_id: int | None
    cell: str | None
    case_units: frozenset[str]


def _dump(value: Any) -> str:
    return orjson.dumps(value, default=json_default, option=orjson.OPT_UTC_Z).decode()


def _row(fields: Iterable[str], row: RowMapping) -> dict[str, Any]:
    return {f: (v.value if isinstance(v, Enum) else v) for f in fields for v in (row[f],)}


def summaries(
    conn: Connection, case_ids: Iterable[int]
) -> tuple[dict[int, dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """Current case summaries and their tickets, by case id."""
    ids = sorted(set(case_ids))
    if not ids:
        return {}, {}
    query = select(*(_CASE.c[f] for f in CASE_FIELDS)).where(_CASE.c.id.in_(ids))
    cases = {r["id"]: _row(CASE_FIELDS, r) for r in conn.execute(query).mappings()}
    tickets: dict[int, list[dict[str, Any]]] = defaultdict(list)
    query = select(*(_TICKET.c[f] for f in TICKET_FIELDS)).where(_TICKET.c.case_id.in_(ids))
    for r in conn.execute(query.order_by(_TICKET.c.id)).mappings():
        tickets[r["case_id"]].append(_row(TICKET_FIELDS, r))
    return cases, tickets


def read_events(conn: Connection, after: int, upto: int, limit: int) -> list[FeedEvent]:
    """Events with ``after < seq <= upto`` in seq order, at most ``limit``."""
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        return _build(*_fetch_pg(conn.connection.dbapi_connection, after, upto, limit))
    return _build(*_fetch(conn, after, upto, limit))


Fetched = tuple[list[dict[str, Any]], dict[int, dict[str, Any]], dict[int, list[dict[str, Any]]]]


def _fetch(conn: Connection, after: int, upto: int, limit: int) -> Fetched:
    """The page, its cases and their tickets, through SQLAlchemy (three round trips)."""
    query = (
        select(*_EVENT_COLS)
        .where(_EVENT.c.seq > after, _EVENT.c.seq <= upto)
        .order_by(_EVENT.c.seq)
        .limit(limit)
    )
    rows = [dict(r) for r in conn.execute(query).mappings()]
    cases, tickets = summaries(conn, (r["case_id"] for r in rows if r["case_id"] is not None))
    return rows, cases, tickets


_EVENT_FIELDS = (
    "seq", "type", "at", "actor_id", "case_id", "ticket_id", "unit_id", "from_status",
    "to_status", "data",
)  # fmt: skip
_PAGE_PG = "SELECT {} FROM event_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
_PAGE_CASES_PG = (
    "SELECT case_id FROM (" + _PAGE_PG.format("case_id") + ") AS page WHERE case_id IS NOT NULL"
)
_EVENTS_PG = _PAGE_PG.format(", ".join(_EVENT_FIELDS))
_CASES_PG = f"SELECT {', '.join(CASE_FIELDS)} FROM cases WHERE id IN ({_PAGE_CASES_PG})"
_TICKETS_PG = (
    f"SELECT {', '.join(TICKET_FIELDS)} FROM ticket WHERE case_id IN ({_PAGE_CASES_PG}) ORDER BY id"
)


def _fetch_pg(raw: Any, after: int, upto: int, limit: int) -> Fetched:
    """The page, its cases and their tickets in one round trip (a psycopg pipeline): the
    hub of every process reads every event, and each round trip is a wait for the
    interpreter once the answer is in."""
    from psycopg import RawCursor

    params = (after, upto, limit)
    with contextlib.ExitStack() as closing, raw.pipeline():
        cursors = [closing.enter_context(RawCursor(raw)) for _ in range(3)]
        for cur, sql in zip(cursors, (_EVENTS_PG, _CASES_PG, _TICKETS_PG), strict=True):
            cur.execute(sql, params, prepare=True)
        fetched = [cur.fetchall() for cur in cursors]
    rows = [_utc(dict(zip(_EVENT_FIELDS, r, strict=True))) for r in fetched[0]]
    cases = {r[0]: _utc(dict(zip(CASE_FIELDS, r, strict=True))) for r in fetched[1]}
    tickets: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in fetched[2]:
        t = _utc(dict(zip(TICKET_FIELDS, r, strict=True)))
        tickets[t["case_id"]].append(t)
    return rows, cases, tickets


def _utc(row: dict[str, Any]) -> dict[str, Any]:
    """Timestamps in UTC, as UTCDateTime reads them (the driver gives the session's zone)."""
    for k, v in row.items():
        if isinstance(v, datetime):
            row[k] = v.astimezone(UTC)
    return row


def _build(
    rows: list[dict[str, Any]],
    cases: dict[int, dict[str, Any]],
    tickets: dict[int, list[dict[str, Any]]],
) -> list[FeedEvent]:
    out = []
    for r in rows:
        case = cases.get(r["case_id"]) if r["case_id"] is not None else None
        case_tickets = tickets.get(r["case_id"], []) if r["case_id"] is not None else []
        message: dict[str, Any] = {
            "seq": r["seq"],
            "type": r["type"],
            "at": r["at"],
            "case_id": r["case_id"],
            "ticket_id": r["ticket_id"],
            "unit_id": r["unit_id"],
            "actor_id": r["actor_id"],
            "from": r["from_status"] or None,
            "to": r["to_status"],
            "data": orjson.loads(r["data"] or "{}"),
            "case": case,
        }
        if r["ticket_id"] is not None:
            message["ticket"] = next((t for t in case_tickets if t["id"] == r["ticket_id"]), None)
        out.append(
            FeedEvent(
                seq=int(r["seq"]),
                text=_dump(message),
                case_id=r["case_id"],
                ticket_id=r["ticket_id"],
                unit_id=r["unit_id"],
                reporter_id=case["reporter_id"] if case else None,
                cell=case["cell"] if case else None,
                case_units=frozenset(t["unit_id"] for t in case_tickets),
            )
        )
    return out


def head(engine: Engine) -> int:
    with engine.connect() as conn:
        return read_head(conn)


def events_after(engine: Engine, after: int, upto: int, limit: int) -> list[FeedEvent]:
    with engine.connect() as conn:
        return read_events(conn, after, upto, limit)


def open_cases(engine: Engine, principal: Principal) -> tuple[int, list[dict[str, Any]]]:
    """The open cases the caller may see, each with the tickets they may see, and the
    ``seq`` they are current as of.

    One read transaction (REPEATABLE READ on PostgreSQL; a SQLite read transaction is a
    snapshot already), so no change is both in the list and after the returned seq."""
    query = select(*(_CASE.c[f] for f in CASE_FIELDS)).where(_CASE.c.status.notin_(DONE_CASE))
    scope = visibility(principal)
    if scope is not None:
        query = query.where(scope)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            seq = read_head(conn)
            cases = [
                _row(CASE_FIELDS, r) for r in conn.execute(query.order_by(_CASE.c.id)).mappings()
            ]
            _, tickets = summaries(conn, (c["id"] for c in cases))
    for case in cases:
        case["tickets"] = [
            t for t in tickets.get(case["id"], []) if principal.may_see_ticket(unit_id=t["unit_id"])
        ]
    return seq, cases
