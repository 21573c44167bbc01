"""Helpers for tests of the multi-process stack behind nginx (dispatch.ops.stack).

A stack for a test, feed clients placed on known processes, and report traffic through the
proxy that retries each report with its own Idempotency-Key until it is acknowledged, as a
phone does, and keeps what every answer said. Everything awaits events or conditions.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from apikit import DEMO_PASSWORD
from feedkit import WAIT_S, Collector
from serverkit import RemoteApi

from dispatch.ops.stack import Stack
from geo import Grid

WORKERS = [f"worker{i}" for i in range(1, 6)]


def make_stack(database_url: str, redis_url: str, tmp: Path, **env: str) -> Stack:
    """Two processes behind nginx, with the tests' demo password and quiet background jobs."""
    settings = {
        "GRIDDISPATCH_DEMO_PASSWORD": DEMO_PASSWORD,
        "GRIDDISPATCH_REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "GRIDDISPATCH_PHOTO_DIR": str(tmp / "photos"),  # one folder: both processes share it
        "GRIDDISPATCH_ESCALATION_INTERVAL_S": "3600",
        "GRIDDISPATCH_STATS_INTERVAL_S": "3600",
        **env,
    }
    return Stack(database_url, tmp / "stack", redis_url=redis_url, env=settings, nginx_workers="2")


@dataclass
class Views:
    """The stack through nginx, and each process directly (to ask it about itself)."""

    proxy: RemoteApi
    direct: list[RemoteApi]

    @classmethod
    def of(cls, stack: Stack, grid: Grid) -> Views:
        return cls(RemoteApi(stack.url, grid), [RemoteApi(a.url, grid) for a in stack.apps])

    def clients_per_process(self) -> list[int]:
        return [int(api.get("commander", "/feed/stats").json()["clients"]) for api in self.direct]


@dataclass
class Placed:
    """A commander's feed client, the process it landed on, and the head it started at."""

    collector: Collector
    process: int
    start: int


async def placed_collectors(views: Views, n: int) -> list[Placed]:
    """``n`` commander feed clients connected through nginx, each with the index of the
    process it landed on (the one whose connected-clients count went up)."""
    placed = []
    for _ in range(n):
        before = await asyncio.to_thread(views.clients_per_process)
        collector = await Collector(views.proxy, "commander").start()
        after = await asyncio.to_thread(views.clients_per_process)
        (where,) = [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if a == b + 1]
        assert collector.last_seq is not None  # the head at ``ready``
        placed.append(Placed(collector, where, collector.last_seq))
    return placed


#: one per attempt: (monotonic time it was sent, status or error name, Retry-After)
Answers = list[tuple[float, str, str | None]]


def tally(answers: Answers, since: float = 0.0, until: float = float("inf")) -> Counter[str]:
    """How often each status (or error) answered the attempts sent between two times."""
    return Counter(s for t, s, _ in answers if since <= t < until)


async def post_retrying(
    http: httpx.AsyncClient, path: str, answers: Answers, deadline_s: float, **kw: Any
) -> httpx.Response:
    """POST until the answer is other than 503 or a lost connection, as a phone's queue
    does; every attempt's outcome goes to ``answers``."""
    pause = 0.05
    give_up = time.monotonic() + deadline_s
    while (sent := time.monotonic()) < give_up:
        try:
            r = await http.post(path, **kw)
        except httpx.TransportError as exc:
            answers.append((sent, type(exc).__name__, None))
        else:
            answers.append((sent, str(r.status_code), r.headers.get("retry-after")))
            if r.status_code != 503:
                return r
        await asyncio.sleep(pause)  # retry pacing, not a wait for an event
        pause = min(pause * 2, 0.5)
    raise AssertionError(f"POST {path} kept failing for {deadline_s} s")


@dataclass
class Ack:
    key: str
    user: str
    case_id: int
    report_id: int
    tickets: list[dict[str, Any]]


