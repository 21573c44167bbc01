"""The bus: wakes every process's feed hub when any of them commits. It carries no events.

Messages are small dicts: ``{"head": seq}`` after a commit (``null`` where the database
numbered the events inside COMMIT and nobody read the head), ``{"revoke": token_hash}`` when
a token is revoked, and the bus itself says ``{"reconnected": true}`` when it has
(re)subscribed, since anything published meanwhile was lost. A hub treats every message
only as a hint and reads the event log, so a lost, late or repeated message costs at most
one read; it never loses an event.

``MemoryBus`` serves one process; ``RedisBus`` many, over Redis pub/sub; ``SqliteBus`` the
processes sharing one SQLite file on one machine, with no Redis. Publishing never waits
long and never raises: Redis being away must not stop intake.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
import urllib.parse
import uuid
from collections.abc import Callable
from pathlib import Path
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
            async with asyncio.timeout(self._publish_timeout):  # not wait_for: dispatch/waits.py
                await self._pub.publish(self.channel, orjson.dumps(message))
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
            await _end(self._task)
        await self._pub.aclose()
        await self._sub.aclose()


class SqliteBus:
    """The processes serving one SQLite file hear each other's commits from the file itself.

    SQLite counts the commits other connections make to a database (``PRAGMA
    data_version``); a watcher reads that count every ``interval_s`` on a connection of its
    own and wakes the hub when it moved. It reads shared memory, not the disk: a few
    microseconds. What costs is waking the process: 200 times a second took 2.5 % of a core
    in an idle server (measured), so while nothing changes the period stretches by a
    quarter at each look, up to ``idle_s``, and drops back at the first change: a quiet
    city's first event waits at most ``idle_s`` more, a busy one's ``interval_s``.
    Revocations, which are not commits a hub could read back, are appended as
    lines to ``<database>-bus`` and picked up by the same watcher. Both are hints like any
    bus message: a lost line is made good by the hub's periodic token check.
    """

    #: past this size a writer starts the side file again, as a new file renamed over the
    #: old one (a reader that had not caught up relies on the token check for what it missed)
    SIDE_MAX = 2**20

    def __init__(self, db_path: Path, *, interval_s: float = 0.005, idle_s: float = 0.05) -> None:
        self.healthy = True
        self.reconnects = 0
        self.db_path = db_path
        self.side = db_path.with_name(db_path.name + "-bus")
        self.interval_s = interval_s
        self.idle_s = max(idle_s, interval_s)
        #: the current period (for tests and the curious)
        self.period_s = interval_s
        #: who wrote a side-file line: not the pid, which two containers sharing the file can
        #: both have (each would take the other's lines for its own)
        self.sender = uuid.uuid4().hex
        self._deliver: Deliver | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        conn = self.connect()
        # what is there now is the baseline: anything committed or revoked after start counts
        # (a file busy right now has no baseline: its first look counts as a change, a hint)
        _, version, _ = self._tick(conn, lambda _: None, -1, self._side_mark())
        watch = self._watch(conn, deliver, version, self._side_mark())
        self._task = asyncio.create_task(watch, name="feed-bus-sqlite")

    def connect(self) -> sqlite3.Connection:
        """The watch's own connection. Busy timeout 0: a busy file fails at once instead of
        holding the event loop in SQLite's busy handler (5 s by default); the next tick
        looks again."""
        uri = f"file:{urllib.parse.quote(str(self.db_path))}?mode=rw"
        return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=0)

    async def publish(self, message: dict[str, Any]) -> None:
        if self._deliver is not None:
            self._deliver(message)
        if "revoke" in message:
            line = f"revoke {message['revoke']} {self.sender}\n".encode()
            try:
                self._append(line)
            except OSError as exc:
                log.warning("feed bus: cannot write %s (%s)", self.side, exc)

    def _append(self, line: bytes) -> None:
        """One whole line, appended; writers take turns (``flock``). A full file is replaced
        by a new one holding just this line: readers see another inode and start at 0, where
        a file truncated in place and grown back past a reader's offset would be read from
        the middle of a line."""
        while True:
            fd = os.open(self.side, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                held = os.fstat(fd)
                if _inode(self.side) != held.st_ino:
                    continue  # replaced by another writer while we waited: open the new one
                if held.st_size <= self.SIDE_MAX:
                    _write_all(fd, line)
                    return
                fresh = self.side.with_name(f"{self.side.name}.{self.sender}")
                new = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    _write_all(new, line)
                finally:
                    os.close(new)
                os.replace(fresh, self.side)  # under the old file's lock: one writer at a time
                return
            finally:
                os.close(fd)  # and the lock with it

    def _side_mark(self) -> tuple[int, int]:
        """(inode, size) of the side file; (0, 0) while there is none."""
        try:
            st = os.stat(self.side)
        except FileNotFoundError:
            return (0, 0)
        return (st.st_ino, st.st_size)

    async def _watch(
        self, conn: sqlite3.Connection, deliver: Deliver, version: int, read: tuple[int, int]
    ) -> None:
        try:
            while True:
                try:
                    changed, version, read = self._tick(conn, deliver, version, read)
                except Exception as exc:  # a watch that died would leave the hub polling
                    if self.healthy:
                        log.warning("feed bus: cannot watch %s (%s)", self.db_path, exc)
                    self.healthy, changed = False, False
                else:
                    self.healthy = True
                self.period_s = next_period(self.period_s, changed, self.interval_s, self.idle_s)
                await asyncio.sleep(self.period_s)  # the watch's period
        finally:
            conn.close()

    def _tick(
        self, conn: sqlite3.Connection, deliver: Deliver, version: int, read: tuple[int, int]
    ) -> tuple[bool, int, tuple[int, int]]:
        """One look at the file and the side file: (changed, data version, (inode, offset)
        read up to in the side file)."""
        try:
            now = conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            now = version  # busy: look again at the next tick
        mark = self._side_mark()
        changed = now != version or mark != read
        if now != version:
            version = now
            deliver({"head": None})
        if mark != read:
            read = self._read_side(read, deliver)
        return changed, version, read

    def _read_side(self, read: tuple[int, int], deliver: Deliver) -> tuple[int, int]:
        """Deliver the whole lines past ``read`` of the file there now; where it is read up to."""
        try:
            with open(self.side, "rb") as f:
                inode = os.fstat(f.fileno()).st_ino
                offset = read[1] if inode == read[0] else 0  # another file: from its start
                f.seek(offset)
                chunk = f.read()
        except OSError:
            return read
        whole = chunk[: chunk.rfind(b"\n") + 1]
        for line in whole.splitlines():
            kind, value, sender = [*line.decode(errors="replace").split(" "), "", ""][:3]
            if kind == "revoke" and value and sender != self.sender:  # ours went out at once
                deliver({"revoke": value})
        return (inode, offset + len(whole))

    async def stop(self) -> None:
        self._deliver = None
        if self._task is not None:
            await _end(self._task)


async def _end(task: asyncio.Task[None]) -> None:
    """Cancel a bus's listening task and wait for its end. Whatever ended it stays its
    own (logged): a stop never raises the task's error, nor swallows a cancel of its caller."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.warning("feed bus: its task had ended: %r", exc)


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _write_all(fd: int, data: bytes) -> None:
    if os.write(fd, data) != len(data):  # one small write, whole or not at all in practice
        raise OSError("short write")


def next_period(period_s: float, changed: bool, fast_s: float, idle_s: float) -> float:
    """The watch's next period: ``fast_s`` after a change, a quarter longer after a quiet
    look, never past ``idle_s``."""
    return fast_s if changed else min(period_s * 1.25, idle_s)


def make_bus(
    redis_url: str | None, prefix: str, *, sqlite_path: Path | None = None, watch_s: float = 0.005
) -> Bus:
    """Redis when configured; else the SQLite file's own watch, or one process' memory."""
    if redis_url:
        return RedisBus(redis_url, prefix)
    if sqlite_path is not None:
        return SqliteBus(sqlite_path, interval_s=watch_s)
    return MemoryBus()
