"""The fast path of intake: a whole batch of new cases in a handful of Core statements.

The ORM path (intake.write_one) costs ~5 ms a report, nearly all of it object
construction and flushes. Here the common case — a new report opening a new case —
is written with one multi-row INSERT per table for the batch. Anything unusual goes
back to the ORM path by answering ``None`` for it: a repeated key, a report that
joins an open case, a key reused by an earlier report.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from dispatch.cases.answers import answer_json
from dispatch.cases.duplicates import distance_m, duplicate_candidates
from dispatch.cases.intake import Outcome, Prepared, case_number
from dispatch.cases.models import Case, IdempotencyRecord, Report
from dispatch.cases.rawsql import Raw, driver
from dispatch.dbtypes import table_of
from dispatch.enums import CaseStatus, PhotoKind, TicketRole, TicketStatus
from dispatch.errors import DomainError, Unprocessable
from dispatch.feed.log import json_default
from dispatch.feed.models import Event
from dispatch.feed.sequence import mark, take_numbers
from dispatch.photos.models import Photo
from dispatch.state import AppState
from dispatch.tickets.deadlines import deadlines_for
from dispatch.tickets.models import Ticket


def write_fast(
    state: AppState, s: Session, batch: Sequence[Prepared]
) -> list[Outcome | DomainError | None]:
    """Write what can be written in bulk; ``None`` marks items left for the ORM path."""
    out: list[Outcome | DomainError | None] = [None] * len(batch)
    keys = {(p.principal.user_id, p.key) for p in batch}
    known = _known_keys(s, keys)
    seen: set[tuple[int, str]] = set()
    fresh: list[int] = []  # positions that open a new case here
    joins: dict[int, int] = {}  # position → the open case it joins
    placed: list[Prepared] = []
    dupes = duplicate_candidates(state, s, batch)
    for i, p in enumerate(batch):
        k = (p.principal.user_id, p.key)
        if k in known or k in seen:
            continue  # a retry: the ORM path answers it from the stored record
        seen.add(k)
        if p.body.self_handled or p.assignment is None:
            continue
        if _near(state, p, placed):
            continue  # joins a case opened in this very batch: ORM path, after the bulk
        if dupes[i]:
            if dupes[i][0] not in joins.values():  # a second join of one case: ORM path
                joins[i] = dupes[i][0]
            continue
        fresh.append(i)
        placed.append(p)
    todo = fresh + list(joins)
    if not todo:
        return out
    photo_errors = _check_photos(s, [batch[i] for i in todo])
    for n, err in photo_errors.items():
        out[todo[n]] = err
    bad = {todo[n] for n in photo_errors}
    fresh = [i for i in fresh if i not in bad]
    joins = {i: c for i, c in joins.items() if i not in bad}
    if fresh:
        for i, outcome in zip(fresh, _insert(state, s, [batch[i] for i in fresh]), strict=True):
            out[i] = outcome
    if joins:
        items = [(batch[i], c) for i, c in joins.items()]
        for i, outcome in zip(joins, _join(state, s, items), strict=True):
            out[i] = outcome
    return out


# both columns of each unique index constrained, so both are index searches (with the key
# alone, SQLite scans the whole index: a cost that grows with every report ever filed)
_KNOWN_SQL = (
    "SELECT user_id, key FROM idempotency_record WHERE user_id IN {users} AND key IN {keys} "
    "UNION ALL SELECT reporter_id, client_key FROM report "
    "WHERE reporter_id IN {users} AND client_key IN {keys}"
)


def known_keys_sql(raw: Raw, users: int, keys: int) -> str:
    """The known-keys lookup for ``users`` reporters and ``keys`` keys, as the driver runs it
    (its plan is checked in tests/integration/test_query_plans.py)."""
    return _KNOWN_SQL.format(users=raw.marks(users), keys=raw.marks(keys))


def _known_keys(s: Session, keys: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Keys already answered (or reported): two index lookups in one statement."""
    if not keys:
        return set()
    users, names = sorted({u for u, _ in keys}), sorted({k for _, k in keys})
    raw = driver(s)
    sql = known_keys_sql(raw, len(users), len(names))
    rows = raw.rows(sql, [*users, *names, *users, *names])
    return {(int(u), str(k)) for u, k in rows} & keys


def _near(state: AppState, p: Prepared, placed: list[Prepared]) -> bool:
    r = state.settings.duplicate_radius_m
    return any(
        q.event.code == p.event.code and distance_m(q.loc.lon, q.loc.lat, p.loc.lon, p.loc.lat) <= r
        for q in placed
    )


def _check_photos(s: Session, items: list[Prepared]) -> dict[int, DomainError]:
    """Every photo must be the reporter's and unattached; else that report gets a 422."""
    wanted = {pid for p in items for pid in p.body.photo_ids}
    if not wanted:
        return {}
    photo = table_of(Photo)
    query = select(photo.c.id, photo.c.uploaded_by, photo.c.case_id).where(photo.c.id.in_(wanted))
    rows = {r.id: r for r in s.connection().execute(query).all()}
    errors: dict[int, DomainError] = {}
    for n, p in enumerate(items):
        for pid in p.body.photo_ids:
            row = rows.get(pid)
            if row is None or row.uploaded_by != p.principal.user_id or row.case_id is not None:
                errors[n] = Unprocessable(f"unknown photo {pid!r}", details={"photo_id": pid})
                break
    return errors


