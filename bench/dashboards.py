"""Cheap websocket dashboards for bench/load.py: many feed clients in one process.

A full client library costs tens of µs per message; a thousand city-wide dashboards at a
few thousand events/s is millions of messages a second. So each dashboard here is a bare
asyncio Protocol: it sends the upgrade request, the masked ``auth`` frame, answers pings,
and splits the server's (unmasked, unfragmented) frames by their length headers without
decoding them. Only a sample of the dashboards decodes every message (orjson) to take
commit-to-screen latency (receipt − the event's ``at``) and to check that seqs follow one
another; the others only count frames.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
import uvloop

READY, EVENT = b'{"type":"ready"', b'{"seq":'
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (clients must mask; RFC 6455 §5.3)."""
    mask = os.urandom(4)
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 1 << 16:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


@dataclass
class Tally:
    """What the dashboards of one process saw."""

    frames: int = 0
    events: int = 0
    latencies: list[float] = field(default_factory=list)
    gaps: int = 0
    #: dashboards that decode their messages
    sampled: int = 0
    closed: dict[int, int] = field(default_factory=dict)
    #: the measured window (wall clock): events counted by arrival in it, latencies of
    #: events made (``at``) in it
    start: float = float("inf")
    end: float = float("inf")
    _at: dict[bytes, float] = field(default_factory=dict, repr=False)

    def when(self, at: bytes) -> float:
        """An event's ``at`` as a timestamp; the events of one commit share it: cached."""
        ts = self._at.get(at)
        if ts is None:
            if len(self._at) > 10_000:
                self._at.clear()
            ts = self._at[at] = datetime.fromisoformat(at.decode()).timestamp()
        return ts


class Dashboard(asyncio.Protocol):
    def __init__(self, url: str, token: str, sample: bool, tally: Tally) -> None:
        parts = urlsplit(url)
        self.host, self.path = parts.netloc, parts.path
        self.token, self.sample, self.tally = token, sample, tally
        self.ready = asyncio.get_running_loop().create_future()
        self.buf = bytearray()
        self.upgraded = False
        self.last_seq: int | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  (uvloop's is no subclass)
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        buf = self.buf
        buf += data
        pos = 0
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if b" 101 " not in buf[: buf.find(b"\r\n")]:
                self.ready.set_exception(ConnectionError(bytes(buf[:200]).decode(errors="replace")))
                return
            self.upgraded = True
            pos = end + 4
            auth = orjson.dumps({"type": "auth", "token": self.token})
            assert self.transport is not None
            self.transport.write(client_frame(TEXT, auth))
        n = len(buf)
        tally = self.tally
        counting = tally.start <= now < tally.end
        while n - pos >= 2:
            opcode, length, head = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, 2
            if length == 126:
                if n - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if n - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if n - pos < head + length:
                break
            start = pos + head
            pos = start + length
            if opcode == TEXT:
                self._text(buf, start, pos, now, counting)
            elif opcode == PING:
                assert self.transport is not None
                self.transport.write(client_frame(PONG, bytes(buf[start:pos])))
            elif opcode == CLOSE:
                code = int.from_bytes(buf[start : start + 2], "big") if length >= 2 else 1005
                tally.closed[code] = tally.closed.get(code, 0) + 1
                assert self.transport is not None
                self.transport.close()
        del buf[:pos]

    def _text(self, buf: bytearray, start: int, end: int, now: float, counting: bool) -> None:
        tally = self.tally
        if not self.ready.done():
            if buf[start : start + len(READY)] == READY:
                self.last_seq = orjson.loads(bytes(buf[start:end]))["head"]
                self.ready.set_result(None)
            return
        if not buf.startswith(EVENT, start):  # control messages: heartbeat, resync
            return
        if counting:
            tally.events += 1
        if not self.sample:
            return
        # an event starts {"seq":N,"type":…,"at":"…" (the feed's key order): read those two
        # in place rather than decode the whole message, a few µs each at 10⁵ messages/s
        comma = buf.index(b",", start + len(EVENT))
        seq = int(buf[start + len(EVENT) : comma])
        if self.last_seq is not None and seq != self.last_seq + 1:
            tally.gaps += seq - self.last_seq - 1
        self.last_seq = seq
        at0 = buf.index(b'"at":"', comma) + 6
        at = tally.when(bytes(buf[at0 : buf.index(b'"', at0)]))
        if tally.start <= at < tally.end:  # made in the window, however late it arrives
            tally.latencies.append(now - at)


async def open_dashboards(
    urls: list[str], tokens: list[str], n: int, sample_every: int, tally: Tally
) -> list[Dashboard]:
    """``n`` dashboards spread over ``urls`` (ws://…/api/v1/feed), each with the next
    token, every ``sample_every``-th one decoding its messages; returns once all are ready."""
    loop = asyncio.get_running_loop()
    boards: list[Dashboard] = []
    for i in range(n):
        url = urls[i % len(urls)]
        parts = urlsplit(url)
        board = Dashboard(url, tokens[i % len(tokens)], i % sample_every == 0, tally)
        tally.sampled += board.sample
        await loop.create_connection(lambda b=board: b, parts.hostname, parts.port)
        boards.append(board)
        if i % 50 == 49:
            await asyncio.gather(*(b.ready for b in boards[-50:]))  # pace the handshakes
    await asyncio.wait_for(asyncio.gather(*(b.ready for b in boards)), 120)
    return boards


def dashboards_proc(
    urls: list[str], tokens: list[str], n: int, sample_every: int, conn: Any
) -> None:
    """A child process: open the dashboards, say so, count from ``start`` to ``end`` (sent
    by the parent as wall-clock times), then send the tally back."""

    async def main() -> None:
        tally = Tally()
        boards = await open_dashboards(urls, tokens, n, sample_every, tally)
        conn.send("ready")
        tally.start, tally.end = await asyncio.to_thread(conn.recv)
        await asyncio.sleep(max(0.0, tally.end - time.time()) + 2.0)  # the window, and stragglers
        for b in boards:
            if b.transport is not None:
                b.transport.close()
        conn.send(tally)

    uvloop.run(main())
