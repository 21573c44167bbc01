"""The live feed over a real socket, on a served app (SQLite, in-process bus).

Protocol (docs/api.md): auth as the first message, ``ready``, replay from ``since``, live
events, heartbeats, ``resync`` when too far behind, close codes for refusals.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
import websockets
from serverkit import AppServer, RemoteApi
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dispatch.feed.client import FeedClient, FeedRefused
from geo import Grid

WAIT_S = 20.0  # the most any awaited event may take before the test fails


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, nanning_grid: Grid) -> Iterator[RemoteApi]:
    tmp = tmp_path_factory.mktemp("feed-socket")
    server = AppServer(
        f"sqlite:///{tmp / 'gd.sqlite'}",
        tmp,
        GRIDDISPATCH_FEED_HEARTBEAT_S="0.3",
        GRIDDISPATCH_FEED_AUTH_TIMEOUT_S="1",
        GRIDDISPATCH_FEED_ORIGINS='["http://allowed.example"]',
        GRIDDISPATCH_FEED_REPLAY_MAX="2000",
    ).start()
    try:
        yield RemoteApi(server.url, nanning_grid)
    finally:
        server.stop()


def ws_url(api: RemoteApi, since: int | None = None) -> str:
    url = "ws" + api.base_url.removeprefix("http") + "/api/v1/feed"
    return url if since is None else f"{url}?since={since}"


async def take(feed: FeedClient, n: int) -> list[dict[str, Any]]:
    """The next ``n`` events of a running client."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT_S):
        async for ev in feed:
            got.append(ev)
            if len(got) == n:
                return got
    return got


@pytest.fixture
async def commander(served: RemoteApi) -> AsyncIterator[FeedClient]:
    async with FeedClient(served.base_url, served.token("commander")) as feed:
        yield feed


async def started(feed: FeedClient) -> AsyncIterator[dict[str, Any]]:
    """Start iterating and wait until the server has said ``ready``."""
    it = feed.events()
    first = asyncio.ensure_future(anext(it))
    async with asyncio.timeout(WAIT_S):
        await feed.ready.wait()
    return _chain(first, it)


async def _chain(first: Any, rest: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    yield await first
    async for ev in rest:
        yield ev


async def collect(it: AsyncIterator[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT_S):
        while len(got) < n:
            got.append(await anext(it))
    return got


async def report(api: RemoteApi, **kw: Any) -> dict[str, Any]:
    r = await asyncio.to_thread(api.report, **kw)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


# --- refusals -------------------------------------------------------------------------


async def test_a_bad_token_is_refused_with_4401(served: RemoteApi) -> None:
    with pytest.raises(FeedRefused) as refused:
        async for _ in FeedClient(served.base_url, "not-a-token"):
            pass
    assert refused.value.code == 4401


async def test_no_auth_message_in_time_closes_4408(served: RemoteApi) -> None:
    async with websockets.connect(ws_url(served)) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT_S)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4408


async def test_a_token_in_the_url_is_not_accepted(served: RemoteApi) -> None:
    url = ws_url(served) + "?token=" + served.token("commander")
    async with websockets.connect(url) as ws:
        await ws.send(orjson.dumps({"type": "hello"}).decode())
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT_S)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_a_foreign_origin_is_refused_and_a_listed_one_served(served: RemoteApi) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(ws_url(served), origin="http://evil.example"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    for origin in ("http://allowed.example", served.base_url):
        feed = FeedClient(served.base_url, served.token("commander"), origin=origin)
        await started(feed)
        assert feed.head is not None
        await feed.close()


# --- events ---------------------------------------------------------------------------


async def test_a_report_reaches_the_command_center_with_its_case(served: RemoteApi) -> None:
    feed = FeedClient(served.base_url, served.token("commander"))
    events = await started(feed)
    case = await report(served)
    got = await collect(events, 1 + len(case["units"]) + 1)
    await feed.close()
    types = [e["type"] for e in got]
    assert types[0] == "case.reported"
    assert "case.dispatched" in types
    assert types.count("ticket.dispatched") == len(case["units"])
    seqs = [e["seq"] for e in got]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # gapless, in order
    first = got[0]
    assert first["case_id"] == case["id"]
    assert first["case"]["case_no"] == case["case_no"]
    assert first["case"]["district"] == case["location"]["district"]
    assert isinstance(first["case"]["lon"], float)
    assert first["at"].endswith("Z")
    tickets = [e for e in got if e["type"] == "ticket.dispatched"]
    assert {e["ticket"]["unit_id"] for e in tickets} == {u["unit_id"] for u in case["units"]}


async def test_heartbeats_arrive_while_idle(served: RemoteApi) -> None:
    async with websockets.connect(ws_url(served)) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": served.token("commander")}).decode())
        ready = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        beat = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
    assert ready["type"] == "ready"
    assert "seq" not in ready
    assert beat == {"type": "heartbeat", "head": beat["head"]}
