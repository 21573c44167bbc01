"""Two `griddispatch serve` processes on one PostGIS database and one Redis.

A report posted to either reaches the clients of both; 1,000 reports arrive at every client
exactly once, in seq order, with no gaps; and with Redis stopped for 10 s while reports
flow, intake keeps answering and every client has every event within 2 s of Redis' return.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from feedkit import Collector, head_now
from serverkit import RedisServer, RemoteApi, serving_pair

from geo import Grid

pytestmark = [pytest.mark.postgis, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster(
    pg_url_factory: Any, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory,
    nanning_grid: Grid,
) -> Iterator[list[RemoteApi]]:  # fmt: skip
    tmp = tmp_path_factory.mktemp("cluster")
    env = {"REDIS_URL": redis_server.url, "GRIDDISPATCH_REDIS_PREFIX": f"t{uuid.uuid4().hex[:8]}"}
    with serving_pair(pg_url_factory(), tmp, nanning_grid, **env) as apis:
        yield apis


def post_reports(apis: list[RemoteApi], n: int, offset: int) -> list[int]:
    """``n`` reports spread over the processes (8 at a time); their status codes."""

    def one(i: int) -> int:
        api = apis[i % len(apis)]
        return int(api.report(user=f"worker{1 + i % 5}", k=offset + i).status_code)

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(n)))


async def test_a_report_to_one_process_reaches_the_other(cluster: list[RemoteApi]) -> None:
    a, b = cluster
    watcher = await Collector(b, "commander").start()
    r = await asyncio.to_thread(a.report, k=5000)
    assert r.status_code == 201
    await watcher.until(lambda c: any(e["case_id"] == r.json()["id"] for e in c.events))
    await watcher.stop()


async def test_a_thousand_reports_reach_every_client_once_in_order(
    cluster: list[RemoteApi],
) -> None:
    a, b = cluster
    clients = [await Collector(api, user).start()
               for api in (a, b) for user in ("commander", "dispatcher")]  # fmt: skip
    start = head_now(a)
    codes = await asyncio.to_thread(post_reports, cluster, 1000, 10_000)
    assert codes.count(201) == 1000
    end = head_now(b)
    for c in clients:
        await c.until(lambda c: c.last_seq == end, 60)
    for c in clients:
        assert c.seqs() == c.promised(start, end)
        await c.stop()
    reported = ("case.reported", "case.report_joined")
    assert sum(e["type"] in reported and e["seq"] > start for e in clients[0].events) == 1000


async def test_redis_away_for_ten_seconds_loses_nothing(
    cluster: list[RemoteApi], redis_server: RedisServer
) -> None:
    a, b = cluster
    clients = [await Collector(api, "commander").start() for api in (a, b)]
    start = head_now(a)
    codes: list[int] = []
    redis_server.stop()
    try:
        deadline = time.monotonic() + 10  # the outage lasts 10 s of steady reporting
        batch = 0
        while time.monotonic() < deadline:
            codes += await asyncio.to_thread(post_reports, cluster, 16, 20_000 + 16 * batch)
            batch += 1
    finally:
        redis_server.start()
    back = time.monotonic()
    assert codes
    assert set(codes) == {201}  # intake answered throughout
    end = head_now(a)
    for c in clients:  # within 2 s of Redis' return
        await c.until(lambda c: c.last_seq == end, max(0.0, back + 2.0 - time.monotonic()))
    for c in clients:
        assert c.seqs() == c.promised(start, end)
        await c.stop()
    for api in cluster:
        stats = api.get("commander", "/feed/stats").json()
        assert stats["bus"] == "RedisBus"
        assert stats["bus_reconnects"] >= 1  # each noticed the loss and came back
