"""The bus: wakes every process's feed hub when any of them commits. It carries no events.

Messages are small dicts: ``{"head": seq}`` after a commit (``null`` where the database
numbered the events inside COMMIT and nobody read the head), ``{"revoke": token_hash}`` when
a token is revoked, and the bus itself says ``{"reconnected": true}`` when it has
(re)subscribed, since anything published meanwhile was lost. A hub treats every message
only as a hint and reads the event log, so a lost, late or repeated message costs at most
one read; it never loses an event.

``MemoryBus`` serves one process; ``RedisBus`` many, over Redis pub/sub. Publishing never
waits long and never raises: Redis being away must not stop intake.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import orjson

log = logging.getLogger("griddispatch.feed")

Deliver = Callable[[dict[str, Any]], None]


class Bus(Protocol):
    #: False while messages may be getting lost (Redis away): hubs then poll the log
    healthy: bool
    #: how many times the connection was lost and made again
    reconnects: int

    async def start(self, deliver: Deliver) -> None: ...

    async def publish(self, message: dict[str, Any]) -> None: ...

    async def stop(self) -> None: ...


class MemoryBus:
    """One process: publishing is delivering."""

    def __init__(self) -> None:
        self.healthy = True
        self.reconnects = 0
        self._deliver: Deliver | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def publish(self, message: dict[str, Any]) -> None:
        if self._deliver is not None:
            self._deliver(message)

    async def stop(self) -> None:
        self._deliver = None


class RedisBus:
    """Redis pub/sub on ``<prefix>:feed``; reconnects by itself with a capped backoff."""

    def __init__(
        self, url: str, prefix: str, *, publish_timeout_s: float = 0.5, max_backoff_s: float = 1.0
    ) -> None:
        from redis.asyncio import Redis

        self.channel = f"{prefix}:feed"
        self.healthy = False
        self.reconnects = 0
        self._publish_timeout = publish_timeout_s
        self._max_backoff = max_backoff_s
        kw: dict[str, Any] = dict(socket_connect_timeout=1.0, health_check_interval=5)
        self._pub = Redis.from_url(url, socket_timeout=publish_timeout_s, **kw)
        self._sub = Redis.from_url(url, **kw)
        self._task: asyncio.Task[None] | None = None
        self._warned = False

    async def start(self, deliver: Deliver) -> None:
        self._task = asyncio.create_task(self._listen(deliver), name="feed-bus-redis")

    async def publish(self, message: dict[str, Any]) -> None:
        from redis.exceptions import RedisError

        try:
            await asyncio.wait_for(
                self._pub.publish(self.channel, orjson.dumps(message)), self._publish_timeout
            )
        except (RedisError, OSError, TimeoutError) as exc:
            self.healthy = False
            if not self._warned:
                log.warning("feed bus: publish to Redis failed (%s); hubs poll the log", exc)
                self._warned = True

    async def _listen(self, deliver: Deliver) -> None:
        from redis.exceptions import RedisError

        backoff = 0.05
        while True:
            pubsub = self._sub.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self.healthy, self._warned, backoff = True, False, 0.05
                deliver({"reconnected": True})
                async for raw in pubsub.listen():
                    if raw.get("type") == "message":
                        with contextlib.suppress(orjson.JSONDecodeError):
                            deliver(orjson.loads(raw["data"]))
                raise ConnectionError("subscription ended")
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.healthy:
                    log.warning("feed bus: lost Redis (%s); reconnecting", exc)
                    self.reconnects += 1
                self.healthy = False
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]
            await asyncio.sleep(backoff)  # reconnect pacing, not a wait for an event
            backoff = min(backoff * 2, self._max_backoff)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._pub.aclose()
        await self._sub.aclose()


def make_bus(redis_url: str | None, prefix: str) -> Bus:
    return RedisBus(redis_url, prefix) if redis_url else MemoryBus()
