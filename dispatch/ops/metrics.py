"""Prometheus metrics (``GET /metrics``), with the official ``prometheus_client``.

Three kinds of figure:

- per request and per report, counted where they happen (:func:`observe_request`,
  :func:`count_report`);
- this process's live feed (clients, cursor, bus health), sampled from the hub's
  ``stats()`` every few seconds and at each scrape;
- the city's state (cases by status, overdue tickets, the feed's head), read from the
  database at scrape time, at most once per ``metrics_cache_s`` per process, on a
  connection of its own with a short timeout, so scrapes never hammer or hang on it.

With several worker processes behind one port (``serve --workers N``) a scrape reaches
one of them, so ``serve`` sets ``PROMETHEUS_MULTIPROC_DIR`` and prometheus_client's
multiprocess mode adds the workers' files up (counters and histograms summed, feed
clients summed over live workers, the cursor and bus health their minimum).
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
)
from prometheus_client import multiprocess as mp
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlmodel import col

from dispatch.cases.models import Case
from dispatch.dbtypes import utcnow
from dispatch.feed.sequence import read_head
from dispatch.ops.health import Probe
from dispatch.tickets.escalation import STAGES
from dispatch.tickets.models import Ticket
from dispatch.waits import event_set

if TYPE_CHECKING:
    from dispatch.feed.hub import FeedHub

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: no *_created series: they double the output and no dashboard reads them
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUESTS = Counter(
    "griddispatch_http_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "griddispatch_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OUTCOMES = ("new_case", "joined", "replay")
CHANNELS = ("api", "open311")
REPORTS = Counter(
    "griddispatch_reports",
    "Reports received and answered with 2xx: opened a new case, joined an open case as a "
    "duplicate, or replayed the first answer to a retry.",
    ["outcome", "channel"],
)
FEED_CLIENTS = Gauge(
    "griddispatch_feed_clients",
    "Live-feed sockets connected (summed over the processes).",
    multiprocess_mode="livesum",
)
FEED_CURSOR = Gauge(
    "griddispatch_feed_cursor_seq",
    "The last event seq the feed has delivered (the lowest of the processes).",
    multiprocess_mode="livemin",
)
BUS_HEALTHY = Gauge(
    "griddispatch_feed_bus_healthy",
    "1 while the feed's bus (Redis) is connected; 0 while hubs fall back to polling the log.",
    multiprocess_mode="livemin",
)
BUS_RECONNECTS = Counter(
    "griddispatch_feed_bus_reconnects", "Times the feed's bus connection was lost and remade."
)
FEED_DROPPED = Counter(
    "griddispatch_feed_dropped_slow", "Feed sockets dropped for falling too far behind."
)
FEED_DELIVERED = Counter(
    "griddispatch_feed_events_delivered", "Events the feed hubs have read from the log."
)
for _outcome in OUTCOMES:
    for _channel in CHANNELS:
        REPORTS.labels(_outcome, _channel)


def observe_request(method: str, route: str, status: int, took_s: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(took_s)


def count_report(status: int, joined: bool, replayed: bool, channel: str) -> None:
    """Count one intake answer."""
    if status >= 300:
        return
    outcome = "replay" if replayed else ("joined" if joined else "new_case")
    REPORTS.labels(outcome, channel).inc()


# ---------------------------------------------------------------- the city's state


@dataclass(frozen=True)
class CityFigures:
    cases: dict[str, int]
    overdue: dict[str, int]
    head: int


def read_city(engine: Engine) -> CityFigures:
    """Cases by status, tickets past a deadline still open, the feed's head: one connection."""
    now = utcnow()
    with engine.connect() as conn:
        cases = conn.execute(
            select(col(Case.status), func.count()).group_by(col(Case.status))
        ).all()
        overdue = {
            stage.name: int(
                conn.execute(
                    select(func.count())
                    .select_from(Ticket)
                    .where(stage.due < now, col(Ticket.status).in_(stage.statuses))
                ).scalar_one()
            )
            for stage in STAGES
        }
        head = read_head(conn)
    return CityFigures({str(s): int(n) for s, n in cases}, overdue, head)


@dataclass
class _Cached:
    at: float = -1e18
    figures: CityFigures | None = None


