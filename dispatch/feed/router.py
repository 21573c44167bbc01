"""``WS /api/v1/feed`` and ``GET /api/v1/feed/snapshot``; the protocol is in docs/api.md.

A socket's life: Origin check → accept → the first message must be ``auth`` → ``ready``
→ replay from ``since`` (straight from the log, filtered) → live events from the hub's
queue, skipping any the replay already sent → heartbeats while idle. The hub may drop it
(slow, revoked); the client may go away; either way it is unsubscribed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, Field

from dispatch.auth.principal import Principal
from dispatch.auth.service import token_hash
from dispatch.db import UNAVAILABLE
from dispatch.deps import PrincipalDep, StateDep
from dispatch.errors import DomainError, Forbidden
from dispatch.feed import reader
from dispatch.feed.audience import may_see
from dispatch.feed.hub import PAGE, Subscriber
from dispatch.feed.wire import EXTENSION, Wire, text_frame
from dispatch.ops.logs import note_user
from dispatch.state import AppState

log = logging.getLogger("griddispatch.feed")
router = APIRouter(prefix="/api/v1/feed", tags=["feed"])

#: close codes (4000-4999 are the application's own)
AUTH_FAILED, ORIGIN_REFUSED, AUTH_TIMEOUT, RESYNC = 4401, 4403, 4408, 4409
#: RFC 6455 "try again later": the database is away; clients reconnect with backoff
TRY_AGAIN = 1013


class Snapshot(BaseModel):
    seq: int
    cases: list[dict[str, Any]]


@router.get("/snapshot", response_model=Snapshot)
async def snapshot(state: StateDep, principal: PrincipalDep) -> Snapshot:
    """The open cases (and their tickets) the caller may see, current as of ``seq``: load
    this, then connect the feed with ``since=seq``."""
    seq, cases = await asyncio.to_thread(reader.open_cases, state.db.read_engine, principal)
    return Snapshot(seq=seq, cases=cases)


class FeedStats(BaseModel):
    clients: int = Field(description="sockets connected to this process")
    wired: int = Field(description="of those, live ones the hub writes frames to directly")
    max_queued: int = Field(description="the longest queue of events waiting for a socket")
    max_backlog: int = Field(description="the most bytes written to a socket but not yet sent")
    cursor: int = Field(description="the last seq this process has delivered")
    delivered: int = Field(description="events read from the log since the process started")
    dropped_slow: int = Field(description="sockets dropped for falling behind")
    bus: str
    bus_healthy: bool
    bus_reconnects: int


@router.get("/stats", response_model=FeedStats)
async def stats(state: StateDep, principal: PrincipalDep) -> FeedStats:
    """This process's feed: connected clients, position, drops, bus health (command center)."""
    if not principal.sees_city:
        raise Forbidden("only the command center and dispatchers see the feed's figures")
    return FeedStats(**state.feed.stats())


def origin_allowed(ws: WebSocket, allowed: list[str]) -> bool:
    """Browsers always send Origin: it must be this host or listed. Other clients send none."""
    origin = ws.headers.get("origin")
    if origin is None or "*" in allowed or origin in allowed:
        return True
    return urlsplit(origin).netloc.lower() == ws.headers.get("host", "").lower()


def _control(kind: str, **fields: Any) -> str:
    return orjson.dumps({"type": kind, **fields}).decode()


@router.websocket("")
async def feed(ws: WebSocket, since: int | None = Query(default=None, ge=0)) -> None:
    state: AppState = ws.app.state.gd
    settings = state.settings
    if not origin_allowed(ws, settings.feed_origins):
        await ws.close(code=ORIGIN_REFUSED, reason="origin not allowed")
        return
    await ws.accept()
    try:
        principal, token = await _authenticate(ws, state)
    except UNAVAILABLE:
        await _close(ws, TRY_AGAIN, "database unavailable: retry shortly")
        return
    if principal is None:
        return
    note_user(principal.user_id)
    hub = state.feed
    wire = _wire(ws)
    sub, live_from = hub.subscribe(principal, token_hash(token))
    try:
        await ws.send_text(_control("ready", head=live_from, since=since))
        if since is not None and (
            since > live_from or live_from - since > settings.feed_replay_max
        ):
            sub.drop(RESYNC, "since is out of range: reload the snapshot")
            last = live_from
        else:
            last = await _replay(ws, wire, state, principal, since, live_from)
        await _serve(ws, wire, sub, last, settings.feed_heartbeat_s, lambda: hub.cursor)
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away
    except UNAVAILABLE:  # the replay could not read the log
        await _close(ws, TRY_AGAIN, "database unavailable: retry shortly")
    finally:
        hub.unsubscribe(sub)


