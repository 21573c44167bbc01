"""Log formatting without an app: what redaction replaces (and what it leaves), JSON and
text lines, the request context on records."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from dispatch.ops.logs import (
    JsonFormatter,
    RequestContext,
    RequestInfo,
    TextFormatter,
    current_request,
    note_user,
    redact,
)


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("Authorization: Bearer abc.DEF-123_x~", "abc.DEF-123_x~"),
        ('"WebSocket /api/v1/feed?since=3&token=s3cr3t" [accepted]', "s3cr3t"),
        ("api_key=K-123&service_code=06014", "K-123"),
        ('{"password": "hunter2", "user": "a"}', "hunter2"),
        ("access_token=tok9 refresh_token=tok10", "tok9"),
        ("联系电话13907718866请回电", "13907718866"),
        ("call +86 139 0771 8866", "0771 8866"),
        ("tel 138-0771-2345", "0771-2345"),
        ("座机 0771-5678901", "5678901"),
        ("身份证 45010319900307123X", "45010319900307123X"),
        ("mail someone@example.com.cn now", "someone@example"),
    ],
)
def test_redacted(text: str, gone: str) -> None:
    out = redact(text)
    assert gone not in out
    assert out != text


@pytest.mark.parametrize(
    "text",
    [
        "GET /api/v1/cases/{case_id} 200 3.1 ms",
        "cell 450103901001002 (15 digits), seq 13907718",
        "token expired or revoked: sign in again",
        "idempotency_key_reused, token_hash a1b2",
        "2026-11-25T02:19:00.123+00:00 took 1390771 µs",
    ],
)
def test_left_alone(text: str) -> None:
    assert redact(text) == text


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("griddispatch.test", logging.WARNING, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    return rec


def test_json_line_fields_and_redaction() -> None:
    try:
        raise RuntimeError("failed for Bearer leaked-token-1")
    except RuntimeError:
        rec = record("sign-in of %s", "x password=pw1", status=401)
        rec.exc_info = sys.exc_info()
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    doc = json.loads(line)
    assert list(doc)[:4] == ["time", "level", "logger", "message"]
    assert doc["level"] == "WARNING"
    assert doc["logger"] == "griddispatch.test"
    assert doc["time"].endswith("+00:00")
    assert doc["status"] == 401
    assert "pw1" not in line
    assert "leaked-token-1" not in line
    assert "RuntimeError" in doc["exc_info"]


def test_request_context_on_records() -> None:
    token = current_request.set(RequestInfo("rid-1"))
    try:
        note_user(42)
        rec = record("inside a request")
        assert RequestContext().filter(rec)
    finally:
        current_request.reset(token)
    assert json.loads(JsonFormatter().format(rec))["request_id"] == "rid-1"
    text = TextFormatter().format(rec)
    assert text.endswith("inside a request  [request_id=rid-1 user_id=42]")
    outside = record("no request")
    RequestContext().filter(outside)
    assert "request_id" not in json.loads(JsonFormatter().format(outside))
