"""One hub per process: reads the event log once, fans each event out to its sockets.

The hub keeps a cursor, the last ``seq`` it has delivered. Whatever wakes it (a local
commit, the bus, a timer) it reads ``seq > cursor`` from the log, in order, and offers each
event to every subscriber allowed to see it. Since ``seq`` is gapless and in commit order
(:mod:`dispatch.feed.sequence`), reading after the cursor can never skip an event, however
the wake-ups arrive or get lost: the bus is only a hint, and while it is unhealthy the hub
polls the log instead.

A subscriber is served one of two ways. Until its replay is done (and wherever the server
gives no :class:`~dispatch.feed.wire.Wire`), it has a bounded queue that its own task
sends from. Live and wired, the hub writes each batch's frames straight to its socket, one
write per socket per batch, each event framed once for all sockets. Either way the hub
never waits: a slow client fills its own queue, or its socket's send buffer, and is dropped
(told to resync), never slowing the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine

from dispatch.auth.principal import Principal
from dispatch.feed import reader
from dispatch.feed.audience import audience_key, may_see
from dispatch.feed.bus import Bus, make_bus
from dispatch.feed.sequence import on_commit
from dispatch.feed.wire import Wire, text_frame
from dispatch.waits import event_set

if TYPE_CHECKING:
    from dispatch.state import AppState

log = logging.getLogger("griddispatch.feed")

#: read the log in pages of this many events
PAGE = 500
_NO_LIMIT = 2**62


@dataclass(frozen=True, slots=True)
class HubConfig:
    queue_max: int = 1000
    #: poll the log this often even when the bus is healthy (a lost wake-up costs this much)
    poll_s: float = 5.0
    #: ... and this often while the bus is away
    degraded_poll_s: float = 0.25
    #: check every connected token this often (revoked, expired, user disabled)
    revalidate_s: float = 30.0
    #: a wired socket with more unsent bytes than this is dropped as too slow
    backlog_max: int = 2 * 2**20


@dataclass(eq=False)
class Subscriber:
    principal: Principal
    token_hash: str
    queue: asyncio.Queue[tuple[int, str]]
    #: set when the hub drops the subscriber: (close code, reason)
    dropped: asyncio.Future[tuple[int, str]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    #: set once live: the hub then writes frames straight to the socket
    wire: Wire | None = None
    #: loop time of the last live write (heartbeats go out when it is old)
    written_at: float = 0.0

    def go_direct(self, wire: Wire, last: int) -> None:
        """Hand the socket to the hub, first sending what queued up during the replay.

        Runs without a pause, so no batch can slip in between the queue and the wire."""
        pending = []
        while not self.queue.empty():
            seq, text = self.queue.get_nowait()
            if seq > last:
                pending.append(text_frame(text))
        if pending:
            wire.write(b"".join(pending))
        self.wire = wire
        self.written_at = asyncio.get_running_loop().time()

    def drop(self, code: int, reason: str) -> None:
        if not self.dropped.done():
            self.dropped.set_result((code, reason))


class FeedHub:
    def __init__(
        self,
        read_engine: Engine,
        write_engine: Engine,
        bus: Bus,
        config: HubConfig,
        valid_tokens: Callable[[set[str]], set[str]],
    ) -> None:
        self.read_engine = read_engine
        self.write_engine = write_engine
        self.bus = bus
        self.config = config
        self._valid_tokens = valid_tokens
        self.cursor = 0
        self.delivered = 0
        #: subscribers dropped for falling behind
        self.dropped_slow = 0
        self._groups: dict[Hashable, set[Subscriber]] = {}
        self._wake = asyncio.Event()
        self._publish_wake = asyncio.Event()
        #: the last head this process committed, for the bus (None: numbered by the server)
        self._to_publish: int | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unregister: Callable[[], None] | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self.cursor = await asyncio.to_thread(reader.head, self.read_engine)
        loop = asyncio.get_running_loop()

        def committed(head: int | None) -> None:  # runs in the committing thread
            loop.call_soon_threadsafe(self._local_commit, head)

        self._unregister = on_commit(self.write_engine, committed)
        await self.bus.start(self._on_bus)
        for name, job in (
            ("feed-reader", self._read_loop),
            ("feed-publisher", self._publish_loop),
            ("feed-revalidate", self._revalidate_loop),
        ):
            self._tasks.append(asyncio.create_task(job(), name=name))

    async def stop(self) -> None:
        if self._unregister is not None:
            self._unregister()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sub in self.subscribers():
            sub.drop(1001, "server shutting down")
        await self.bus.stop()

    # ------------------------------------------------------------ subscribers

    def subscribe(self, principal: Principal, token_hash: str) -> tuple[Subscriber, int]:
        """Register; live events after the returned seq will arrive in the queue."""
        sub = Subscriber(principal, token_hash, asyncio.Queue(self.config.queue_max))
        self._groups.setdefault(audience_key(principal), set()).add(sub)
        return sub, self.cursor

    def unsubscribe(self, sub: Subscriber) -> None:
        key = audience_key(sub.principal)
        group = self._groups.get(key)
        if group is not None:
            group.discard(sub)
            if not group:
                del self._groups[key]

    def subscribers(self) -> list[Subscriber]:
        return [s for group in self._groups.values() for s in group]

    async def revoke(self, token_hash: str) -> None:
        """Close this token's sockets here and, through the bus, in every other process."""
        self._close_token(token_hash)
        await self.bus.publish({"revoke": token_hash})

    def _close_token(self, token_hash: str) -> None:
        for sub in self.subscribers():
            if sub.token_hash == token_hash:
                sub.drop(4401, "token revoked")

    def stats(self) -> dict[str, Any]:
        subs = self.subscribers()
        wired = [s.wire for s in subs if s.wire is not None]
        return {
            "clients": len(subs),
            "wired": len(wired),
            "max_queued": max((sub.queue.qsize() for sub in subs), default=0),
            "max_backlog": max((w.backlog() for w in wired), default=0),
            "cursor": self.cursor,
            "delivered": self.delivered,
            "dropped_slow": self.dropped_slow,
            "bus": type(self.bus).__name__,
            "bus_healthy": self.bus.healthy,
            "bus_reconnects": self.bus.reconnects,
        }

    # ------------------------------------------------------------ wake-ups

    def _local_commit(self, head: int | None) -> None:
        self._wake.set()
        self._to_publish = head  # only a hint: hubs read the log, the publisher coalesces
        self._publish_wake.set()

    def _on_bus(self, message: dict[str, Any]) -> None:
        if "revoke" in message:
            self._close_token(str(message["revoke"]))
        else:  # a head, or a reconnect after which anything may have been missed
            self._wake.set()

    async def _publish_loop(self) -> None:
        """Publish the newest head, coalescing bursts; never in the write path."""
        while True:
            await self._publish_wake.wait()
            self._publish_wake.clear()
            await self.bus.publish({"head": self._to_publish})

    # ------------------------------------------------------------ reading

    async def _read_loop(self) -> None:
        while True:
            timeout = self.config.poll_s if self.bus.healthy else self.config.degraded_poll_s
            await event_set(self._wake, timeout)
            self._wake.clear()
            try:
                await self.catch_up()
            except Exception as exc:  # database away: try again at the next wake-up or poll
                log.warning("feed: reading the event log failed: %s", exc)

    async def catch_up(self) -> None:
        """Deliver everything committed after the cursor.

        With no socket connected there is nobody to deliver to: the cursor moves to the
        head without reading the events (an API-only process never reads the log). A
        socket that subscribes meanwhile keeps the read: it was promised everything after
        the cursor it was given."""
        if not self._groups:
            head = await asyncio.to_thread(reader.head, self.read_engine)
            if not self._groups:
                self.cursor = max(self.cursor, head)
                return
        while True:
            events = await asyncio.to_thread(
                reader.events_after, self.read_engine, self.cursor, _NO_LIMIT, PAGE
            )
            if not events:
                return
            self._fan_out(events)
            self.cursor = events[-1].seq
            self.delivered += len(events)
            if len(events) < PAGE:
                return

    def _fan_out(self, events: list[reader.FeedEvent]) -> None:
        frames: dict[int, bytes] = {}  # each event framed once, for every wired socket
        now = asyncio.get_running_loop().time()
        for group in list(self._groups.values()):
            who = next(iter(group)).principal
            visible = [e for e in events if may_see(who, e)]
            if not visible:
                continue
            blob = b""
            for sub in list(group):
                if sub.dropped.done():
                    continue
                wire = sub.wire
                if wire is None:
                    self._enqueue(sub, visible)
                    continue
                if not wire.open:
                    continue  # the client left; its own task is unsubscribing it
                if wire.backlog() > self.config.backlog_max:
                    self._drop_slow(sub)
                    continue
                if not blob:
                    for e in visible:
                        if e.seq not in frames:
                            frames[e.seq] = text_frame(e.text)
                    blob = b"".join(frames[e.seq] for e in visible)
                wire.write(blob)
                sub.written_at = now

    def _enqueue(self, sub: Subscriber, visible: list[reader.FeedEvent]) -> None:
        try:
            for e in visible:
                sub.queue.put_nowait((e.seq, e.text))
        except asyncio.QueueFull:
            self._drop_slow(sub)

    def _drop_slow(self, sub: Subscriber) -> None:
        self.dropped_slow += 1
        sub.drop(4409, "client too slow: reload the snapshot")

    # ------------------------------------------------------------ revalidation

    async def _revalidate_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.revalidate_s)  # a period, not a wait for an event
            subs = self.subscribers()
            if not subs:
                continue
            try:
                valid = await asyncio.to_thread(self._valid_tokens, {s.token_hash for s in subs})
            except Exception as exc:
                log.warning("feed: cannot revalidate tokens: %s", exc)
                continue
            for sub in subs:
                if sub.token_hash not in valid:
                    sub.drop(4401, "token expired or revoked")


def make_hub(state: AppState) -> FeedHub:
    """The hub for this process: Redis pub/sub when ``REDIS_URL`` is set, else in-process."""
    s = state.settings
    config = HubConfig(
        queue_max=s.feed_queue_max,
        poll_s=s.feed_poll_s,
        degraded_poll_s=s.feed_degraded_poll_s,
        revalidate_s=s.feed_revalidate_s,
        backlog_max=s.feed_backlog_max,
    )
    bus = make_bus(
        s.redis_url, s.redis_prefix, sqlite_path=state.db.sqlite_path, watch_s=s.feed_watch_s
    )
    return FeedHub(state.db.read_engine, state.db.engine, bus, config, state.auth.valid_hashes)
