"""The feed's limits: a slow client is dropped without slowing the others; a client too far
behind is told to resync; a team never sees another unit's tickets over a whole simulated run.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import websockets
from apikit import DEMO_PASSWORD
from feedkit import WAIT_S, Collector, collect, head_now, report, started, ws_url
from serverkit import AppServer, RemoteApi
from websockets.exceptions import ConnectionClosed

from dispatch.feed.client import FeedClient
from dispatch.simulate import Simulation
from geo import Grid

QUEUE_MAX = 50
BACKLOG_MAX = 20_000  # bytes: a live socket's limit, about 20 events


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, nanning_grid: Grid) -> Iterator[RemoteApi]:
    tmp = tmp_path_factory.mktemp("feed-limits")
    server = AppServer(
        f"sqlite:///{tmp / 'gd.sqlite'}",
        tmp,
        GRIDDISPATCH_FEED_QUEUE_MAX=str(QUEUE_MAX),
        GRIDDISPATCH_FEED_BACKLOG_MAX=str(BACKLOG_MAX),
        GRIDDISPATCH_FEED_REPLAY_MAX="5",
    ).start()
    try:
        yield RemoteApi(server.url, nanning_grid)
    finally:
        server.stop()


def feed_stats(api: RemoteApi) -> dict[str, Any]:
    r = api.get("commander", "/feed/stats")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def read_to_the_end(ws: Any) -> None:
    while True:
        await ws.recv()


async def test_a_slow_client_is_dropped_and_the_others_miss_nothing(served: RemoteApi) -> None:
    # a client that reads nothing, with a tiny receive window so the server's sends back up
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", int(served.base_url.rsplit(":", 1)[1])))
    slow = await websockets.connect(ws_url(served), sock=sock, max_queue=1, compression=None)
    await slow.send(orjson.dumps({"type": "auth", "token": served.token("commander")}).decode())
    fast = FeedClient(served.base_url, served.token("dispatcher"))
    events = await started(fast)
    start = fast.last_seq
    assert start is not None
    stats = feed_stats(served)
    assert stats["wired"] >= 1  # live sockets are written to directly (dispatch/feed/wire.py)
    dropped_before = stats["dropped_slow"]
    for n in range(2000):
        await report(served, k=n)
        if feed_stats(served)["dropped_slow"] > dropped_before:
            break
    else:
        pytest.fail("the slow client was never dropped")
    head = head_now(served)
    got = await collect(events, head - start)
    assert [e["seq"] for e in got] == list(range(start + 1, head + 1))
    await fast.close()
    # the slow one finds, after what was buffered, that it was closed
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(read_to_the_end(slow), WAIT_S)
    assert closed.value.rcvd is None or closed.value.rcvd.code == 4409
    assert feed_stats(served)["clients"] == 0


async def test_a_client_too_far_behind_is_told_to_resync(served: RemoteApi) -> None:
    while head_now(served) < 10:
        await report(served, k=head_now(served))
    head = head_now(served)
    async with websockets.connect(ws_url(served, since=head - 6)) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": served.token("commander")}).decode())
        ready = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        said = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
    assert ready["type"] == "ready"
    assert said["type"] == "resync"
    async with websockets.connect(ws_url(served, since=head - 5)) as ws:  # just within reach
        await ws.send(orjson.dumps({"type": "auth", "token": served.token("commander")}).decode())
        await asyncio.wait_for(ws.recv(), WAIT_S)
        replayed = [orjson.loads(await asyncio.wait_for(ws.recv(), WAIT_S)) for _ in range(5)]
    assert [e["seq"] for e in replayed] == list(range(head - 4, head + 1))


UNIT = "450103-cgzf"  # 青秀区城管: the lead unit of many of the simulated reports


async def test_a_team_sees_only_its_units_tickets_over_a_simulated_run(
    served: RemoteApi, nanning_grid: Grid
) -> None:
    city = await Collector(served, "commander").start()
    team = await Collector(served, f"team-{UNIT}").start()
    sim = Simulation(served.base_url, DEMO_PASSWORD, nanning_grid, seed=7)
    stats = await sim.run(rate=15, duration=6)
    assert stats.status["report 201"] > 0
    head = head_now(served)

    def ticket_seqs(events: list[dict[str, Any]], unit: str | None) -> list[int]:
        return [
            e["seq"]
            for e in events
            if e["ticket_id"] is not None and (unit is None or e["unit_id"] == unit)
        ]

    await city.until(lambda c: c.last_seq == head)
    expected = ticket_seqs(city.events, UNIT)
    await team.until(lambda c: ticket_seqs(c.events, None)[-1:] == expected[-1:])
    await city.stop()
    await team.stop()
    seen = {"city": city.events, "team": team.events}
    assert expected, "the run gave the unit no tickets: pick a busier unit"
    assert ticket_seqs(seen["team"], None) == expected  # all of its own, none of others'
    others = {e["unit_id"] for e in seen["city"] if e["ticket_id"] is not None} - {UNIT}
    assert others, "the run should also have given other units tickets"
    case_events = [e for e in seen["team"] if e["ticket_id"] is None]
    assert case_events
    city_case_seqs = {e["seq"] for e in seen["city"] if e["ticket_id"] is None}
    assert {e["seq"] for e in case_events} <= city_case_seqs
    assert all(
        UNIT in {u["unit_id"] for u in case["units"]}
        for case in [
            served.get(f"team-{UNIT}", f"/cases/{e['case_id']}").json() for e in case_events[:20]
        ]
    )
