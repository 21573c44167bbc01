"""Helpers for tests that run the project's nginx (dispatch.ops.proxy)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dispatch.ops import proxy


def needs_nginx() -> str:
    """The nginx binary; the test is skipped without it, except in CI (scripts/test.sh
    installs it there), where it fails."""
    try:
        return proxy.nginx_binary()
    except RuntimeError as exc:
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(f"CI must run the nginx checks: {exc}")
        pytest.skip(str(exc))


def logged(access_log: Path, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """The access log's line that ``match`` accepts. nginx writes it once the response is
    out, maybe after the client has read it, and says so nowhere else: polled, with a
    deadline."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = access_log.read_text() if access_log.exists() else ""
        for line in text.splitlines():
            entry: dict[str, Any] = json.loads(line)
            if match(entry):
                return entry
        time.sleep(0.05)
    raise AssertionError(f"no such line in {access_log}")
