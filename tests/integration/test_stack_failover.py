"""One app process killed (SIGKILL) under load, behind nginx.

Phones keep reporting through nginx and retry each report with its own key until it is
acknowledged; command-center clients are spread over both processes. After the kill:
every acknowledged report is in the database exactly once, in the case its answer named;
the dead process's clients reconnected through nginx to the survivor and, with ``since``,
have every event with no gap or repeat, as do the survivor's clients, who never dropped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from serverkit import RedisServer
from stackkit import (
    Traffic,
    Views,
    assert_every_ack_committed_once,
    caught_up,
    head_of,
    make_stack,
    placed_collectors,
    tally,
)

from dispatch.ops.stack import Stack
from geo import Grid

pytestmark = [pytest.mark.postgis, pytest.mark.slow]


async def test_a_killed_process_loses_no_acknowledged_report_and_its_clients_miss_nothing(
    pg_url_factory: Any,
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
    nanning_grid: Grid,
) -> None:
    url = pg_url_factory()
    stack: Stack
    with make_stack(url, redis_server.url, tmp_path_factory.mktemp("failover")) as stack:
        views = Views.of(stack, nanning_grid)
        placed = await placed_collectors(views, 6)
        assert {p.process for p in placed} == {0, 1}
        traffic = Traffic(views.proxy)
        load = asyncio.create_task(traffic.run())
        await traffic.until_acked(100)  # under load
        victim = stack.apps[0].child.proc
        assert victim is not None
        victim.kill()  # SIGKILL: no shutdown, requests and sockets cut mid-way
        await asyncio.to_thread(victim.wait)
        killed_at = len(traffic.acked)
        await traffic.until_acked(killed_at + 150)  # the survivor carries on alone
        await traffic.finish()
        await load  # every report started is acknowledged (retried to the end)

        # a request cut mid-way at the dead process is nginx's 503 (retry), nothing else
        answers = tally(traffic.answers)
        assert set(answers) <= {"201", "503"}, answers
        assert all(ra == "5" for _, status, ra in traffic.answers if status == "503")
        assert_every_ack_committed_once(url, traffic)

        head = head_of(url)
        await caught_up(placed, head)
        for p in placed:
            if p.process == 0:  # reconnected, through nginx, to the only process left
                assert p.collector.client.connections >= 2
            else:
                assert p.collector.client.connections == 1
        survivor = views.direct[1].get("commander", "/feed/stats").json()
        assert survivor["clients"] == len(placed)
        for p in placed:
            await p.collector.stop()