@dataclass
class Traffic:
    """Grid workers reporting through the proxy from ``loops`` concurrent phones.

    Each report is retried with the same key and body until a 2xx (a phone's queue), so
    every report ends acknowledged or the run fails at its deadline. ``answers`` keeps
    every attempt's outcome."""

    api: RemoteApi
    loops: int = 8
    deadline_s: float = 180.0
    acked: dict[str, Ack] = field(default_factory=dict)
    answers: Answers = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _points: list[Any] = field(default_factory=list)

    async def finish(self) -> None:
        """Stop starting reports; the ones under way go on until acknowledged."""
        async with self._changed:
            self.stop.set()
            self._changed.notify_all()

    async def wait_beyond(self, n: int) -> None:
        """Return once more than ``n`` reports are acknowledged, or the run is finishing."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.acked) > n or self.stop.is_set())

    async def run(self) -> None:
        tokens = {u: await asyncio.to_thread(self.api.token, u) for u in WORKERS}
        grid = self.api.state.grid
        cells = [i for i, code in enumerate(grid.codes) if code.startswith("4501")]
        self._points = [grid.geoms[i].point_on_surface() for i in cells[::7][:4000]]
        limits = httpx.Limits(max_connections=self.loops, max_keepalive_connections=self.loops)
        async with httpx.AsyncClient(base_url=self.api.base_url, timeout=10, limits=limits) as http:
            await asyncio.gather(*(self._phone(http, i, tokens) for i in range(self.loops)))

    async def _phone(self, http: httpx.AsyncClient, i: int, tokens: dict[str, str]) -> None:
        user = f"worker{1 + i % 5}"
        n = 0
        while not self.stop.is_set():
            p = self._points[(7919 * i + 131 * n) % len(self._points)]
            body = {"event_type": "06014", "lon": p.x, "lat": p.y, "description": "负载 load"}
            key = f"load-{i}-{n}-{uuid.uuid4().hex[:8]}"
            n += 1
            answer = await self._until_acked(http, user, tokens[user], key, body)
            ack = Ack(key, user, answer["id"], answer["report_id"], answer["units"])
            async with self._changed:
                self.acked[key] = ack
                self._changed.notify_all()

    async def _until_acked(
        self, http: httpx.AsyncClient, user: str, token: str, key: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        r = await post_retrying(
            http, "/api/v1/reports", self.answers, self.deadline_s, json=body, headers=headers
        )
        assert r.status_code in (200, 201), f"{r.status_code} {r.text}"
        answer: dict[str, Any] = r.json()
        return answer

    async def until_acked(self, n: int, timeout: float = 60.0) -> None:
        """Return once ``n`` reports in all have been acknowledged."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.acked) >= n)


def reports_in_database(dsn: str, keys: list[str]) -> dict[str, list[tuple[int, int]]]:
    """client_key → [(report id, case id)] for these keys, read straight from the database."""
    found: dict[str, list[tuple[int, int]]] = {k: [] for k in keys}
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT client_key, id, case_id FROM report WHERE client_key = ANY(%s)", (keys,)
        ).fetchall()
    for key, report_id, case_id in rows:
        found[key].append((report_id, case_id))
    return found


def assert_every_ack_committed_once(dsn: str, traffic: Traffic) -> None:
    """Each acknowledged report is in the database, exactly once, in the case it was told."""
    stored = reports_in_database(dsn, list(traffic.acked))
    for key, ack in traffic.acked.items():
        assert stored[key] == [(ack.report_id, ack.case_id)], key


async def caught_up(placed: list[Placed], head: int) -> None:
    """Every client has every event after its start up to ``head``, none missed or repeated
    (commanders see the whole city, so that is every seq)."""
    for p in placed:
        await p.collector.until(lambda c: (c.last_seq or 0) >= head, WAIT_S * 2)
    for p in placed:
        assert p.collector.seqs() == p.collector.promised(p.start, head)


def head_of(dsn: str) -> int:
    """The last committed seq, from the database."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT max(seq) FROM event_log").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


@dataclass
class Accepts:
    """Teams accepting the tickets of acknowledged new cases through the proxy, each
    retried while the answer is 503. ``accepted`` holds the tickets answered 200."""

    api: RemoteApi
    traffic: Traffic
    accepted: set[int] = field(default_factory=set)
    answers: Answers = field(default_factory=list)
    _tokens: dict[str, str] = field(default_factory=dict)

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.api.base_url, timeout=10) as http:
            seen = 0
            while True:
                acks = list(self.traffic.acked.values())
                if seen == len(acks):
                    if self.traffic.stop.is_set():
                        return
                    await self.traffic.wait_beyond(seen)
                    continue
                for ack in acks[seen:]:
                    for t in ack.tickets:
                        if t["status"] == "dispatched" and t["version"] == 1:
                            await self._accept(http, f"team-{t['unit_id']}", t["ticket_id"])
                seen = len(acks)

    async def _accept(self, http: httpx.AsyncClient, team: str, ticket_id: int) -> None:
        if team not in self._tokens:
            form = {"username": team, "password": DEMO_PASSWORD}
            r = await post_retrying(
                http, "/api/v1/auth/token", self.answers, self.traffic.deadline_s, data=form
            )
            assert r.status_code == 200, r.text
            self._tokens[team] = r.json()["access_token"]
        headers = {"Authorization": f"Bearer {self._tokens[team]}"}
        path = f"/api/v1/tickets/{ticket_id}/accept"
        r = await post_retrying(
            http, path, self.answers, self.traffic.deadline_s, json={}, headers=headers
        )
        # 409: an earlier attempt was committed although its answer was lost (a 503)
        assert r.status_code in (200, 409), r.text
        if r.status_code == 200:
            self.accepted.add(ticket_id)


def ticket_statuses(dsn: str, ids: list[int]) -> dict[int, str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT id, status FROM ticket WHERE id = ANY(%s)", (ids,)).fetchall()
    return {int(i): str(s) for i, s in rows}