@dataclass
class AppMetrics:
    """One app's sources: its hub, its probe engine, and the last figures read."""

    hub: FeedHub
    engine: Engine
    cache_s: float
    timeout_s: float
    statuses: tuple[str, ...]
    _probe: Probe = field(default_factory=lambda: Probe("metrics-db"))
    _cached: _Cached = field(default_factory=_Cached)
    #: the hub's counters at the last sample (the metrics count the differences)
    _seen: dict[str, int] = field(default_factory=dict)

    def sample_hub(self) -> None:
        stats = self.hub.stats()
        FEED_CLIENTS.set(stats["clients"])
        FEED_CURSOR.set(stats["cursor"])
        BUS_HEALTHY.set(1 if stats["bus_healthy"] else 0)
        for key, counter in (
            ("bus_reconnects", BUS_RECONNECTS),
            ("dropped_slow", FEED_DROPPED),
            ("delivered", FEED_DELIVERED),
        ):
            now, before = int(stats[key]), self._seen.get(key, 0)
            if now > before:
                counter.inc(now - before)
            self._seen[key] = now

    async def refresh(self) -> None:
        """Read the city's figures if the cached ones are too old; sample the hub (after, so
        a cursor that has caught up never shows as lag)."""
        if time.monotonic() - self._cached.at >= self.cache_s:
            try:
                figures: CityFigures | None = await self._probe.run(
                    lambda: read_city(self.engine), self.timeout_s
                )
            except Exception:  # database away or slow: the scrape says so, and answers
                figures = None
            self._cached = _Cached(time.monotonic(), figures)
        self.sample_hub()

    def exposition(self) -> bytes:
        """The text format: this process's (or every worker's) metrics and the city's."""
        families = process_families()
        cursor = _value(families, "griddispatch_feed_cursor_seq")
        return generate_latest(_Families([*families, *self._city(cursor)]))

    def _city(self, cursor: float | None) -> Iterable[Metric]:
        figures = self._cached.figures
        up = GaugeMetricFamily(
            "griddispatch_database_up",
            "1 if the last read of the city's figures succeeded (within metrics_cache_s).",
        )
        up.add_metric([], 0 if figures is None else 1)
        yield up
        if figures is None:
            return
        cases = GaugeMetricFamily("griddispatch_cases", "Cases by status.", labels=["status"])
        for status in self.statuses:
            cases.add_metric([status], figures.cases.get(status, 0))
        yield cases
        overdue = GaugeMetricFamily(
            "griddispatch_tickets_overdue",
            "Open tickets past their deadline, by stage (accept: not yet 签收; resolve: not "
            "yet 处置完毕).",
            labels=["stage"],
        )
        for stage, n in figures.overdue.items():
            overdue.add_metric([stage], n)
        yield overdue
        head = GaugeMetricFamily("griddispatch_feed_head_seq", "The last committed event seq.")
        head.add_metric([], figures.head)
        yield head
        if cursor is not None:
            lag = GaugeMetricFamily(
                "griddispatch_feed_lag_events",
                "Committed events the feed has not delivered yet (head − cursor of the "
                "slowest process; head read within metrics_cache_s).",
            )
            lag.add_metric([], max(0, figures.head - int(cursor)))
            yield lag

    def close(self) -> None:
        self._probe.close()


def process_families() -> list[Metric]:
    """This process's metrics, or in multiprocess mode those of every worker added up."""
    if not os.environ.get(MULTIPROC_ENV):
        return list(REGISTRY.collect())
    forget_dead_workers(Path(os.environ[MULTIPROC_ENV]))
    registry = CollectorRegistry()
    mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return list(registry.collect())


class _Families(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


def _value(families: list[Metric], name: str) -> float | None:
    for family in families:
        if family.name == name and family.samples:
            return min(s.value for s in family.samples)
    return None


async def sample_loop(metrics: AppMetrics, interval_s: float, stop: asyncio.Event) -> None:
    """Keep this process's feed figures current for scrapes that reach another worker."""
    while not stop.is_set():
        metrics.sample_hub()
        await event_set(stop, interval_s)


# ---------------------------------------------------------------- multiprocess mode

_LIVE_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db")


def forget_dead_workers(directory: Path) -> None:
    """Drop the live gauges of worker processes that are gone (crashed or restarted)."""
    for path in directory.glob("gauge_live*.db"):
        m = _LIVE_FILE.fullmatch(path.name)
        if m and not _alive(int(m.group(1))):
            mp.mark_process_dead(int(m.group(1)), str(directory))  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_this_process_dead() -> None:
    if os.environ.get(MULTIPROC_ENV):
        mp.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
