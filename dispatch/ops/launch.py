"""Starting the app and its helpers (Redis, a private PostgreSQL) as child processes: for
tests, benchmarks and the local multi-process stack. Each child's output goes to a log
file through a thread that also watches for the line saying it is ready, so a start awaits
that line, never a timer.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
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

    def __init__(
        self, cmd: list[str], log: Path, ready_line: str, env: dict[str, str], times: int = 1
    ) -> None:
        self.cmd, self.log, self.ready_line, self.env = cmd, log, ready_line, env
        #: how many times the line must appear (e.g. once per worker process)
        self.times = times
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        ready = threading.Event()
        self.proc = proc = subprocess.Popen(
            self.cmd, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )

        def pump() -> None:
            assert proc.stdout is not None
            seen = 0
            with self.log.open("ab") as out:
                for line in proc.stdout:
                    out.write(line)
                    out.flush()
                    if self.ready_line.encode() in line:
                        seen += 1
                        if seen >= self.times:
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


#: uvicorn's line once the app's lifespan (migrations, grid, city) is done and its socket
#: listens ("Application startup complete" comes before the bind: a client quick enough
#: was refused, as a test on a loaded machine found)
APP_READY_LINE = "Uvicorn running on"


def serve_command(port: int, host: str = "127.0.0.1") -> list[str]:
    """``griddispatch serve`` on ``port``; its access log follows GRIDDISPATCH_ACCESS_LOG."""
    return [sys.executable, "-m", "dispatch.cli", "serve", "--host", host, "--port", str(port),
            "--log-level", "info"]  # fmt: skip


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
            "GRIDDISPATCH_ACCESS_LOG": "false",  # quiet, unless the caller's env turns it on
            "DATABASE_URL": database_url,
            "GRIDDISPATCH_DEMO_PASSWORD": demo_password,
            "GRIDDISPATCH_PHOTO_DIR": str(tmp / "photos"),
            "GRIDDISPATCH_ESCALATION_INTERVAL_S": "3600",
            **env,
        }
        self.log = tmp / f"server-{self.port}.log"
        self.child = Child(cmd, self.log, APP_READY_LINE, environ)

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


class PostgresServer:
    """A PostgreSQL cluster of the caller's own (initdb in a temporary directory, a free
    port, trust auth for ``postgres`` on 127.0.0.1), so stopping it disturbs nobody.

        pg = PostgresServer().start()        # initdb on the first start
        url = pg.create_database("gd", postgis=True)
        pg.stop(); pg.start()                # an outage: the data stays
        pg.destroy()                         # stopped and deleted

    ``pg_ctl -w`` waits for the server to accept connections (or to be gone), so starting
    and stopping return when that has happened. As root (CI, these machines) every
    command runs as the ``postgres`` user, which owns the directory.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.bindir = _pg_bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="griddispatch-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bindir / tool), *args]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} {' '.join(args)} failed: {done.stderr}{tail}")

    def start(self) -> PostgresServer:
        if not self.data.exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-locale", "--no-sync")  # fmt: skip
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                   f"-c unix_socket_directories={self.dir} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")  # fmt: skip
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", str(int(START_TIMEOUT_S)), "start")  # fmt: skip
        return self

    def stop(self) -> None:
        """A fast shutdown: sessions are ended, clients see the server go away at once."""
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def create_database(self, name: str, *, postgis: bool = True) -> str:
        """A new database (PostGIS enabled unless told not to); its URL."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = self.url.rsplit("/", 1)[0] + f"/{name}"
        if postgis:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return url

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _pg_bindir() -> Path:
    """The server binaries (initdb, pg_ctl): pg_config's, else Debian's newest."""
    if pg_config := shutil.which("pg_config"):
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        bindir = Path(out.stdout.strip())
        if (bindir / "initdb").exists():
            return bindir
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts)
    if not found:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    return found[-1].parent
