"""A cheap websocket feed client for benchmarks: thousands of dashboards in one process.

The `websockets` client costs ~20 µs of CPU per message, so a load generator built on it
saturates before the server does. This one is an asyncio Protocol that does the HTTP
upgrade itself and parses the server's frames (unmasked, unfragmented text frames, as the
feed sends them; pings are answered), a few µs per message. It is for measuring only: the
product's client is `dispatch.feed.client.FeedClient`.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

import orjson

_TEXT, _CLOSE, _PING = 0x1, 0x8, 0x9


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask)."""
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + body


class Tally:
    """What a process's clients saw: latencies (s), seq gaps, messages; shared by them all."""

    def __init__(self) -> None:
        self.latency: list[float] = []
        self.gaps = 0
        self.messages = 0
        self.closed: list[int] = []
        self._at: dict[str, float] = {}

    def when(self, at: str) -> float:
        """An event's ``at`` as a timestamp; events of one batch share it, so cache it."""
        ts = self._at.get(at)
        if ts is None:
            if len(self._at) > 10_000:
                self._at.clear()
            ts = self._at[at] = datetime.fromisoformat(at).timestamp()
        return ts

    def reset(self) -> None:
        self.latency.clear()
        self.gaps = 0
        self.messages = 0


class RawFeed(asyncio.Protocol):
    """One feed connection: signs in, then counts events into a :class:`Tally`."""

    def __init__(self, url: str, token: str, tally: Tally, on_ready: Callable[[int], None]) -> None:
        parts = urlsplit(url)
        self._host = parts.netloc
        self._path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._token = token
        self._tally = tally
        self._on_ready = on_ready
        self._buf = bytearray()
        self._upgraded = False
        self.transport: asyncio.Transport | None = None
        self.last: int | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            (
                f"GET {self._path} HTTP/1.1\r\nHost: {self._host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        if not self._upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buf.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(bytes(buf[:end]).decode(errors="replace"))
            del buf[: end + 4]
            self._upgraded = True
            auth = orjson.dumps({"type": "auth", "token": self._token})
            assert self.transport is not None
            self.transport.write(_masked(_TEXT, auth))
        pos, size = 0, len(buf)
        now = time.time()  # every frame of one read arrived together
        while size - pos >= 2:
            opcode, n = buf[pos] & 0x0F, buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if size - pos < 4:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 4]), 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, head = int.from_bytes(buf[pos + 2 : pos + 10]), 10
            if size - pos < head + n:
                break
            start = pos + head
            pos = start + n
            if opcode == _TEXT:
                self._message(buf, start, pos, now)
            elif opcode == _PING and self.transport is not None:
                self.transport.write(_masked(0xA, bytes(buf[start:pos])))
            elif opcode == _CLOSE:
                self._tally.closed.append(
                    int.from_bytes(buf[start : start + 2]) if n >= 2 else 1005
                )
        del buf[:pos]

    def _message(self, buf: bytearray, start: int, end: int, now: float) -> None:
        """Events start ``{"seq":N,"type":…,"at":"…"`` (the feed's key order): read those
        two fields in place; anything else (control messages) is parsed whole."""
        tally = self._tally
        if buf.startswith(b'{"seq":', start):
            comma = buf.index(b",", start + 7)
            seq = int(buf[start + 7 : comma])
            at0 = buf.index(b'"at":"', comma) + 6
            at = buf[at0 : buf.index(b'"', at0)].decode()
        else:
            m = orjson.loads(bytes(buf[start:end]))
            if m.get("type") == "ready":
                self.last = m["head"]
                self._on_ready(m["head"])
            return
        tally.latency.append(now - tally.when(at))
        tally.messages += 1
        if self.last is not None and seq != self.last + 1:
            tally.gaps += seq - self.last - 1
        self.last = seq

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(url: str, token: str, tally: Tally, on_ready: Callable[[int], None]) -> RawFeed:
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_connection(
        lambda: RawFeed(url, token, tally, on_ready), parts.hostname, parts.port
    )
    return proto
