"""Starting the app and its helpers as child processes: for tests, benchmarks and the
local multi-process stack. Each child's output goes to a log file through a thread that
also watches for the line saying it is ready, so a start awaits that line, never a timer.
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


START_TIMEOUT_S = 60.0


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
            raise RuntimeError(f"{self.cmd[0]} did not start: {self.log.read_text()[-3000:]}")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

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


#: uvicorn's line once the app's lifespan (migrations, grid, city) is done
APP_READY_LINE = "Application startup complete"


def serve_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """``griddispatch serve`` on ``port``, without access log (a proxy in front logs)."""
    return [sys.executable, "-m", "dispatch.cli", "serve", "--host", host, "--port", str(port),
            "--log-level", "info", "--no-access-log"]  # fmt: skip


class AppServer:
    """``griddispatch serve`` in a child process, with settings from ``env``."""

    def __init__(
        self, database_url: str, tmp: Path, demo_password: str, port: int | None = None, **env: str
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = serve_command(self.port)
        environ = {
            **os.environ,
            "DATABASE_URL": database_url,
            "GRIDDISPATCH_DEMO_PASSWORD": demo_password,
            "GRIDDISPATCH_PHOTO_DIR": str(tmp / "photos"),
            "GRIDDISPATCH_ESCALATION_INTERVAL_S": "3600",
            **env,
        }
        log = tmp / f"server-{self.port}.log"
        self.child = Child(cmd, log, APP_READY_LINE, environ)

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
        if exe is None:
            raise RuntimeError("redis-server is not installed")
        cmd = [exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", str(tmp)]  # fmt: skip
        log = tmp / f"redis-{self.port}.log"
        self.child = Child(cmd, log, "Ready to accept connections", dict(os.environ))

    def start(self) -> RedisServer:
        self.child.start(10)
        return self

    def stop(self) -> None:
        self.child.stop()
