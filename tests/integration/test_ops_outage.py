"""The database or Redis away, for real: a served app on a PostgreSQL and a Redis of the
test's own, each stopped and started again.

While PostgreSQL is down every request that needs it answers 503 with Retry-After (never
500, never a hang): readiness names the database, reports are not written and say so,
reads and sign-ins too, and feed sockets that must read the log close with 1013 (try
again later), while one already connected stays. Nothing answered 503 was written: after
the restart the same Idempotency-Key opens its case then, and the open socket gets it.
While Redis is down only readiness says so: reports, reads and sign-ins go on.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest
import websockets
from apikit import DEMO_PASSWORD
from feedkit import Collector
from serverkit import AppServer, RedisServer, RemoteApi
from websockets.exceptions import ConnectionClosed

from dispatch.ops.launch import PostgresServer
from geo import Grid

pytestmark = [pytest.mark.postgis, pytest.mark.slow]

#: how long Redis may take to be seen again (its client reconnects by itself)
BACK_WITHIN_S = 20.0


@pytest.fixture(scope="module")
def api(
    postgres: PostgresServer, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
    nanning_grid: Grid,
) -> Iterator[RemoteApi]:  # fmt: skip
    url = postgres.create_database("outage")
    env = {
        "REDIS_URL": redis_server.url,
        "GRIDDISPATCH_REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}",
        "GRIDDISPATCH_DB_CONNECT_TIMEOUT_S": "2",
        "GRIDDISPATCH_METRICS_CACHE_S": "0",
    }
    server = AppServer(url, tmp_path_factory.mktemp("outage"), **env).start()
    try:
        yield RemoteApi(server.url, nanning_grid)
    finally:
        server.stop()


def ready(api: RemoteApi) -> httpx.Response:
    return api.client.get("/readyz")


def metric(api: RemoteApi, name: str) -> float:
    for line in api.client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) > 0


async def feed_close_code(api: RemoteApi, token: str, since: int | None) -> int | None:
    url = "ws" + api.base_url.removeprefix("http") + "/api/v1/feed"
    if since is not None:
        url += f"?since={since}"
    async with websockets.connect(url, open_timeout=10) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
        try:
            async with asyncio.timeout(20):
                async for _ in ws:
                    pass
        except ConnectionClosed:
            pass
        return ws.close_code


def test_ready_with_database_redis_and_grid(api: RemoteApi) -> None:
    r = ready(api)
    assert r.status_code == 200, r.text
    checks = r.json()["checks"]
    assert set(checks) == {"database", "redis", "grid"}
    assert all(c["ok"] for c in checks.values())
    assert checks["grid"]["cells"] == len(api.state.grid)


async def test_database_away_answers_503_and_writes_nothing(
    api: RemoteApi, postgres: PostgresServer
) -> None:
    watcher = await Collector(api, "commander").start()
    before = await asyncio.to_thread(api.report, k=11)
    assert before.status_code == 201
    # the hub has read it: a socket resuming from 0 must read the log
    await watcher.until(lambda c: any(e["case_id"] == before.json()["id"] for e in c.events))
    worker = api.token("worker1")  # checked just now: this process has it cached
    keys = [str(uuid.uuid4()) for _ in range(4)]
    postgres.stop()
    answers: list[httpx.Response] = []
    try:
        r = ready(api)
        assert_unavailable(r)
        assert r.json()["error"]["details"]["failing"] == ["database"]
        assert api.client.get("/healthz").status_code == 200  # the process itself is fine
        answers += [api.report(key=key, k=20 + i) for i, key in enumerate(keys)]
        answers.append(api.get("worker1", "/cases"))
        answers.append(api.get("worker1", "/feed/snapshot"))
        answers.append(
            api.client.post(
                "/api/v1/auth/token", data={"username": "worker2", "password": DEMO_PASSWORD}
            )
        )
        for r in answers:
            assert_unavailable(r)
            assert r.json()["error"]["code"] == "unavailable"
        # sockets: a replay from the log (cached token), a token nobody has checked yet
        assert await feed_close_code(api, worker, since=0) == 1013
        assert await feed_close_code(api, "never-checked-token", since=None) == 1013
        assert metric(api, "griddispatch_database_up") == 0
    finally:
        postgres.start()
    assert ready(api).status_code == 200  # pg_ctl start returned: it takes connections
    again = [api.report(key=key, k=20 + i) for i, key in enumerate(keys)]
    assert [r.status_code for r in again] == [201] * 4
    assert not any("Idempotent-Replayed" in r.headers for r in again)  # written only now
    assert api.get("dispatcher", "/cases", limit=100).json()["total"] == 1 + len(keys)
    opened = {r.json()["id"] for r in again}  # the socket that stayed open sees them
    await watcher.until(lambda c: opened <= {e["case_id"] for e in c.events})
    await watcher.stop()


def test_redis_away_stops_only_readiness(api: RemoteApi, redis_server: RedisServer) -> None:
    redis_server.stop()
    try:
        r = ready(api)
        assert_unavailable(r)
        assert r.json()["error"]["details"]["failing"] == ["redis"]
        assert api.report(k=40).status_code == 201
        assert api.get("commander", "/cases").status_code == 200
        signed_in = api.client.post(
            "/api/v1/auth/token", data={"username": "worker3", "password": DEMO_PASSWORD}
        )
        assert signed_in.status_code == 200
    finally:
        redis_server.start()
    deadline = time.monotonic() + BACK_WITHIN_S  # no event tells when its client reconnects
    while ready(api).status_code != 200 or metric(api, "griddispatch_feed_bus_healthy") != 1:
        assert time.monotonic() < deadline, ready(api).text
    assert metric(api, "griddispatch_feed_bus_reconnects_total") >= 1
