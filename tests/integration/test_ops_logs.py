"""The log of a served app, read as an operator's log store would get it: every line a JSON
object, every request's lines carrying its id, and none of the secrets or personal data
the test plants in requests (passwords, bearer tokens, an Open311 api_key, tokens in query
strings, the feed's auth message, a reporter's phone number).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets
from apikit import DEMO_PASSWORD
from serverkit import AppServer, RemoteApi
from websockets.exceptions import ConnectionClosed

from dispatch.ops.launch import AppServer as Served
from geo import Grid

pytestmark = pytest.mark.slow

WRONG_PASSWORD = "Plant-Pw-7f3a9c"
FAKE_BEARER = "plantedBearer0xdeadbeef"
API_KEY = "planted-api-key-5d1e"
QUERY_TOKEN = "planted-query-token-9b2"
PHONE = "13907718866"
REQUEST_ID = "req-plant-0001"


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, nanning_grid: Grid
) -> Iterator[tuple[RemoteApi, Served]]:
    tmp = tmp_path_factory.mktemp("logs")
    env = {"GRIDDISPATCH_LOG_FORMAT": "json", "GRIDDISPATCH_ACCESS_LOG": "true"}
    server = AppServer(f"sqlite:///{tmp / 'gd.sqlite'}", tmp, **env).start()
    try:
        yield RemoteApi(server.url, nanning_grid), server
    finally:
        server.stop()


async def feed_session(api: RemoteApi, token: str) -> None:
    """A feed socket with a token in its query string too (the server ignores it; the URL
    is in uvicorn's line), then one whose auth message carries a planted token."""
    url = "ws" + api.base_url.removeprefix("http") + f"/api/v1/feed?token={QUERY_TOKEN}"
    async with websockets.connect(url) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": token}).decode())
        assert orjson.loads(await ws.recv())["type"] == "ready"
    url = "ws" + api.base_url.removeprefix("http") + "/api/v1/feed"
    async with websockets.connect(url) as ws:
        await ws.send(orjson.dumps({"type": "auth", "token": FAKE_BEARER}).decode())
        with pytest.raises(ConnectionClosed):
            await ws.recv()


def plant(api: RemoteApi) -> tuple[list[str], dict[str, Any]]:
    """Requests carrying the planted values; the secrets that must not be logged, and what
    the test learned (the worker's user id, the answer to the request with our id)."""
    c = api.client
    assert (
        c.post(
            "/api/v1/auth/token", data={"username": "worker1", "password": WRONG_PASSWORD}
        ).status_code
        == 401
    )
    worker = api.token("worker1")  # a sign-in with the real password
    me = c.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {worker}"}).json()
    assert (
        c.get("/api/v1/cases", headers={"Authorization": f"Bearer {FAKE_BEARER}"}).status_code
        == 401
    )
    report = api.report(description=f"车主电话 {PHONE}，请联系 138-0771-2345")
    assert report.status_code == 201
    tagged = c.get(
        "/api/v1/cases",
        params={"token": QUERY_TOKEN, "access_token": QUERY_TOKEN},
        headers={"Authorization": f"Bearer {worker}", "X-Request-ID": REQUEST_ID},
    )
    assert tagged.status_code == 200
    assert tagged.headers["X-Request-ID"] == REQUEST_ID
    odd = c.get("/healthz", headers={"X-Request-ID": "not an id; <script>"})
    assert odd.headers["X-Request-ID"] != "not an id; <script>"
    by_phone = c.get(f"/api/v1/cases/{PHONE}", headers={"Authorization": f"Bearer {worker}"})
    assert by_phone.status_code == 422  # the phone number is in the path of this one
    form = {"api_key": API_KEY, "service_code": "06014", "lat": "22.8", "long": "108.3"}
    assert c.post("/open311/v2/requests.json", data=form).status_code == 403
    assert c.post(f"/open311/v2/requests.json?api_key={API_KEY}", data=form).status_code == 403
    asyncio.run(feed_session(api, worker))
    secrets = [WRONG_PASSWORD, DEMO_PASSWORD, worker, FAKE_BEARER, API_KEY, QUERY_TOKEN, PHONE,
               "0771-2345", "138-0771"]  # fmt: skip
    return secrets, {"user_id": me["id"], "odd_id": odd.headers["X-Request-ID"]}


def read_log(path: Path) -> tuple[str, list[dict[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one object
    return text, lines


def test_json_lines_with_request_ids_and_nothing_secret(
    served: tuple[RemoteApi, Served],
) -> None:
    api, server = served
    secrets, seen = plant(api)
    run = uuid.uuid4().hex  # a last request: once its line is in, all before it are
    assert api.client.get("/healthz", headers={"X-Request-ID": run}).status_code == 200
    server.stop()  # its output is flushed and closed
    text, lines = read_log(server.log)
    assert any(line.get("request_id") == run for line in lines)
    for secret in secrets:
        assert secret not in text, secret
        assert urllib.parse.quote(secret) not in text, secret
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
    access = [line for line in lines if line["logger"] == "griddispatch.access"]
    assert len(access) >= 12
    for line in access:
        assert {"request_id", "method", "route", "status", "duration_ms"} <= line.keys(), line
        assert "?" not in line["path"]  # never a query string
    tagged = [line for line in lines if line.get("request_id") == REQUEST_ID]
    assert [(t["route"], t["status"], t["user_id"]) for t in tagged] == [
        ("/api/v1/cases", 200, seen["user_id"])
    ]
    assert any(line.get("request_id") == seen["odd_id"] for line in access)
    sockets = [line for line in access if line["method"] == "WEBSOCKET"]
    assert [s["status"] for s in sockets] == [101, 101]
    assert sockets[0]["user_id"] == seen["user_id"]
    # the lines written while serving a request carry its id too (uvicorn's socket lines)
    assert any(
        line["logger"] == "uvicorn.error" and line.get("request_id") == sockets[0]["request_id"]
        for line in lines
    )
