"""A client that goes away in the middle of sending its body (a phone losing its signal,
a load balancer giving up) is not an error of ours: nothing is written, nothing is
logged as an unhandled error, and the app serves the next request as before.

The app is called as the server calls it (ASGI): the body arrives in part, then
``http.disconnect``. Found under load (bench/load.py): clients that timed out during a
photo upload were logged as unhandled errors with a 500.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from apikit import Api, serve_app
from sqlalchemy import func, select

from dispatch.cases.models import Case
from dispatch.photos.models import Photo


@pytest.fixture(scope="module", params=["sqlite"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    yield from serve_app(request, tmp_path_factory)


async def _half_sent(api: Api, path: str, headers: dict[str, str], body: bytes) -> list[Any]:
    """POST ``body``'s first half, then the client is gone; what the app sent back."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": b"", "headers": raw, "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000), "state": {},
    }  # fmt: skip
    incoming = [
        {"type": "http.request", "body": body[: len(body) // 2], "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await api.app(scope, receive, send)
    return sent


def _count(api: Api, model: Any) -> int:
    with api.state.db.engine.connect() as c:
        return int(c.execute(select(func.count()).select_from(model)).scalar_one())


def _multipart(data: bytes) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return f"multipart/form-data; boundary={boundary}", body


@pytest.mark.parametrize("what", ["photo", "report"])
async def test_a_client_gone_mid_body_writes_nothing_and_is_no_error(
    api: Api, what: str, caplog: pytest.LogCaptureFixture
) -> None:
    auth = api.auth("worker1")
    if what == "photo":
        ctype, body = _multipart(b"\xff\xd8\xff\xe0" + bytes(200_000))
        path, headers = "/api/v1/photos", {**auth, "Content-Type": ctype}
    else:
        lon, lat = api.point_in("450103901")
        body = (f'{{"event_type":"06014","lon":{lon},"lat":{lat},'
                f'"description":"{"长" * 2000}"}}').encode()  # fmt: skip
        path = "/api/v1/reports"
        key = "client-gone-0001"
        headers = {**auth, "Content-Type": "application/json", "Idempotency-Key": key}
    photos, cases = _count(api, Photo), _count(api, Case)
    with caplog.at_level(logging.INFO):
        sent = await _half_sent(api, path, headers, body)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []  # no "unhandled error", no traceback
    assert (_count(api, Photo), _count(api, Case)) == (photos, cases)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] in ([], [499])  # nobody is there to read it
    assert "client went away" in caplog.text
    # and the next request of the same kind is served as usual
    if what == "report":
        again = api.report("worker1", key=key)
        assert again.status_code == 201, again.text
