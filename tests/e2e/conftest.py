"""Browser tests: the real app under uvicorn, driven in Debian's headless Chromium.

``live_app`` starts ``griddispatch serve`` on a free port with a throw-away SQLite database
and photo folder. ``browser`` is Playwright's Chromium launched from /usr/bin/chromium (never
a downloaded build). ``open_page`` makes a signed-in page in its own context (phone or wall
screen, a mocked GPS fix) whose every request is checked: a request to any other host is
aborted and fails the test, and so does an uncaught page error.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from apikit import DEMO_PASSWORD
from browserkit import ARGS, CHROMIUM, PHONE, ROOT, Guard, LiveApp, sign_in

START_TIMEOUT_S = 90.0


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"browser tests cannot run (CI is set, so this fails): {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    if not (ROOT / "web" / "static" / "vendor" / "leaflet" / "leaflet-src.esm.js").exists():
        pytest.fail("web/static/vendor is missing: run scripts/setup.sh (npm ci in web/)")
    tmp = tmp_path_factory.mktemp("live")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp / 'gd.sqlite'}",
        "GRIDDISPATCH_PHOTO_DIR": str(tmp / "photos"),
        "GRIDDISPATCH_DEMO_PASSWORD": DEMO_PASSWORD,
        "GRIDDISPATCH_ESCALATION_INTERVAL_S": "3600",
    }
    env.pop("REDIS_URL", None)
    log = tmp / "server.log"
    cli = Path(sys.executable).with_name("griddispatch")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(cli), "serve", "--port", str(port), "--log-level", "warning"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)  # polling the server's start-up, with a deadline
        yield LiveApp(url, f"127.0.0.1:{port}", proc, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _missing("Debian's chromium is not installed (scripts/test.sh installs it)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("the playwright package is not installed")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser: Any, live_app: LiveApp) -> Iterator[Callable[..., Any]]:
    """open_page(path, user, size=PHONE, geo=(lon, lat), before=fn) -> a signed-in page with
    .guard; ``before(page)`` runs before the first navigation (e.g. to route its websocket)."""
    contexts: list[tuple[Any, Guard]] = []

    def make(
        path: str,
        user: str | None,
        *,
        size: dict[str, int] = PHONE,
        geo: tuple[float, float] | None = None,
        locale: str = "zh-CN",
        before: Callable[[Any], None] | None = None,
    ) -> Any:
        guard = Guard()
        options: dict[str, Any] = {
            "viewport": size,
            "locale": locale,
            "timezone_id": "Asia/Shanghai",
        }
        if geo:
            options["geolocation"] = {"longitude": geo[0], "latitude": geo[1], "accuracy": 8}
            options["permissions"] = ["geolocation"]
        ctx = browser.new_context(**options)
        contexts.append((ctx, guard))

        def route(r: Any) -> None:
            netloc = urlsplit(r.request.url).netloc
            if r.request.url.startswith(("data:", "blob:")):
                r.continue_()
            elif netloc != live_app.host:
                guard.foreign.append(r.request.url)
                r.abort()
            elif guard.network_down:
                r.abort("internetdisconnected")
            elif guard.lose_reply and urlsplit(r.request.url).path == guard.lose_reply:
                guard.lose_reply = None
                guard.lost.append(r.fetch().status)  # the server answered; the page never hears
                r.abort("connectionreset")
            else:
                r.continue_()

        ctx.route("**/*", route)
        ctx.on("request", lambda q: guard.requests.append((q.method, q.url)))
        page = ctx.new_page()
        page.on("pageerror", lambda e: guard.errors.append(str(e)))
        page.guard = guard
        if before:
            before(page)
        page.goto(live_app.url + path)
        if user:
            sign_in(page, user)
        return page

    yield make
    for ctx, guard in contexts:
        ctx.close()
        assert not guard.foreign, f"requests to other hosts: {guard.foreign}"
        assert not guard.errors, f"uncaught errors in the page: {guard.errors}"
