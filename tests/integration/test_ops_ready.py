"""/healthz and /readyz on SQLite and on PostGIS; readiness fails, with Retry-After and the
failing check named, when the SQLite file is gone; a PostgreSQL that accepts connections
but never answers gives up after the connect timeout instead of hanging.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from apikit import Api

from dispatch.db import UNAVAILABLE, Database


def test_live_and_ready(api: Api) -> None:
    assert api.client.get("/healthz").json() == {"status": "ok"}
    r = api.client.get("/readyz")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "grid"}  # no REDIS_URL: no Redis check
    assert body["checks"]["database"]["ok"]
    assert body["checks"]["database"]["feed_head"] >= 0
    assert body["checks"]["grid"] == {
        "ok": True,
        "cells": len(api.state.grid),
        "version": api.state.grid_version,
    }


def test_not_ready_while_the_sqlite_file_is_gone(api: Api) -> None:
    if not api.state.db.is_sqlite:
        pytest.skip("SQLite only (the PostgreSQL outage: test_ops_outage.py)")
    path = Path(api.state.db.url.split("///", 1)[1])
    away = path.with_name(path.name + ".away")
    path.rename(away)  # the app's open connections keep the file; a new one finds none
    try:
        r = api.client.get("/readyz")
        assert r.status_code == 503
        assert r.headers["Retry-After"] == "5"
        error = r.json()["error"]
        assert error["code"] == "not_ready"
        assert error["details"]["failing"] == ["database"]
        assert error["details"]["checks"]["grid"]["ok"]
        assert not path.exists()  # the check never creates an empty database
    finally:
        away.rename(path)
    assert api.client.get("/readyz").status_code == 200


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word (a hung server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield int(s.getsockname()[1])


def test_a_server_that_never_answers_is_given_up_on(silent_server: int) -> None:
    db = Database(f"postgresql://postgres@127.0.0.1:{silent_server}/none", connect_timeout_s=2)
    try:
        for engine in (db.engine, db.probe_engine):
            with pytest.raises(UNAVAILABLE, match="timeout"), engine.connect():
                pass
    finally:
        db.dispose()
