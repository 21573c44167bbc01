"""The two-process stack behind the project's nginx, as `griddispatch stack` starts it.

A report posted through nginx reaches websocket clients that nginx placed on each of the
two processes; nginx serves the static files itself and passes the Host that a browser's
Origin is checked against; both processes share one photo folder. The command itself
starts everything, prints the URL once all are ready, and stops everything on SIGTERM.
(What nginx does on its own, with no app process behind it: tests/unit/test_proxy.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from feedkit import WAIT_S, Collector
from PIL import Image
from proxykit import logged
from serverkit import RedisServer
from stackkit import Views, make_stack, placed_collectors

from dispatch.feed.client import FeedClient, FeedRefused
from dispatch.ops.launch import Child, free_port
from dispatch.ops.stack import Stack
from geo import Grid

pytestmark = [pytest.mark.postgis, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def stack(
    pg_url_factory: Any, redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with make_stack(pg_url_factory(), redis_server.url, tmp_path_factory.mktemp("stack")) as s:
        yield s


@pytest.fixture(scope="module")
def views(stack: Stack, nanning_grid: Grid) -> Views:
    return Views.of(stack, nanning_grid)


async def test_a_report_through_nginx_reaches_clients_on_both_processes(views: Views) -> None:
    placed = await placed_collectors(views, 4)
    assert {p.process for p in placed} == {0, 1}  # round robin put sockets on both
    r = await asyncio.to_thread(views.proxy.report, k=101)
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]

    def has_it(c: Collector) -> bool:
        return any(e["type"] == "case.reported" and e["case_id"] == case_id for e in c.events)

    for p in placed:
        await p.collector.until(has_it)
    for p in placed:
        await p.collector.stop()


def test_static_files_are_served_by_nginx_and_pages_by_the_apps(stack: Stack, views: Views) -> None:
    path = "/static/vendor/leaflet/leaflet-src.esm.js"
    with httpx.Client(base_url=stack.url) as http:
        static = http.get(path)
        page = http.get("/report")
    assert static.status_code == 200
    assert static.content == (ROOT / "web" / path.lstrip("/")).read_bytes()
    assert static.headers["content-type"].startswith("application/javascript")
    assert static.headers["cache-control"] == "no-cache"
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert stack.proxy is not None
    log = stack.proxy.access_log
    assert logged(log, lambda e: e["path"] == path)["upstream"] == ""  # from disk
    backends = {f"127.0.0.1:{a.port}" for a in stack.apps}
    assert logged(log, lambda e: e["path"] == "/report")["upstream"] in backends


async def test_the_feed_accepts_the_proxys_own_origin_and_refuses_others(
    stack: Stack, views: Views
) -> None:
    token = await asyncio.to_thread(views.proxy.token, "commander")
    own = FeedClient(stack.url, token, origin=stack.url, reconnect=False)
    first = asyncio.ensure_future(anext(own.events()))
    async with asyncio.timeout(WAIT_S):  # nginx passed Host with its port: Origin matches
        await own.ready.wait()
    await own.close()
    with contextlib.suppress(StopAsyncIteration):
        await first
    foreign = FeedClient(stack.url, token, origin="http://evil.example", reconnect=False)
    with pytest.raises(FeedRefused) as refused:
        await anext(foreign.events())
    assert refused.value.code == 403  # closed before the upgrade was accepted


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24), (40, 90, 160)).save(buf, "JPEG")
    return buf.getvalue()


def test_photos_go_through_nginx_and_are_shared_by_both_processes(views: Views) -> None:
    up = views.proxy.client.post(
        "/api/v1/photos",
        files={"file": ("p.jpg", jpeg(), "image/jpeg")},
        headers=views.proxy.auth("worker1"),
    )
    assert up.status_code == 201, up.text
    photo = up.json()["id"]
    for api in views.direct:  # whichever process stored it, both serve it
        got = api.client.get(f"/api/v1/photos/{photo}", headers=api.auth("worker1"))
        assert got.status_code == 200
        assert got.headers["content-type"] == "image/jpeg"


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_the_stack_command_starts_all_prints_the_url_and_stops_all_on_sigterm(
    pg_url_factory: Any, redis_server: RedisServer, tmp_path: Path
) -> None:
    port, app_ports = free_port(), [free_port(), free_port()]
    cmd = [sys.executable, "-m", "dispatch.cli", "stack", "--port", str(port),
           "--app-ports", ",".join(map(str, app_ports)), "--run-dir", str(tmp_path / "run"),
           "--nginx-workers", "1"]  # fmt: skip
    env = {
        **os.environ,
        "DATABASE_URL": pg_url_factory(),
        "REDIS_URL": redis_server.url,
        "GRIDDISPATCH_DEMO_PASSWORD": "stack-pass-123",
        "GRIDDISPATCH_PHOTO_DIR": str(tmp_path / "photos"),
    }
    command = Child(cmd, tmp_path / "stack.log", "griddispatch stack ready at", env)
    command.start(180)
    try:
        out = command.log.read_text()
        assert f"ready at http://127.0.0.1:{port}" in out
        assert "demo accounts created" in out
        assert all(port_open(p) for p in [port, *app_ports])
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            data={"username": "commander", "password": "stack-pass-123"},
        )
        assert r.status_code == 200  # through nginx to a migrated, seeded database
    finally:
        assert command.proc is not None
        command.proc.send_signal(signal.SIGTERM)
        assert command.proc.wait(60) == 0
    assert not any(port_open(p) for p in [port, *app_ports])  # nginx and both apps gone
    assert "stopping" in command.log.read_text()
