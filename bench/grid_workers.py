"""The grid workers and teams of bench/load.py: child processes posting reports, accepts,
after-photos and resolves through aiohttp, open loop, each timing its own answers.

Why aiohttp and not httpx: httpcore's pool checks every connection for every request, so
once requests queue (exactly when the stack is being saturated) the loader spent more CPU
than an app process on the same two cores (0.5 of a core at 40 reports/s).

A report starts on time whether or not earlier ones have answered (at most
``max_inflight`` reports under way; the rest are counted as not started); for
``team_share`` of the new tickets the unit's team accepts 1–4 s later, then uploads an
after-photo and resolves 1–4 s after that. Grid workers and teams are different phones:
they have connection pools of their own, and the teams' moves never count against the
reports' ``max_inflight`` (until 2026-12-07 they did, so a run whose teams fell behind
stopped starting reports and reported the server as refusing them).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import uvloop

from dispatch.simulate import jpeg_bytes

OPS = ("report", "accept", "photo", "resolve")


@dataclass
class Plan:
    """What a loader process does; the same for every loader but its seed and rate."""

    base: str
    tokens: dict[str, str]
    points: list[tuple[float, float]]
    types: list[str]
    weights: list[float]
    rate: float
    team_share: float
    max_inflight: int
    seed: int


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # the JSON answer, None if it was not JSON


@dataclass
class Ops:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPS})
    answers: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: int = 0  # reports not started because max_inflight reports were under way


class Loader:
    def __init__(
        self,
        plan: Plan,
        workers: aiohttp.ClientSession,
        teams: aiohttp.ClientSession,
        window: tuple[float, float],
    ) -> None:
        self.plan, self.workers, self.teams = plan, workers, teams
        self.start, self.end = window
        self.rng = random.Random(plan.seed)
        self.ops = Ops()
        self.tasks: set[asyncio.Task[None]] = set()
        self.reporting: set[asyncio.Task[None]] = set()  # the reports under way
        self.photo = jpeg_bytes()

    def spawn(self, make: Any, *args: Any) -> asyncio.Task[None] | None:
        """Start ``make(*args)`` as a task, unless the run is over."""
        if time.time() >= self.end:
            return None
        task = asyncio.create_task(make(*args))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def call(self, op: str, path: str, token: str, **kw: Any) -> Answer | None:
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        http = self.workers if op == "report" else self.teams
        sent = time.time()
        t0 = time.perf_counter()
        try:
            async with http.post(path, headers=headers, **kw) as r:
                raw = await r.read()
                body = orjson.loads(raw) if r.content_type == "application/json" else None
                answer = Answer(r.status, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome, answer = type(exc).__name__, None
        else:
            outcome = str(answer.status)
        if self.start <= sent < self.end:
            self.ops.latencies[op].append(time.perf_counter() - t0)
            self.ops.answers[(op, outcome)] += 1
        return answer

    async def report(self) -> None:
        p, rng = self.plan, self.rng
        lon, lat = p.points[rng.randrange(len(p.points))]
        body = {
            "event_type": rng.choices(p.types, p.weights)[0],
            "lon": lon,
            "lat": lat,
            "accuracy_m": 8,
            "description": "压测 load test",
        }
        token = p.tokens[f"worker{rng.randint(1, 5)}"]
        r = await self.call(
            "report",
            "/api/v1/reports",
            token,
            json=body,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if r is None or r.status != 201 or r.body["joined_existing"]:
            return
        loop = asyncio.get_running_loop()
        for t in r.body["units"]:
            if t["status"] == "dispatched" and rng.random() < p.team_share:
                loop.call_later(rng.uniform(1, 4), self.spawn, self.team, t)

    async def team(self, ticket: dict[str, Any]) -> None:
        """A team accepts, goes on site for a moment, then resolves with an after-photo."""
        token = self.plan.tokens.get(f"team-{ticket['unit_id']}")
        if token is None:
            return
        path = f"/api/v1/tickets/{ticket['ticket_id']}"
        r = await self.call("accept", f"{path}/accept", token, json={"version": ticket["version"]})
        if r is None or r.status != 200:
            return
        await asyncio.sleep(self.rng.uniform(1, 4))  # on site (simulated time, not a wait)
        form = aiohttp.FormData()
        form.add_field("file", self.photo, filename="after.jpg", content_type="image/jpeg")
        up = await self.call("photo", "/api/v1/photos", token, data=form)
        if up is None or up.status != 201:
            return
        note, photos = "已处置 done", [up.body["id"]]
        body = {"version": r.body["version"], "note": note, "photo_ids": photos}
        await self.call("resolve", f"{path}/resolve", token, json=body)

    async def run(self) -> Ops:
        began, n = time.time(), 0
        while (now := time.time()) < self.end:
            due = int((now - began) * self.plan.rate)
            while n < due:
                n += 1
                if len(self.reporting) >= self.plan.max_inflight:
                    self.ops.skipped += now >= self.start
                    continue
                if task := self.spawn(self.report):
                    self.reporting.add(task)
                    task.add_done_callback(self.reporting.discard)
            await asyncio.sleep(0.002)  # the open loop's tick
        if self.tasks:  # answers still due for requests sent in the window
            await asyncio.wait(list(self.tasks), timeout=15)
        for task in list(self.tasks):
            task.cancel()
        return self.ops


def loader_proc(plan: Plan, conn: Any) -> None:
    async def main() -> None:
        # nginx keeps the connections alive; a few hundred are plenty
        def session() -> aiohttp.ClientSession:
            connector = aiohttp.TCPConnector(limit=min(plan.max_inflight, 256))
            timeout = aiohttp.ClientTimeout(total=30)
            return aiohttp.ClientSession(
                plan.base, connector=connector, timeout=timeout, json_serialize=_json
            )

        async with session() as workers, session() as teams:
            conn.send("ready")
            window = await asyncio.to_thread(conn.recv)
            ops = await Loader(plan, workers, teams, window).run()
        conn.send(ops)

    uvloop.run(main())


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()