async def _authenticate(ws: WebSocket, state: AppState) -> tuple[Principal | None, str]:
    timeout = state.settings.feed_auth_timeout_s
    try:
        async with asyncio.timeout(timeout):  # not wait_for: see dispatch/waits.py
            text = await ws.receive_text()
        first = orjson.loads(text)
    except TimeoutError:
        await ws.close(code=AUTH_TIMEOUT, reason="send the auth message first")
        return None, ""
    except (orjson.JSONDecodeError, KeyError):
        await ws.close(code=AUTH_FAILED, reason="the first message must be JSON")
        return None, ""
    except WebSocketDisconnect:
        return None, ""
    token = first.get("token") if isinstance(first, dict) else None
    if not (isinstance(first, dict) and first.get("type") == "auth" and isinstance(token, str)):
        await ws.close(code=AUTH_FAILED, reason='first message: {"type": "auth", "token": ...}')
        return None, ""
    try:
        principal = state.auth.cached(token) or await asyncio.to_thread(state.auth.principal, token)
    except DomainError as exc:
        await ws.close(code=AUTH_FAILED, reason=exc.message[:120])
        return None, ""
    return principal, token


def _wire(ws: WebSocket) -> Wire | None:
    wire = ws.scope.get("extensions", {}).get(EXTENSION)
    return wire if isinstance(wire, Wire) and wire.usable else None


async def _replay(
    ws: WebSocket,
    wire: Wire | None,
    state: AppState,
    principal: Principal,
    since: int | None,
    upto: int,
) -> int:
    """Send the caller's events in ``(since, upto]`` from the log; the last seq covered.

    Wired, a page goes out in one write, and the next waits until the socket drains."""
    if since is None:
        return upto
    after = since
    while after < upto:
        events = await asyncio.to_thread(
            reader.events_after, state.db.read_engine, after, upto, PAGE
        )
        if not events:
            break
        visible = [e.text for e in events if may_see(principal, e)]
        if wire is not None:
            await wire.writable()
            if not wire.open:
                raise WebSocketDisconnect(1006)
            wire.write(b"".join(text_frame(t) for t in visible))
        else:
            for text in visible:
                await ws.send_text(text)
        after = events[-1].seq
    return upto


async def _serve(
    ws: WebSocket, wire: Wire | None, sub: Subscriber, last: int, heartbeat_s: float, head: Any
) -> None:
    """Live events until the client leaves or the hub drops it.

    Sending runs in its own task, so a drop can interrupt a send stuck on a client that
    stopped reading; the three-way wait happens once per connection, not per message."""
    if wire is not None and wire.open:
        sub.go_direct(wire, last)
        sender = asyncio.create_task(_heartbeats(ws, sub, heartbeat_s, head))
    else:
        sender = asyncio.create_task(_send_live(ws, sub, last, heartbeat_s, head))
    receiver = asyncio.create_task(_drain_incoming(ws))
    try:
        waiting: set[asyncio.Future[Any]] = {sender, receiver, sub.dropped}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if sub.dropped.done():
            sender.cancel()
            code, reason = sub.dropped.result()
            await _close(ws, code, reason)
        elif sender.done() and not sender.cancelled():
            sender.result()  # a send that failed: the client is gone
    finally:
        for task in (sender, receiver):
            task.cancel()
        await asyncio.gather(sender, receiver, return_exceptions=True)


async def _send_live(
    ws: WebSocket, sub: Subscriber, last: int, heartbeat_s: float, head: Any
) -> None:
    """Send what the hub queues, in order, skipping what the replay covered; everything
    already waiting goes out in one go. A heartbeat when nothing came for a while."""
    queue = sub.queue
    while True:
        try:
            async with asyncio.timeout(heartbeat_s):
                item = await queue.get()
        except TimeoutError:
            await ws.send_text(_control("heartbeat", head=head()))
            continue
        batch = [item]
        while not queue.empty():
            batch.append(queue.get_nowait())
        for seq, text in batch:
            if seq > last:
                await ws.send_text(text)
                last = seq


async def _heartbeats(ws: WebSocket, sub: Subscriber, heartbeat_s: float, head: Any) -> None:
    """A wired socket's own task: the hub writes its events; this says "still here" when
    nothing went out for ``heartbeat_s``."""
    loop = asyncio.get_running_loop()
    while True:
        idle = loop.time() - sub.written_at
        if idle >= heartbeat_s:
            await ws.send_text(_control("heartbeat", head=head()))
            sub.written_at = loop.time()
            idle = 0.0
        await asyncio.sleep(heartbeat_s - idle)  # a period, not a wait for an event


async def _drain_incoming(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, so a close from its side is noticed."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await ws.receive_text()


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    """Tell a dropped client why, without letting a stuck socket hold us up."""
    with contextlib.suppress(Exception):
        if code == RESYNC:
            async with asyncio.timeout(1.0):
                await ws.send_text(_control("resync", reason=reason))
        async with asyncio.timeout(1.0):
            await ws.close(code=code, reason=reason)
