"""The production topology without containers: migrations once, N app processes, nginx.

The same shape as docker-compose.yml, on the local PostgreSQL + PostGIS and Redis: the
schema is migrated once before any process starts, the processes start one after the
other (each awaited by its ready line), and the project's nginx configuration, filled
with their ports, goes in front on one port. ``griddispatch stack`` runs it until Ctrl-C
or SIGTERM; tests and benchmarks use :class:`Stack` directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from dispatch.config import Settings
from dispatch.ops.launch import APP_READY_LINE, Child, free_port, serve_command
from dispatch.ops.proxy import Proxy, ProxyConfig, body_limit

#: a line of the first process's output worth showing to whoever started the stack
NOTICES = ("demo accounts created",)


@dataclass
class AppProcess:
    port: int
    child: Child

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.child.alive


def _setting(env: Mapping[str, str], name: str) -> str | None:
    """A GRIDDISPATCH_ setting as the app processes will read it (names are case-blind)."""
    wanted = f"GRIDDISPATCH_{name}".lower()
    return next((v for k, v in env.items() if k.lower() == wanted), None)


class Stack:
    """``apps`` processes of ``griddispatch serve`` behind the project's nginx."""

    def __init__(
        self,
        database_url: str,
        run_dir: Path,
        *,
        redis_url: str,
        apps: int = 2,
        port: int | None = None,
        host: str = "127.0.0.1",
        app_ports: list[int] | None = None,
        env: Mapping[str, str] | None = None,
        nginx_workers: str = "auto",
    ) -> None:
        if database_url.startswith("sqlite"):
            raise ValueError("several processes need PostgreSQL: SQLite allows one writer")
        if app_ports is not None and len(app_ports) != apps:
            raise ValueError(f"{apps} app processes need {apps} ports, got {app_ports}")
        self.database_url = database_url
        self.run_dir = run_dir
        self.host = host
        self.port = port or free_port()
        self.app_ports = app_ports or [free_port() for _ in range(apps)]
        self.nginx_workers = nginx_workers
        self.env = {
            "GRIDDISPATCH_ACCESS_LOG": "false",  # nginx in front logs every request
            **os.environ,
            **(env or {}),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
        }
        self.apps: list[AppProcess] = []
        self.proxy: Proxy | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def proxy_config(self) -> ProxyConfig:
        defaults = Settings.model_fields
        web_dir = _setting(self.env, "WEB_DIR") or str(defaults["web_dir"].default)
        photo_max = _setting(self.env, "MAX_PHOTO_BYTES") or defaults["max_photo_bytes"].default
        return ProxyConfig(
            listen=f"{self.host}:{self.port}",
            upstreams=[f"127.0.0.1:{p}" for p in self.app_ports],
            web_root=Path(web_dir),
            max_body_bytes=body_limit(int(photo_max)),
            workers=self.nginx_workers,
        )

    def start(self) -> Stack:
        """Migrate, start each process and await it, then nginx; all or nothing."""
        from dispatch.migrate import upgrade

        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            upgrade(self.database_url)
            for port in self.app_ports:
                log = self.run_dir / f"app-{port}.log"
                log.unlink(missing_ok=True)  # this run's lines only (notices() reads it)
                child = Child(serve_command(port), log, APP_READY_LINE, self.env)
                child.start()
                self.apps.append(AppProcess(port, child))
            self.proxy = Proxy(self.proxy_config(), self.run_dir / "nginx").start()
        except BaseException:
            self.stop()
            raise
        return self

    def notices(self) -> list[str]:
        """Lines of the processes' output meant for the operator (the demo password)."""
        found = []
        for app in self.apps:
            for line in app.child.log.read_text(errors="replace").splitlines():
                if any(n in line for n in NOTICES):
                    found.append(line.strip())
        return found

    def stop(self) -> None:
        """nginx first (no new requests), then the processes, last started first."""
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        for app in reversed(self.apps):
            app.child.stop()
        self.apps = []

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
