"""Helpers of the browser tests (tests/e2e): the live app's handle, request guard, screenshots."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apikit import DEMO_PASSWORD
from serverkit import AppServer, RemoteApi

from geo import Grid

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
SHOTS = ROOT / "test-artifacts" / "screenshots"
#: Debian's Chromium, headless, with everything that would call home switched off
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 390, "height": 844}
WALL = {"width": 1920, "height": 1080}


@dataclass
class LiveApp:
    """The served app (tests/serverkit.AppServer) and JSON helpers over its API."""

    url: str
    host: str
    api: RemoteApi

    def token(self, user: str) -> str:
        return self.api.token(user)

    def get(self, user: str, path: str, **params: Any) -> Any:
        r = self.api.get(user, path, **params)
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, user: str, path: str, body: Any, **headers: str) -> Any:
        r = self.api.client.post(
            f"/api/v1{path}", json=body, headers={**self.api.auth(user), **headers}
        )
        assert r.status_code in (200, 201), r.text
        return r.json()


@contextmanager
def served(tmp: Path, grid: Grid, **env: str) -> Iterator[LiveApp]:
    """``griddispatch serve`` on a free port: SQLite in ``tmp``, in-process bus, ``env`` on top."""
    if not (ROOT / "web" / "static" / "vendor" / "leaflet" / "leaflet-src.esm.js").exists():
        raise AssertionError("web/static/vendor is missing: run scripts/setup.sh (npm ci in web/)")
    server = AppServer(f"sqlite:///{tmp / 'gd.sqlite'}", tmp, REDIS_URL="", **env).start()
    try:
        yield LiveApp(server.url, f"127.0.0.1:{server.port}", RemoteApi(server.url, grid))
    finally:
        server.stop()


@dataclass
class Guard:
    """What a context did that must fail the test."""

    foreign: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: set True to make the app's own host unreachable too (a cut network)
    network_down: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)
    #: path whose next reply is lost on the way back: the server handles the request, the
    #: page sees a network failure (as on a weak signal)
    lose_reply: str | None = None
    lost: list[int] = field(default_factory=list)


def sign_in(page: Any, user: str) -> None:
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click(".signin-card button[type=submit]")
    page.wait_for_selector(".appbar")


def shoot(page: Any, name: str) -> Path:
    """Save a screenshot under test-artifacts/screenshots/ (kept by CI, looked at by people)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_function("!document.querySelector('.toast')")  # messages fade in seconds
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
