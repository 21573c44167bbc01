"""Readiness: may this process take traffic? The database answers a real query, Redis
(when configured) answers PING, and the city's grid is loaded. Every check is bounded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine

from dispatch.db import UNAVAILABLE
from dispatch.feed.sequence import read_head

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from dispatch.state import AppState

log = logging.getLogger("griddispatch.ops")
T = TypeVar("T")


class Probe:
    """Runs one blocking call at a time on a thread of its own; a caller waits at most
    ``timeout_s``. A call still stuck (a server that stopped answering) is shared by the
    next callers instead of piling up threads, and keeps failing them fast."""

    def __init__(self, name: str) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=f"probe-{name}")
        self._running: asyncio.Future[Any] | None = None

    async def run(self, fn: Callable[[], T], timeout_s: float) -> T:
        if self._running is None or self._running.done():
            self._running = asyncio.get_running_loop().run_in_executor(self._pool, fn)
        async with asyncio.timeout(timeout_s):  # not wait_for: see dispatch/waits.py
            result: T = await asyncio.shield(self._running)
        return result

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def database_head(engine: Engine) -> int:
    """A real query on the schema: the feed's head."""
    with engine.connect() as conn:
        return read_head(conn)


class Readiness:
    """The checks behind ``GET /readyz``, with what they need kept between calls."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.timeout_s = state.settings.ready_timeout_s
        self.db_probe = Probe("ready-db")
        self.redis: Redis | None = None
        if state.settings.redis_url:
            from redis.asyncio import Redis

            self.redis = Redis.from_url(
                state.settings.redis_url,
                socket_connect_timeout=self.timeout_s,
                socket_timeout=self.timeout_s,
            )

    async def check(self) -> tuple[bool, dict[str, dict[str, Any]]]:
        """Whether ready, and each check's result (``ok`` and what it saw or why not)."""
        names = ["database", "grid"]
        jobs = [self._database(), self._grid()]
        if self.redis is not None:
            names.append("redis")
            jobs.append(self._redis())
        results = dict(zip(names, await asyncio.gather(*jobs), strict=True))
        required = set(names)
        if not self.state.settings.ready_requires_redis:
            required.discard("redis")
        return all(results[n]["ok"] for n in required), results

    async def _database(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            head = await self.db_probe.run(
                lambda: database_head(self.state.db.probe_engine), self.timeout_s
            )
        except TimeoutError:
            return {"ok": False, "error": f"no answer within {self.timeout_s:g} s"}
        except UNAVAILABLE as exc:
            log.warning("readiness: database unavailable: %s", getattr(exc, "orig", exc))
            return {"ok": False, "error": "unreachable"}
        except Exception as exc:  # a broken schema, a missing table: not ready either
            log.warning("readiness: database check failed: %s", exc)
            return {"ok": False, "error": type(exc).__name__}
        return {"ok": True, "ms": _ms(started), "feed_head": head}

    async def _redis(self) -> dict[str, Any]:
        from redis.exceptions import RedisError

        assert self.redis is not None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.redis.ping()
        except TimeoutError:
            return {"ok": False, "error": f"no answer within {self.timeout_s:g} s"}
        except (RedisError, OSError) as exc:
            log.warning("readiness: Redis unavailable: %s", exc)
            return {"ok": False, "error": "unreachable"}
        return {"ok": True, "ms": _ms(started)}

    async def _grid(self) -> dict[str, Any]:
        cells = len(self.state.grid)
        if not cells:
            return {"ok": False, "error": "no cells loaded"}
        return {"ok": True, "cells": cells, "version": self.state.grid_version}

    async def close(self) -> None:
        self.db_probe.close()
        if self.redis is not None:
            await self.redis.aclose()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
