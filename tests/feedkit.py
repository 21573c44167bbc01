"""Helpers for live-feed tests: start a client, collect what it yields, await conditions.

Everything here awaits the thing it expects (a message, a collector's progress), bounded by
``WAIT_S``; nothing sleeps a fixed time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from serverkit import RemoteApi

from dispatch.feed.client import FeedClient

WAIT_S = 20.0  # the most any awaited event may take before the test fails


def ws_url(api: RemoteApi, since: int | None = None) -> str:
    url = "ws" + api.base_url.removeprefix("http") + "/api/v1/feed"
    return url if since is None else f"{url}?since={since}"


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
    """The next ``n`` events."""
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT_S):
        while len(got) < n:
            got.append(await anext(it))
    return got


async def report(api: RemoteApi, **kw: Any) -> dict[str, Any]:
    """A report through the HTTP API (in a thread, so the event loop keeps feeding clients)."""
    r = await asyncio.to_thread(api.report, **kw)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def head_now(api: RemoteApi) -> int:
    """The last committed seq, as the snapshot tells it."""
    r = api.get("commander", "/feed/snapshot")
    assert r.status_code == 200, r.text
    return int(r.json()["seq"])


class Collector:
    """A feed client that keeps every event it gets; tests await conditions on them."""

    def __init__(self, api: RemoteApi, user: str) -> None:
        self.client = FeedClient(api.base_url, api.token(user))
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> Collector:
        it = await started(self.client)
        self._task = asyncio.create_task(self._keep(it))
        return self

    async def _keep(self, it: AsyncIterator[dict[str, Any]]) -> None:
        async for ev in it:
            async with self._changed:
                self.events.append(ev)
                self._changed.notify_all()

    async def until(self, check: Callable[[Collector], bool], timeout: float = WAIT_S) -> None:
        """Return once ``check(self)`` holds, re-checked at each event that arrives."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: check(self))

    async def stop(self) -> None:
        await self.client.close()
        if self._task:
            self._task.cancel()

    def seqs(self) -> list[int]:
        return [e["seq"] for e in self.events]

    def promised(self, start: int, end: int) -> list[int]:
        """Every seq a commander's client that was ready by ``start`` must get up to
        ``end``: live events follow the head its ``ready`` named, the hub's reading
        position, which may trail the newest commit (a read of the log that timed out on
        a loaded machine waits for the next wake-up); it then gets those earlier ones too."""
        ready = self.client.ready_head
        assert ready is not None
        assert ready <= start, (ready, start)
        return list(range(ready + 1, end + 1))

    @property
    def last_seq(self) -> int | None:
        return self.client.last_seq
