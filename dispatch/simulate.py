"""Simulated city traffic against a running service, over its public HTTP API.

Grid workers report at a steady rate (event mix weighted toward Nanning's focus
problems, points inside random cells, a GPS accuracy, sometimes a GCJ-02 point as a
WeChat mini-program would send), teams accept, start and resolve their tickets with
a photo (sometimes returning one), and workers verify resolved cases (sometimes
failing the check). Used to watch the system alive and to load it.
"""

from __future__ import annotations

import asyncio
import io
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable
from dataclasses import dataclass, field

import httpx
import numpy as np
import shapely

from geo import Grid, from_wgs84

FOCUS_WEIGHT = 6.0  # a focus problem is this many times likelier than another type


@dataclass
class Stats:
    sent: Counter[str] = field(default_factory=Counter)
    status: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)

    def note(self, what: str, r: httpx.Response, dt: float) -> None:
        self.sent[what] += 1
        self.status[f"{what} {r.status_code}"] += 1
        if what == "report":
            self.latencies.append(dt)


def jpeg_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 140, 90)).save(buf, "JPEG")
    return buf.getvalue()


class Simulation:
    def __init__(self, base_url: str, password: str, grid: Grid, seed: int = 1) -> None:
        self.base = base_url.rstrip("/")
        self.password = password
        self.grid = grid
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.stats = Stats()
        self.tokens: dict[str, str] = {}
        self.photo = jpeg_bytes()

    async def login(self, c: httpx.AsyncClient, user: str) -> dict[str, str]:
        if user not in self.tokens:
            r = await c.post(
                f"{self.base}/api/v1/auth/token", data={"username": user, "password": self.password}
            )
            r.raise_for_status()
            self.tokens[user] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def random_point(self) -> tuple[float, float]:
        g = self.grid.geoms[self.np_rng.integers(len(self.grid))]
        minx, miny, maxx, maxy = g.bounds
        while True:
            x, y = self.rng.uniform(minx, maxx), self.rng.uniform(miny, maxy)
            if shapely.contains_xy(g, x, y):
                return x, y

    async def report(self, c: httpx.AsyncClient, types: list[str], weights: list[float]) -> None:
        worker = f"worker{self.rng.randint(1, 5)}"
        h = await self.login(c, worker)
        lon, lat = self.random_point()
        body: dict[str, object] = {
            "event_type": self.rng.choices(types, weights)[0],
            "lon": lon,
            "lat": lat,
            "accuracy_m": round(self.rng.uniform(3, 25), 1),
            "description": "模拟上报 simulated report",
        }
        if self.rng.random() < 0.2:  # a WeChat mini-program sends GCJ-02
            body["lon"], body["lat"] = from_wgs84(lon, lat, "gcj02")
            body["crs"] = "gcj02"
        t0 = time.perf_counter()
        r = await c.post(
            f"{self.base}/api/v1/reports",
            json=body,
            headers={**h, "Idempotency-Key": str(uuid.uuid4())},
        )
        self.stats.note("report", r, time.perf_counter() - t0)

    async def work_tickets(self, c: httpx.AsyncClient, team_users: list[str]) -> None:
        user = self.rng.choice(team_users)
        h = await self.login(c, user)
        r = await c.get(f"{self.base}/api/v1/tickets", params={"limit": 20}, headers=h)
        if r.status_code != 200:
            return
        for t in r.json().get("items", [])[:5]:
            tid, status = t["ticket_id"], t["status"]
            payload: dict[str, object]
            if status == "dispatched":
                action = "return" if self.rng.random() < 0.03 else "accept"
                payload = {"reason": "非本单位职责 not ours"} if action == "return" else {}
            elif status == "accepted":
                action, payload = "start", {}
            elif status == "in_progress":
                up = await c.post(
                    f"{self.base}/api/v1/photos",
                    headers=h,
                    files={"file": ("after.jpg", self.photo, "image/jpeg")},
                )
                self.stats.note("photo", up, 0)
                if up.status_code != 201:
                    continue
                action = "resolve"
                payload = {"note": "已处置 done", "photo_ids": [up.json()["id"]]}
            else:
                continue
            rr = await c.post(f"{self.base}/api/v1/tickets/{tid}/{action}", json=payload, headers=h)
            self.stats.note(action, rr, 0)

    async def verify(self, c: httpx.AsyncClient) -> None:
        worker = f"worker{self.rng.randint(1, 5)}"
        h = await self.login(c, worker)
        r = await c.get(
            f"{self.base}/api/v1/cases", params={"status": "verifying", "limit": 5}, headers=h
        )
        if r.status_code != 200:
            return
        for case in r.json().get("items", []):
            passed = self.rng.random() > 0.05
            body = {"passed": passed, "note": "核查通过 ok" if passed else "未整改 not fixed"}
            rr = await c.post(f"{self.base}/api/v1/cases/{case['id']}/verify", json=body, headers=h)
            self.stats.note("verify", rr, 0)

    async def _guard(self, coro: Awaitable[None]) -> None:
        """Count a failed step instead of losing it in an unretrieved task exception."""
        try:
            await coro
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            self.stats.status[f"error {type(exc).__name__}"] += 1

    async def run(self, rate: float, duration: float) -> Stats:
        async with httpx.AsyncClient(timeout=30) as c:
            h = await self.login(c, "dispatcher")
            types_resp = await c.get(f"{self.base}/api/v1/event-types", headers=h)
            types_resp.raise_for_status()
            types, weights = [], []
            for group in types_resp.json():
                for t in group["types"]:
                    types.append(t["code"])
                    weights.append(FOCUS_WEIGHT if t["focus"] else 1.0)
            units = (await c.get(f"{self.base}/api/v1/units", headers=h)).json()
            team_users = [f"team-{u['id']}" for u in units]
            for user in [*(f"worker{i}" for i in range(1, 6)), *team_users]:
                await self.login(c, user)  # up front: sign-ins are slow on purpose (Argon2)
            pending: set[asyncio.Task[None]] = set()
            start = time.perf_counter()
            n = 0
            while (elapsed := time.perf_counter() - start) < duration:
                due = int(elapsed * rate)
                while n < due:
                    n += 1
                    tasks = [self.report(c, types, weights)]
                    if n % 3 == 0:
                        tasks.append(self.work_tickets(c, team_users))
                    if n % 10 == 0:
                        tasks.append(self.verify(c))
                    for coro in tasks:
                        t = asyncio.create_task(self._guard(coro))
                        pending.add(t)
                        t.add_done_callback(pending.discard)
                await asyncio.sleep(min(0.05, 1 / max(rate, 1)))
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        return self.stats


def summary(stats: Stats, duration: float) -> str:
    lat = sorted(stats.latencies)
    lines = [f"{k:>24}: {v}" for k, v in sorted(stats.status.items())]
    if lat:

        def p(q: float) -> float:
            """The q-quantile latency in ms."""
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000

        lines.append(
            f"reports: {len(lat)} in {duration:.0f} s = {len(lat) / duration:.1f}/s; "
            f"latency p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms"
        )
    return "\n".join(lines)
