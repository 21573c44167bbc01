"""/metrics after known traffic, on SQLite and on PostGIS: requests per route template,
reports by outcome, cases by status, overdue tickets, feed clients and lag; a bearer token
when configured; and several worker processes adding up (prometheus_client's files).

The traffic goes to a served app of the test's own (a fresh process and database), with
live-feed clients connected over real sockets; counters are still compared before and
after, since the fixture's own sign-ins and the test's reads count too.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from apikit import Api, serve_app
from feedkit import Collector, head_now
from prometheus_client.parser import text_string_to_metric_families
from serverkit import AppServer, RemoteApi
from sqlalchemy import select, update
from sqlmodel import Session, col

from dispatch.db import Database
from dispatch.dbtypes import utcnow
from dispatch.ops import launch
from dispatch.tickets.models import Ticket
from geo import Grid

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, nanning_grid: Grid
) -> Iterator[tuple[RemoteApi, Database]]:
    tmp = tmp_path_factory.mktemp(f"metrics-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'gd.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url_factory")()
    server = AppServer(url, tmp, GRIDDISPATCH_METRICS_CACHE_S="0").start()
    db = Database(url)  # the test's own way in, to make a ticket overdue
    try:
        yield RemoteApi(server.url, nanning_grid), db
    finally:
        server.stop()
        db.dispose()


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(client: Any, **headers: str) -> Samples:
    r = client.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


def val(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, method: str, route: str, status: int) -> float:
    return val(
        samples, "griddispatch_http_requests_total", method=method, route=route, status=str(status)
    )


def traffic(api: RemoteApi, db: Database) -> tuple[int, int]:
    """Three reports (a new case, a duplicate that joins it, a retry), reads (one of them
    404), an unknown path, one ticket made overdue; the case and the head after it all."""
    first, dup = str(uuid.uuid4()), str(uuid.uuid4())
    opened = api.report(key=first, k=3)
    joined = api.report(key=dup, k=3)  # the same place and type: joins the open case
    replay = api.report(key=first, k=3)  # a retry of the first
    assert [opened.status_code, joined.status_code, replay.status_code] == [201, 201, 201]
    assert joined.json()["joined_existing"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    case_id = int(opened.json()["id"])
    assert api.get("dispatcher", f"/cases/{case_id}").status_code == 200
    assert api.get("dispatcher", "/cases/2147483000").status_code == 404
    assert api.client.get("/no/such/page/12345").status_code == 404
    # one of the case's tickets is past its accept deadline, still not accepted
    with Session(db.engine) as s, s.begin():
        ticket_id = s.execute(
            select(col(Ticket.id)).where(col(Ticket.case_id) == case_id).limit(1)
        ).scalar_one()
        s.execute(
            update(Ticket)
            .where(col(Ticket.id) == ticket_id)
            .values(accept_due=utcnow() - timedelta(minutes=5))
        )
    return case_id, head_now(api)


async def test_figures_after_known_traffic(served: tuple[RemoteApi, Database]) -> None:
    api, db = served
    watchers = [await Collector(api, user).start() for user in ("commander", "dispatcher")]
    before = await asyncio.to_thread(scrape, api.client)
    case_id, head = await asyncio.to_thread(traffic, api, db)
    for w in watchers:  # the hub has read and pushed everything up to the head
        await w.until(lambda c: c.last_seq == head)
    after = await asyncio.to_thread(scrape, api.client)
    for w in watchers:
        await w.stop()

    def grew(name: str, **labels: str) -> float:
        return val(after, name, **labels) - val(before, name, **labels)

    assert (
        requests(after, "POST", "/api/v1/reports", 201)
        - requests(before, "POST", "/api/v1/reports", 201)
        == 3
    )
    assert (
        grew(
            "griddispatch_http_requests_total",
            method="GET",
            route="/api/v1/cases/{case_id}",
            status="200",
        )
        == 1
    )
    assert (
        grew(
            "griddispatch_http_requests_total",
            method="GET",
            route="/api/v1/cases/{case_id}",
            status="404",
        )
        == 1
    )
    assert (
        grew("griddispatch_http_requests_total", method="GET", route="(unmatched)", status="404")
        == 1
    )
    assert (
        grew(
            "griddispatch_http_request_duration_seconds_count",
            method="POST",
            route="/api/v1/reports",
        )
        == 3
    )
    routes = {dict(labels).get("route", "") for _, labels in after}
    assert not any(r.endswith(f"/cases/{case_id}") or "12345" in r for r in routes)  # templates
    for outcome in ("new_case", "joined", "replay"):
        assert grew("griddispatch_reports_total", outcome=outcome, channel="api") == 1
    assert val(after, "griddispatch_database_up") == 1
    assert val(after, "griddispatch_cases", status="dispatched") == 1
    assert val(after, "griddispatch_cases", status="closed") == 0
    assert val(after, "griddispatch_tickets_overdue", stage="accept") == 1
    assert val(after, "griddispatch_tickets_overdue", stage="resolve") == 0
    assert val(after, "griddispatch_feed_clients") == 2
    assert val(after, "griddispatch_feed_head_seq") == head
    assert val(after, "griddispatch_feed_lag_events") == 0
    assert val(after, "griddispatch_feed_bus_healthy") == 1


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """In-process, on SQLite, with a metrics token."""
    sqlite = SimpleNamespace(param="sqlite")
    yield from serve_app(sqlite, tmp_path_factory, metrics_token="scrape-secret-123")


def test_a_metrics_token_is_required_when_set(guarded: Api) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-secret-123"}):
        r = guarded.client.get("/metrics", headers=headers)
        assert r.status_code == 401
        assert r.json()["error"]["code"] == "unauthenticated"
    assert "griddispatch_cases" in str(
        scrape(guarded.client, Authorization="Bearer scrape-secret-123").keys()
    )
    assert guarded.client.get("/readyz").status_code == 200  # probes need no token
    assert guarded.client.get("/healthz").status_code == 200


WORKER = """
import sys
from dispatch.ops import metrics as m
n, clients, cursor = map(int, sys.argv[1:4])
for _ in range(n):
    m.observe_request("GET", "/healthz", 200, 0.004)
