"""A feed hub stops when told, even when a wake-up lands in the same turn as the stop.

On Python 3.11 ``asyncio.wait_for`` swallowed a cancellation that arrived as the awaited
event was set (dispatch/waits.py); the hub's read loop then ran on and the app's shutdown
waited for it forever. Here a commit's wake-up and the stop come together, every time.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from dispatch.db import Database
from dispatch.feed.bus import MemoryBus
from dispatch.feed.hub import FeedHub, HubConfig
from dispatch.migrate import upgrade
from dispatch.waits import event_set

WAIT_S = 10.0


async def test_a_hub_woken_as_it_stops_still_stops(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gd.sqlite'}"
    upgrade(url)
    db = Database(url)
    try:
        hub = FeedHub(db.read_engine, db.engine, MemoryBus(), HubConfig(), lambda h: h)
        await hub.start()
        for _ in range(3):  # a few turns: the loops start and park on their waits
            await asyncio.sleep(0)
        hub._wake.set()  # a commit's wake-up ...
        async with asyncio.timeout(WAIT_S):
            await hub.stop()  # ... and the stop, in the same turn
        assert all(t.done() for t in hub._tasks)
    finally:
        db.dispose()


async def test_event_set_tells_set_from_timed_out_and_lets_cancellation_through() -> None:
    ev = asyncio.Event()
    assert await event_set(ev, 0.001) is False
    ev.set()
    assert await event_set(ev, WAIT_S) is True
    ev.clear()
    waiter = asyncio.create_task(event_set(ev, WAIT_S))
    await asyncio.sleep(0)
    ev.set()
    waiter.cancel()  # set and cancelled in one turn: the cancellation wins
    async with asyncio.timeout(WAIT_S):
        await asyncio.gather(waiter, return_exceptions=True)
    assert waiter.cancelled()
