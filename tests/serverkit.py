"""Real processes for tests that need them: `griddispatch serve` on a port, a Redis server.

A test that must see what crosses a socket (websockets, several app processes, Redis going
away) cannot use the in-process TestClient; these start the real thing and wait for it by
polling its health, never by sleeping a fixed time.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from apikit import DEMO_PASSWORD, Api

from geo import Grid

START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Any, timeout: float, what: str) -> None:
    """Poll ``check()`` until true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class AppServer:
    """``griddispatch serve`` in a child process, with settings from ``env``."""

    def __init__(self, database_url: str, tmp: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "GRIDDISPATCH_DEMO_PASSWORD": DEMO_PASSWORD,
            "GRIDDISPATCH_PHOTO_DIR": str(tmp / "photos"),
            "GRIDDISPATCH_ESCALATION_INTERVAL_S": "3600",
            **env,
        }
        self.log = tmp / f"server-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> AppServer:
        cmd = [sys.executable, "-m", "dispatch.cli", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "warning"]  # fmt: skip
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        wait_until(self._up, START_TIMEOUT_S, f"the app on port {self.port} ({self.log})")
        return self

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the app exited: {self.log.read_text()[-2000:]}")
        try:
            return httpx.get(self.url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class RedisServer:
    """A Redis of the test's own on a free port, so stopping it disturbs nobody else."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisServer:
        exe = shutil.which("redis-server")
        assert exe, "redis-server is not installed"
        cmd = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self._up, 10, f"redis on port {self.port}")
        return self

    def _up(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


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
