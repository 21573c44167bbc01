"""A small client of the live feed: connect, sign in, resume from the last seq, yield events.

    async with FeedClient("http://127.0.0.1:8000", token) as feed:
        async for event in feed:
            print(event["seq"], event["type"])

It reconnects by itself (with a capped backoff) after the network or the server goes away,
resuming with ``since`` = the last seq it yielded, so nothing is missed or repeated. When
the server says ``resync`` (too far behind), it loads ``GET /api/v1/feed/snapshot``, keeps
it in :attr:`snapshot`, and resumes from the snapshot's seq. A refused token or origin
raises :class:`FeedRefused` instead of retrying forever.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import httpx
import orjson
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

#: close codes after which reconnecting cannot help
FATAL = {4401, 4403, 4408}


class FeedRefused(Exception):
    """The server will not serve this client (bad token, origin, protocol)."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"feed refused ({code}): {reason}")
        self.code = code
        self.reason = reason


class FeedClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        since: int | None = None,
        *,
        reconnect: bool = True,
        origin: str | None = None,
        max_backoff_s: float = 2.0,
        compression: str | None = "deflate",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        #: the last event seq yielded (resume point)
        self.last_seq = since
        self.reconnect = reconnect
        self.origin = origin
        self.max_backoff_s = max_backoff_s
        #: offered to the server, which decides (GRIDDISPATCH_WS_DEFLATE)
        self.compression = compression
        #: set while connected and signed in; cleared when the connection drops
        self.ready = asyncio.Event()
        #: the server's head at the last ``ready`` or ``heartbeat``
        self.head: int | None = None
        #: the head of the first ``ready``: live events follow it (without ``since`` the
        #: server's own reading position, which may trail the database's newest event);
        #: later connections resume from ``last_seq``
        self.ready_head: int | None = None
        self.connections = 0
        self.heartbeats = 0
        self.resyncs = 0
        self.snapshot: dict[str, Any] | None = None
        #: set once a resync's snapshot is loaded (and ``ready`` cleared until reconnected)
        self.resynced = asyncio.Event()
        self._ws: Any = None

    @property
    def ws_url(self) -> str:
        url = "ws" + self.base_url.removeprefix("http") + "/api/v1/feed"
        return url if self.last_seq is None else f"{url}?since={self.last_seq}"

    async def __aenter__(self) -> FeedClient:
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        self.reconnect = False
        if self._ws is not None:
            await self._ws.close()

    async def load_snapshot(self) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.base_url) as http:
            r = await http.get(
                "/api/v1/feed/snapshot", headers={"Authorization": f"Bearer {self.token}"}
            )
            r.raise_for_status()
            snap: dict[str, Any] = r.json()
        self.snapshot = snap
        self.last_seq = int(snap["seq"])
        return snap

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self.events()

    async def events(self) -> AsyncIterator[dict[str, Any]]:
        backoff = 0.05
        while True:
            try:
                async for message in self._session():
                    backoff = 0.05
                    yield message
            except ConnectionClosed as exc:
                if exc.rcvd is not None and exc.rcvd.code in FATAL:
                    raise FeedRefused(exc.rcvd.code, exc.rcvd.reason) from exc
            except (OSError, TimeoutError):
                pass  # network or server away: reconnect below
            except InvalidStatus as exc:
                if exc.response.status_code < 500:  # refused (origin, path): final
                    raise FeedRefused(exc.response.status_code, "handshake refused") from exc
                # 5xx: a proxy with no process behind it, a process going away: retry
            finally:
                self.ready.clear()
                self._ws = None
            if not self.reconnect:
                return
            await asyncio.sleep(backoff)  # reconnect pacing, not a wait for an event
            backoff = min(backoff * 2, self.max_backoff_s)

    async def _session(self) -> AsyncIterator[dict[str, Any]]:
        headers = {"Origin": self.origin} if self.origin else None
        async with websockets.connect(
            self.ws_url,
            additional_headers=headers,
            max_size=2**22,
            open_timeout=10,
            compression=self.compression,
        ) as ws:
            self._ws = ws
            await ws.send(orjson.dumps({"type": "auth", "token": self.token}).decode())
            self.connections += 1
            async for raw in ws:
                message = orjson.loads(raw)
                kind = message.get("type")
                if "seq" in message:
                    if self.last_seq is None or message["seq"] > self.last_seq:
                        self.last_seq = message["seq"]
                        yield message
                elif kind == "ready":
                    self.head = message["head"]
                    if self.ready_head is None:
                        self.ready_head = message["head"]
                    if self.last_seq is None:
                        self.last_seq = message["head"]
                    self.ready.set()
                elif kind == "heartbeat":
                    self.head = message["head"]
                    self.heartbeats += 1
                elif kind == "resync":
                    self.resyncs += 1
                    with contextlib.suppress(ConnectionClosed):
                        await ws.close()
                    await self.load_snapshot()
                    self.ready.clear()
                    self.resynced.set()
                    return
