"""The live feed over a real socket, on a served app (SQLite, in-process bus).

Protocol (docs/api.md): auth as the first message, ``ready``, replay from ``since``, live
events, heartbeats, ``resync`` when too far behind, close codes for refusals.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import orjson
import pytest
import websockets
from feedkit import WAIT_S, collect, head_now, report, started, ws_url
from serverkit import AppServer, RemoteApi
from websockets.exceptions import ConnectionClosed, InvalidStatus

from dispatch.feed.client import FeedClient, FeedRefused
from geo import Grid


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


# --- resume ---------------------------------------------------------------------------


async def test_resume_replays_exactly_what_was_missed_then_goes_live(served: RemoteApi) -> None:
    token = served.token("commander")
    first = FeedClient(served.base_url, token)
    events = await started(first)
    await report(served)
    await collect(events, 1)
    await first.close()
    last = first.last_seq
    assert last is not None
    while head_now(served) - last < 500:  # at least 500 events while the client is away
        await report(served, k=head_now(served))
    missed = head_now(served) - last
    second = FeedClient(served.base_url, token, since=last)
    events = await started(second)
    replayed = await collect(events, missed)
    assert [e["seq"] for e in replayed] == list(range(last + 1, last + missed + 1))
    case = await report(served)
    live = await collect(events, 1)
    assert live[0]["seq"] == last + missed + 1
    assert live[0]["case_id"] == case["id"]
    await second.close()


async def test_resuming_with_nothing_new_replays_nothing(served: RemoteApi) -> None:
    head = head_now(served)
    for _ in range(2):
        async with websockets.connect(ws_url(served, since=head)) as ws:
            await ws.send(
                orjson.dumps({"type": "auth", "token": served.token("commander")}).decode()
            )
            ready = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
            after = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        assert ready == {"type": "ready", "head": head, "since": head}
        assert after["type"] == "heartbeat"  # the next thing said is a heartbeat: no events


async def test_since_beyond_the_head_asks_for_a_resync(served: RemoteApi) -> None:
    head = head_now(served)
    async with websockets.connect(ws_url(served, since=head + 1000)) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": served.token("commander")}).decode())
        ready = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        resync = orjson.loads(await asyncio.wait_for(ws.recv(), WAIT_S))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT_S)
    assert ready["type"] == "ready"
    assert resync["type"] == "resync"
    assert "seq" not in resync
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4409


async def test_the_client_reloads_the_snapshot_on_resync(served: RemoteApi) -> None:
    head = head_now(served)
    feed = FeedClient(served.base_url, served.token("commander"), since=head + 1000)
    events = await started(feed)  # ready, then resync: the client loads the snapshot
    async with asyncio.timeout(WAIT_S):
        await feed.resynced.wait()
        await feed.ready.wait()  # connected again, from the snapshot's seq
    case = await report(served)
    live = await collect(events, 1)
    await feed.close()
    assert feed.resyncs == 1
    assert feed.snapshot is not None
    assert feed.snapshot["seq"] == head
    assert live[0]["seq"] == head + 1
    assert live[0]["case_id"] == case["id"]


# --- snapshot ---------------------------------------------------------------------------


def test_the_snapshot_holds_open_cases_the_caller_may_see(served: RemoteApi) -> None:
    case = served.report(event_type="06014").json()
    team = f"team-{case['units'][0]['unit_id']}"
    city = served.get("commander", "/feed/snapshot").json()
    mine = served.get(team, "/feed/snapshot").json()
    worker2 = served.get("worker2", "/feed/snapshot").json()
    assert case["id"] in {c["id"] for c in city["cases"]}
    assert case["id"] in {c["id"] for c in mine["cases"]}
    assert all(c["status"] not in ("closed", "rejected") for c in city["cases"])
    assert {t["unit_id"] for c in mine["cases"] for t in c["tickets"]} == {
        case["units"][0]["unit_id"]
    }
    assert case["id"] not in {c["id"] for c in worker2["cases"]}  # not theirs, not their beat
    assert served.client.get("/api/v1/feed/snapshot").status_code == 401


# --- revocation -------------------------------------------------------------------------


async def test_logout_closes_every_socket_of_that_token_and_only_those(served: RemoteApi) -> None:
    r = served.client.post(
        "/api/v1/auth/token", data={"username": "dispatcher", "password": "demo-pass-123"}
    )
    token = r.json()["access_token"]
    mine = [FeedClient(served.base_url, token) for _ in range(2)]
    other = FeedClient(served.base_url, served.token("commander"))
    streams = [await started(f) for f in (*mine, other)]
    out = served.client.post("/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert out.status_code == 204
    for stream in streams[:2]:
        with pytest.raises(FeedRefused) as refused:
            await collect(stream, 1)
        assert refused.value.code == 4401
    case = await report(served)
    assert (await collect(streams[2], 1))[0]["case_id"] == case["id"]
    await other.close()
