"""Browser tests: the real app under uvicorn, driven in Debian's headless Chromium.

``live_app`` starts ``griddispatch serve`` (tests/serverkit.py) on a free port with a
throw-away SQLite database and photo folder (in-process bus). ``browser`` is Playwright's
Chromium launched from /usr/bin/chromium (never a downloaded build). ``open_page`` makes a
signed-in page in its own context (phone or wall screen, a mocked GPS fix) whose every request
is checked: a request to any other host is aborted and fails the test, and so does an uncaught
page error.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from browserkit import ARGS, CHROMIUM, PHONE, Guard, LiveApp, served, sign_in


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"browser tests cannot run (CI is set, so this fails): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory, nanning_grid: Any) -> Iterator[LiveApp]:
    """``griddispatch serve`` on a free port: SQLite in a temporary folder, in-process bus."""
    with served(tmp_path_factory.mktemp("live"), nanning_grid) as app:
        yield app


# per module, not per session: the sync API keeps an event loop running in this thread until
# it stops, and the async tests collected after tests/e2e cannot start theirs meanwhile
@pytest.fixture(scope="module")
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
