"""Two `griddispatch serve` processes on one SQLite file, without Redis.

Each process hears the other's commits from the file itself (SqliteBus): a report to
either reaches the clients of both, all of them once and in order; a logout on one closes
that token's sockets on the other. The log poll and the periodic token check are set to
ten minutes here, so only the bus can make these tests pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from apikit import DEMO_PASSWORD
from feedkit import Collector, collect, head_now, report, started
from serverkit import RemoteApi, serving_pair

from dispatch.feed.client import FeedClient, FeedRefused
from geo import Grid

pytestmark = pytest.mark.slow

QUIET = {"GRIDDISPATCH_FEED_POLL_S": "600", "GRIDDISPATCH_FEED_REVALIDATE_S": "600"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory, nanning_grid: Grid) -> Iterator[list[RemoteApi]]:
    tmp = tmp_path_factory.mktemp("sqlite-pair")
    with serving_pair(f"sqlite:///{tmp / 'gd.sqlite'}", tmp, nanning_grid, **QUIET) as apis:
        yield apis


async def test_a_report_to_one_process_reaches_the_others_clients(pair: list[RemoteApi]) -> None:
    a, b = pair
    watcher = await Collector(b, "commander").start()
    case = await report(a, k=7001)
    await watcher.until(lambda c: any(e["case_id"] == case["id"] for e in c.events))
    kinds = {e["type"] for e in watcher.events if e["case_id"] == case["id"]}
    assert {"case.reported", "ticket.dispatched"} <= kinds
    await watcher.stop()


async def test_reports_to_both_reach_every_client_once_in_order(pair: list[RemoteApi]) -> None:
    a, b = pair
    clients = [await Collector(api, "commander").start() for api in (a, b, a, b)]
    start = head_now(a)

    def one(i: int) -> int:
        return int(pair[i % 2].report(user=f"worker{1 + i % 5}", k=7100 + i).status_code)

    with ThreadPoolExecutor(8) as pool:
        codes = await asyncio.to_thread(lambda: list(pool.map(one, range(120))))
    assert codes == [201] * 120
    end = head_now(b)
    for c in clients:
        await c.until(lambda c: bool(c.events) and c.events[-1]["seq"] >= end)
        # every event after the client's ready head, once each, in order, no gaps
        assert [s for s in c.seqs() if s <= end] == c.promised(start, end)
        await c.stop()


async def test_a_logout_on_one_process_closes_the_tokens_sockets_on_the_other(
    pair: list[RemoteApi],
) -> None:
    a, b = pair
    r = a.client.post(
        "/api/v1/auth/token", data={"username": "dispatcher", "password": DEMO_PASSWORD}
    )
    token = r.json()["access_token"]
    doomed = FeedClient(b.base_url, token)
    other = FeedClient(b.base_url, b.token("commander"))
    streams = [await started(f) for f in (doomed, other)]
    out = a.client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert out.status_code == 204
    with pytest.raises(FeedRefused) as refused:
        await collect(streams[0], 1)
    assert refused.value.code == 4401
    case = await report(a, k=7301)
    assert (await collect(streams[1], 1))[0]["case_id"] == case["id"]
    await other.close()