m.count_report(201, False, False, "api")
m.FEED_CLIENTS.set(clients)
m.FEED_CURSOR.set(cursor)
m.BUS_HEALTHY.set(1)
print("written", flush=True)
sys.stdin.read()  # stays alive until the test closes stdin
"""

#: the worker a scrape reaches, with feed figures of its own
SCRAPER = """
from prometheus_client.exposition import generate_latest
from dispatch.ops import metrics as m
m.FEED_CLIENTS.set(1)
m.FEED_CURSOR.set(50)
print(generate_latest(m._Families(m.process_families())).decode())
"""


def test_worker_processes_add_up(tmp_path: Path) -> None:
    """Two workers write to one directory; one of them ends. A scrape in a third sums the
    counters of all, and the live gauges of those still running (a scraper that has ended
    is forgotten by the next)."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    workers = []
    try:
        for args in (("7", "3", "40"), ("5", "2", "35")):
            w = subprocess.Popen(
                [sys.executable, "-c", WORKER, *args],
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert w.stdout is not None
            assert w.stdout.readline().strip() == "written"
            workers.append(w)

        def scraped() -> Samples:
            out = subprocess.run(
                [sys.executable, "-c", SCRAPER], env=env, capture_output=True, text=True, check=True
            )
            return parse(out.stdout)

        both = scraped()
        assert requests(both, "GET", "/healthz", 200) == 12
        assert val(both, "griddispatch_reports_total", outcome="new_case", channel="api") == 2
        assert val(both, "griddispatch_feed_clients") == 3 + 2 + 1  # summed
        assert val(both, "griddispatch_feed_cursor_seq") == 35  # the slowest
        second = workers.pop()
        assert second.stdin is not None
        second.stdin.close()
        second.wait()
        one = scraped()
        assert requests(one, "GET", "/healthz", 200) == 12  # what it counted stays counted
        assert val(one, "griddispatch_feed_clients") == 3 + 1  # its sockets are gone with it
        assert val(one, "griddispatch_feed_cursor_seq") == 40
    finally:
        for w in workers:
            assert w.stdin is not None
            w.stdin.close()
            w.wait()


def test_serve_with_two_workers_counts_every_request(tmp_path: Path) -> None:
    """``serve --workers 2``: whichever worker a scrape reaches, it counts every request
    that either worker answered (the kernel spreads connections over them)."""
    metrics_dir = tmp_path / "metrics"
    port = launch.free_port()
    cmd = [sys.executable, "-m", "dispatch.cli", "serve", "--port", str(port),
           "--workers", "2", "--no-access-log"]  # fmt: skip
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'gd.sqlite'}",
        "GRIDDISPATCH_DEMO_PASSWORD": "demo-pass-123",
        "GRIDDISPATCH_PHOTO_DIR": str(tmp_path / "photos"),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    log = tmp_path / "serve.log"
    server = launch.Child(cmd, log, "Application startup complete", env, times=2)
    server.start()  # both workers have said so
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(30):  # a new connection each: either worker may take it
            assert httpx.get(f"{url}/healthz").status_code == 200
        for _ in range(6):
            r = httpx.get(f"{url}/metrics")
            assert r.status_code == 200
            assert requests(parse(r.text), "GET", "/healthz", 200) == 30
        pids = {p.stem.rsplit("_", 1)[1] for p in metrics_dir.glob("counter_*.db")}
        assert len(pids) == 2  # both workers wrote theirs
    finally:
        server.stop()
