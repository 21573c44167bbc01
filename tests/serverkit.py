"""Real processes for tests that need them: `griddispatch serve` on a port, a Redis server.

A test that must see what crosses a socket (websockets, several app processes, Redis going
away) cannot use the in-process TestClient; these start the real thing and wait for the line
in its output that says it is ready, never by sleeping a fixed time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import httpx
from apikit import DEMO_PASSWORD, Api

from dispatch.ops import launch
from geo import Grid

RedisServer = launch.RedisServer


def AppServer(database_url: str, tmp: Path, **env: str) -> launch.AppServer:  # noqa: N802
    """The app in a child process, with the tests' demo password."""
    return launch.AppServer(database_url, tmp, DEMO_PASSWORD, **env)


@contextmanager
def serving_pair(url: str, tmp: Path, grid: Grid, **env: str) -> Iterator[list[RemoteApi]]:
    """Two `griddispatch serve` processes on one database, started one after the other (the
    first runs the migrations), stopped at the end."""
    servers: list[launch.AppServer] = []
    try:
        for _ in range(2):
            servers.append(AppServer(url, tmp, **env).start())
        yield [RemoteApi(s.url, grid) for s in servers]
    finally:
        for s in servers:
            s.stop()


class RemoteApi(Api):
    """The Api test helper over HTTP to a served app (grid loaded in the test process)."""

    def __init__(self, base_url: str, grid: Grid) -> None:
        client = httpx.Client(base_url=base_url, timeout=30)
        super().__init__(
            client, SimpleNamespace(state=SimpleNamespace(gd=SimpleNamespace(grid=grid)))
        )
        self.base_url = base_url

    def token(self, user: str) -> str:
        return self.auth(user)["Authorization"].removeprefix("Bearer ")
