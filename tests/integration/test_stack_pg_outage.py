"""PostgreSQL stopped for 30 s under load, behind nginx (a private cluster: the shared one
on 5432 is never stopped).

Phones keep reporting and teams keep accepting their tickets through nginx, each retrying
while the answer is 503. During the outage every write is answered 503 with Retry-After
(no 500, no hang, no 2xx); afterwards every write that was answered 2xx is in the
database, the service recovers by itself (writes succeed again, with no 503 once the first
has), and the command-center clients, connected all along, have every event.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from serverkit import RedisServer
from stackkit import (
    Accepts,
    Answers,
    Traffic,
    Views,
    assert_every_ack_committed_once,
    caught_up,
    head_of,
    make_stack,
    placed_collectors,
    tally,
    ticket_statuses,
)

from dispatch.ops.launch import PostgresServer
from geo import Grid

pytestmark = [pytest.mark.postgis, pytest.mark.slow]
OUTAGE_S = 30.0  # the scenario itself: a real outage of this length


def during(answers: Answers, since: float, until: float) -> list[tuple[str, str | None]]:
    """(status, Retry-After) of the attempts sent between two monotonic times."""
    return [(status, ra) for t, status, ra in answers if since <= t < until]


async def test_postgres_away_for_30_s_under_load(
    postgres: PostgresServer,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
    nanning_grid: Grid,
) -> None:
    url = postgres.create_database("griddispatch")
    with make_stack(url, redis_server.url, tmp_path_factory.mktemp("outage")) as stack:
        views = Views.of(stack, nanning_grid)
        placed = await placed_collectors(views, 4)
        traffic = Traffic(views.proxy, loops=6, deadline_s=OUTAGE_S + 120)
        accepts = Accepts(views.proxy, traffic)
        load = asyncio.gather(traffic.run(), accepts.run())
        await traffic.until_acked(60)

        await asyncio.to_thread(postgres.stop)  # returns once the server is gone
        down = time.monotonic()
        await asyncio.sleep(OUTAGE_S / 2)  # the outage lasts; traffic goes on meanwhile
        with httpx.Client(base_url=stack.url, headers=views.proxy.auth("commander")) as http:
            read = http.get("/api/v1/cases")
            alive = http.get("/healthz")
        await asyncio.sleep(OUTAGE_S / 2)
        restart = time.monotonic()
        await asyncio.to_thread(postgres.start)  # returns once it accepts connections
        up = time.monotonic()

        acked_before_up = len(traffic.acked)
        await traffic.until_acked(acked_before_up + 100, timeout=120)
        await traffic.finish()
        await load

        # every write sent while the server was gone: 503 with Retry-After, nothing else
        outage = during(traffic.answers, down, restart) + during(accepts.answers, down, restart)
        assert len(outage) > 50, "the load did not go on during the outage"
        assert {status for status, _ in outage} == {"503"}, tally(traffic.answers, down, restart)
        assert all(ra == "5" for _, ra in outage)
        assert read.status_code == 503
        assert read.headers["retry-after"] == "5"
        assert alive.status_code == 200  # the processes themselves stayed up

        # no 2xx for anything that was not committed
        assert_every_ack_committed_once(url, traffic)
        assert accepts.accepted, "no ticket was accepted"
        stored = ticket_statuses(url, sorted(accepts.accepted))
        assert set(stored.values()) == {"accepted"}, stored

        # full recovery: writes succeed again, and once one has, every later one does
        first_ok = min(t for t, status, _ in traffic.answers if t >= up and status == "201")
        after = tally(traffic.answers, first_ok) + tally(accepts.answers, first_ok)
        assert set(after) <= {"200", "201", "409"}, after
        assert after["201"] >= 100
        await caught_up(placed, head_of(url))
        for p in placed:
            await p.collector.stop()
