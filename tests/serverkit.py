"""Real processes for tests that need them: `griddispatch serve` on a port, a Redis server.

A test that must see what crosses a socket (websockets, several app processes, Redis going
away) cannot use the in-process TestClient; these start the real thing and wait for the line
in its output that says it is ready, never by sleeping a fixed time.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import httpx
from apikit import DEMO_PASSWORD, Api

from geo import Grid

START_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Child:
    """A child process whose output goes to a log file through a thread that also watches
    for the line saying it is ready, so starting it awaits that line instead of polling."""

    def __init__(self, cmd: list[str], log: Path, ready_line: str, env: dict[str, str]) -> None:
        self.cmd, self.log, self.ready_line, self.env = cmd, log, ready_line, env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        ready = threading.Event()
        self.proc = proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

        def pump() -> None:
            assert proc.stdout is not None
            with self.log.open("ab") as out:
                for line in proc.stdout:
                    out.write(line)
                    out.flush()
                    if self.ready_line.encode() in line:
                        ready.set()
            ready.set()  # it ended: stop waiting, start() sees it gone

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(timeout) or proc.poll() is not None:
            self.stop()
            raise AssertionError(f"{self.cmd[0]} did not start: {self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class AppServer:
    """``griddispatch serve`` in a child process, with settings from ``env``."""

    def __init__(self, database_url: str, tmp: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, "-m", "dispatch.cli", "serve", "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "info", "--no-access-log"]  # fmt: skip
        environ = {
            **os.environ,
            "DATABASE_URL": database_url,
            "GRIDDISPATCH_DEMO_PASSWORD": DEMO_PASSWORD,
            "GRIDDISPATCH_PHOTO_DIR": str(tmp / "photos"),
            "GRIDDISPATCH_ESCALATION_INTERVAL_S": "3600",
            **env,
        }
        log = tmp / f"server-{self.port}.log"
        self.child = Child(cmd, log, "Application startup complete", environ)

    def start(self) -> AppServer:
        self.child.start()
        return self

    def stop(self) -> None:
        self.child.stop()


class RedisServer:
    """A Redis of the test's own on a free port, so stopping it disturbs nobody else."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        exe = shutil.which("redis-server")
        assert exe, "redis-server is not installed"
        cmd = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(tmp)]  # fmt: skip
        log = tmp / f"redis-{self.port}.log"
        self.child = Child(cmd, log, "Ready to accept connections", dict(os.environ))

    def start(self) -> RedisServer:
        self.child.start(10)
        return self

    def stop(self) -> None:
        self.child.stop()


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