#: every table's new ids in one round trip
_NEXT_IDS_PG_ALL = (
    "SELECT {}".format(", ".join(
        f"ARRAY(SELECT nextval(pg_get_serial_sequence('{t}', 'id')) FROM generate_series(1, %s))"
        for t in ("cases", "report", "ticket")
    ))
)  # fmt: skip
_MAX_IDS_SQLITE = (
    "SELECT (SELECT coalesce(max(id), 0) FROM cases), (SELECT coalesce(max(id), 0) FROM report),"
    " (SELECT coalesce(max(id), 0) FROM ticket)"
)


def _ids(s: Session, counts: dict[str, int]) -> dict[str, list[int]]:
    """New primary keys per table: sequences on PostgreSQL; on SQLite the writer holds the
    write lock (BEGIN IMMEDIATE), so the next ids after the current maxima are ours."""
    raw = driver(s)
    if not raw.sqlite:
        n = [counts.get(t, 0) for t in ("cases", "report", "ticket")]
        arrays = raw.rows(_NEXT_IDS_PG_ALL, n)[0]
        got = dict(zip(("cases", "report", "ticket"), arrays, strict=True))
        return {t: [int(v) for v in got[t]] for t in counts}
    found = raw.rows(_MAX_IDS_SQLITE, [])[0]
    maxima = dict(zip(("cases", "report", "ticket"), found, strict=True))
    return {t: list(range(int(maxima[t]) + 1, int(maxima[t]) + 1 + n)) for t, n in counts.items()}


def _ev(type_: str, at: datetime, **kw: Any) -> dict[str, Any]:
    data = kw.pop("data", {})
    row = {
        "type": type_,
        "at": at,
        "actor_id": None,
        "case_id": None,
        "ticket_id": None,
        "unit_id": None,
        "entity": None,
        "from_status": None,
        "to_status": None,
    }
    row.update(kw)
    row["data"] = orjson.dumps(data, default=json_default, option=orjson.OPT_UTC_Z).decode()
    return row


def _report_row(p: Prepared, rid: int, cid: int, *, joined: bool) -> dict[str, Any]:
    b, loc = p.body, p.loc
    return dict(
        id=rid, case_id=cid, reporter_id=p.principal.user_id, client_key=p.key,
        joined_existing=joined, lon=loc.lon, lat=loc.lat, input_crs=b.crs, input_lon=b.lon,
        input_lat=b.lat, accuracy_m=b.accuracy_m, description=b.description,
        captured_at=p.captured_at, received_at=p.received_at, extra=p.extra,
    )  # fmt: skip


def _record_row(p: Prepared, body: str) -> dict[str, Any]:
    return dict(
        user_id=p.principal.user_id, key=p.key, fingerprint=p.fingerprint, status_code=201,
        body=body, created_at=p.received_at,
    )  # fmt: skip


def _case_row(state: AppState, p: Prepared, cid: int) -> dict[str, Any]:
    a, b, loc, now = p.assignment, p.body, p.loc, p.received_at
    assert a is not None
    return dict(
        id=cid, case_no=case_number(cid, now, state.calendar.tz), event_type=p.event.code,
        status=CaseStatus.dispatched.value, version=1, urgent=p.event.urgent, lon=loc.lon,
        lat=loc.lat, input_crs=b.crs, input_lon=b.lon, input_lat=b.lat,
        accuracy_m=b.accuracy_m, near_edge=bool(loc.near_edge), snapped_m=loc.snapped_m,
        cell=loc.cell, community=loc.community, street=loc.street, district=loc.district,
        grid_version=state.grid_version, description=b.description,
        reporter_id=p.principal.user_id, routing_rule=f"{a.rule.event}|{a.rule.area_prefix}",
        self_handled=False, report_count=1, rework_count=0, captured_at=p.captured_at,
        created_at=now, dispatched_at=now, updated_at=now,
    )  # fmt: skip


def _write_rows(s: Session, **rows: list[dict[str, Any]]) -> None:
    """Multi-row INSERTs through Core (no ORM objects), parents first, then photo links.

    On SQLite the events take their numbers as they are inserted; elsewhere they are
    numbered at commit like any others (feed/sequence.py)."""
    conn = s.connection()
    events = rows.get("events")
    if events and conn.dialect.name == "sqlite":  # the writer holds the only write lock
        first = take_numbers(s, len(events))
        for n, ev in enumerate(events):
            ev["seq"] = first + n
    elif events:
        mark(s)
    tables = {"cases": Case, "reports": Report, "tickets": Ticket, "events": Event,
              "records": IdempotencyRecord}  # fmt: skip
    driver(s).insert((table_of(model), rows.get(name, [])) for name, model in tables.items())
    if rows.get("photo_links"):
        photo = table_of(Photo)
        conn.execute(
            update(photo)
            .where(photo.c.id == bindparam("pid"), photo.c.case_id.is_(None))
            .values(case_id=bindparam("cid"), kind=PhotoKind.report.value),
            rows["photo_links"],
        )


