"""What the project's nginx does by itself, with no app process behind it: static files
from disk, bodies over the photo limit refused in the app's JSON shape, no /metrics, and a
503 with Retry-After in that shape when no process answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from proxykit import logged, needs_nginx

from dispatch.feed.client import FeedClient
from dispatch.ops.launch import free_port
from dispatch.ops.proxy import Proxy, ProxyConfig, body_limit

ROOT = Path(__file__).resolve().parents[2]
LIMIT = body_limit(100_000)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    needs_nginx()
    closed = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]  # nobody listens there
    cfg = ProxyConfig(f"127.0.0.1:{free_port()}", closed, ROOT / "web", LIMIT, workers="1")
    p = Proxy(cfg, tmp_path_factory.mktemp("nginx")).start()
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture(scope="module")
def http(proxy: Proxy) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"http://{proxy.cfg.listen}") as client:
        yield client


def test_no_process_answering_gives_503_with_retry_after(http: httpx.Client) -> None:
    for method, path in (("GET", "/api/v1/units"), ("POST", "/api/v1/reports")):
        r = http.request(method, path, json={} if method == "POST" else None)
        assert r.status_code == 503, path
        assert r.headers["retry-after"] == "5"
        assert r.json() == {
            "error": {
                "code": "unavailable",
                "message": "no application process answered; retry shortly",
                "details": None,
            }
        }


def test_a_body_over_the_limit_gets_413_in_the_apps_shape(http: httpx.Client) -> None:
    headers = {"Content-Type": "application/octet-stream"}
    over = http.post("/api/v1/photos", content=b"\0" * (LIMIT + 1), headers=headers)
    at = http.post("/api/v1/photos", content=b"\0" * LIMIT, headers=headers)
    assert over.status_code == 413
    assert over.json() == {
        "error": {
            "code": "payload_too_large",
            "message": "the request body is too large",
            "details": {"max_bytes": LIMIT},
        }
    }
    assert at.status_code == 503  # let through to the (absent) processes


def test_static_files_come_from_disk(http: httpx.Client) -> None:
    css = http.get("/static/css/base.css")
    assert css.status_code == 200
    assert css.content == (ROOT / "web" / "static" / "css" / "base.css").read_bytes()
    assert css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "no-cache"
    manifest = http.get("/static/report.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    assert http.get("/static/nope.js").status_code == 404
    outside = http.get("/static/%2e%2e/pages/shell.html")  # nginx resolves it to /pages/…
    assert outside.status_code != 200  # … and asks the app: no file outside static/ from disk


def test_metrics_are_not_served_through_the_proxy(http: httpx.Client) -> None:
    r = http.get("/metrics")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_the_access_log_is_json_without_query_strings(http: httpx.Client, proxy: Proxy) -> None:
    http.get("/static/css/base.css?token=secret-in-url", headers={"X-Request-ID": "rid-12345678"})
    mine = logged(proxy.access_log, lambda e: e["request_id"] == "rid-12345678")
    assert mine["path"] == "/static/css/base.css"
    assert mine["upstream"] == ""  # served from disk
    assert "secret-in-url" not in proxy.access_log.read_text()


async def test_a_feed_client_retries_a_proxy_with_no_process_behind_it(proxy: Proxy) -> None:
    """A 503 handshake is a deployment between processes, not a refusal: the client
    (dispatch.feed.client) keeps trying, where a 403 (origin) would end it."""
    feed = FeedClient(f"http://{proxy.cfg.listen}", "a-token", max_backoff_s=0.05)
    listening = asyncio.ensure_future(anext(feed.events()))
    marker = len(feed_handshakes(proxy))
    async with asyncio.timeout(10):  # nginx says so only in its log: polled, with a deadline
        while len(tries := feed_handshakes(proxy)[marker:]) < 3 and not listening.done():
            await asyncio.sleep(0.05)
    assert not listening.done()  # three handshakes answered 503, none taken as final
    assert {t["status"] for t in tries} == {503}
    await feed.close()
    listening.cancel()


def feed_handshakes(proxy: Proxy) -> list[dict[str, Any]]:
    log = proxy.access_log
    lines = log.read_text().splitlines() if log.exists() else []
    return [e for e in map(json.loads, lines) if e["path"] == "/api/v1/feed"]