def _insert(state: AppState, s: Session, items: list[Prepared]) -> list[Outcome]:
    """New cases, dispatched at once: case, report, tickets, events, record per item."""
    n_tickets = sum(1 + len(p.assignment.support) for p in items if p.assignment)
    ids = _ids(s, {"cases": len(items), "report": len(items), "ticket": n_tickets})
    ticket_ids = iter(ids["ticket"])
    rows: dict[str, list[dict[str, Any]]] = {
        k: [] for k in ("cases", "reports", "tickets", "events", "records", "photo_links")
    }
    outcomes = []
    for p, cid, rid in zip(items, ids["cases"], ids["report"], strict=True):
        a, now, uid = p.assignment, p.received_at, p.principal.user_id
        assert a is not None
        case = _case_row(state, p, cid)
        rows["cases"].append(case)
        rows["reports"].append(_report_row(p, rid, cid, joined=False))
        rows["events"] += [
            _ev("case.reported", now, actor_id=uid, case_id=cid, entity="case",
                from_status="", to_status="reported",
                data={"cell": p.loc.cell, "event_type": p.event.code}),
            _ev("case.dispatched", now, case_id=cid, entity="case", from_status="reported",
                to_status="dispatched", data={"auto": True}),
        ]  # fmt: skip
        accept_due, resolve_due = deadlines_for(p.event, now, state.calendar)
        mine = [
            dict(id=next(ticket_ids), case_id=cid, unit_id=unit, role=role.value,
                 status=TicketStatus.dispatched.value, version=1, dispatched_at=now,
                 accept_due=accept_due, resolve_due=resolve_due, rework_count=0,
                 updated_at=now)
            for unit, role in [(a.lead, TicketRole.lead),
                               *((u, TicketRole.support) for u in a.support)]
        ]  # fmt: skip
        rows["tickets"] += mine
        rows["events"] += [
            _ev("ticket.dispatched", now, case_id=cid, ticket_id=t["id"], unit_id=t["unit_id"],
                entity="ticket", from_status="", to_status="dispatched",
                data={"role": t["role"], "accept_due": accept_due, "resolve_due": resolve_due})
            for t in mine
        ]  # fmt: skip
        rows["photo_links"] += [{"pid": pid, "cid": cid} for pid in p.body.photo_ids]
        body = answer_json(state, case, mine, report_id=rid, joined=False,
                           photo_ids=list(p.body.photo_ids), now=now)  # fmt: skip
        rows["records"].append(_record_row(p, body))
        outcomes.append(Outcome(201, body, False))
    _write_rows(s, **rows)
    return outcomes


def _join(state: AppState, s: Session, items: list[tuple[Prepared, int]]) -> list[Outcome]:
    """Reports that join an open case (one each): count them in, keep their own details."""
    conn = s.connection()
    rids = _ids(s, {"report": len(items)})["report"]
    cases_t, tickets_t = table_of(Case), table_of(Ticket)
    now = max(p.received_at for p, _ in items)
    conn.execute(
        update(cases_t)
        .where(cases_t.c.id == bindparam("cid"))
        .values(
            report_count=cases_t.c.report_count + 1,
            version=cases_t.c.version + 1,
            updated_at=bindparam("now"),
        ),
        [{"cid": c, "now": p.received_at} for p, c in items],
    )
    ids = [c for _, c in items]
    cases = {
        r["id"]: dict(r)
        for r in conn.execute(select(cases_t).where(cases_t.c.id.in_(ids))).mappings()
    }
    tickets: dict[int, list[dict[str, Any]]] = {c: [] for c in ids}
    for r in conn.execute(
        select(tickets_t).where(tickets_t.c.case_id.in_(ids)).order_by(tickets_t.c.id)
    ).mappings():
        tickets[r["case_id"]].append(dict(r))
    reports, events, records, outcomes, links = [], [], [], [], []
    for (p, cid), rid in zip(items, rids, strict=True):
        reports.append(_report_row(p, rid, cid, joined=True))
        events.append(
            _ev(
                "case.report_joined",
                p.received_at,
                actor_id=p.principal.user_id,
                case_id=cid,
                data={"report_id": rid, "count": cases[cid]["report_count"]},
            )
        )
        links += [{"pid": pid, "cid": cid} for pid in p.body.photo_ids]
        body = answer_json(
            state,
            cases[cid],
            tickets[cid],
            report_id=rid,
            joined=True,
            photo_ids=list(p.body.photo_ids),
            now=now,
        )
        records.append(_record_row(p, body))
        outcomes.append(Outcome(201, body, False, joined=True))
    _write_rows(s, reports=reports, events=events, records=records, photo_links=links)
    return outcomes
