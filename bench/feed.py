"""Live-feed benchmark: delivery latency (commit → client receipt) and events/s per client.

    python bench/feed.py [--pg postgresql://postgres@127.0.0.1:5432/postgres]
                         [--clients 100,1000,5000] [--rate 200] [--duration 15]
                         [--client-procs 2] [--role commander]

Without --pg: one `griddispatch serve` on SQLite with the in-process bus. With --pg: a fresh
PostGIS database, a Redis of the benchmark's own, and two app processes; the clients are
spread over both, and the reports too, so most events cross processes through Redis.

For each client count, that many websocket clients sign in (as --role; a commander sees
every event) from --client-procs processes, then reports are posted at a pace that makes
about --rate events/s for --duration s. Each client notes, for every event, now − the
event's `at` (set in the writing transaction, so this includes the commit itself) and any
seq it skipped. Prints events/s made and delivered, latency percentiles, missed events and
clients dropped for being slow.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import platform
import random
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.dashboards import Tally, dashboards_proc  # noqa: E402
from dispatch.ops.launch import AppServer, RedisServer  # noqa: E402
from geo import Grid  # noqa: E402

PASSWORD = "bench-pass-123"
EVENTS_PER_REPORT = 5.0  # case.reported, case.dispatched, ticket.dispatched × units (measured)


# ---------------------------------------------------------------- load (this process)


def sign_in(base: str, user: str) -> str:
    r = httpx.post(f"{base}/api/v1/auth/token", data={"username": user, "password": PASSWORD})
    r.raise_for_status()
    return str(r.json()["access_token"])


async def post_reports(bases: list[str], tokens: list[str], points: list[tuple[float, float]],
                       rate: float, duration: float) -> int:  # fmt: skip
    """Post reports at ``rate``/s for ``duration`` s, round-robin over the processes."""
    ok = 0
    async with httpx.AsyncClient(timeout=30) as c:

        async def one(i: int) -> None:
            nonlocal ok
            lon, lat = points[i % len(points)]
            r = await c.post(
                f"{bases[i % len(bases)]}/api/v1/reports",
                json={"event_type": "06014", "lon": lon, "lat": lat, "description": "bench"},
                headers={
                    "Authorization": f"Bearer {tokens[i % len(tokens)]}",
                    "Idempotency-Key": str(uuid.uuid4()),
                },
            )
            ok += r.status_code == 201

        start = time.perf_counter()
        pending: set[asyncio.Task[None]] = set()
        i = 0
        while (elapsed := time.perf_counter() - start) < duration:
            while i < int(elapsed * rate):
                t = asyncio.create_task(one(i))
                pending.add(t)
                t.add_done_callback(pending.discard)
                i += 1
            await asyncio.sleep(0.005)
        await asyncio.gather(*pending)
    return ok


def head(base: str, token: str) -> int:
    r = httpx.get(f"{base}/api/v1/feed/snapshot", headers={"Authorization": f"Bearer {token}"})
    return int(r.json()["seq"])


def feed_stats(bases: list[str], token: str) -> list[dict[str, Any]]:
    h = {"Authorization": f"Bearer {token}"}
    return [httpx.get(f"{b}/api/v1/feed/stats", headers=h).json() for b in bases]


def run(bases: list[str], n_clients: int, args: argparse.Namespace, grid: Grid) -> None:
    watcher = sign_in(bases[0], args.role)
    boss = sign_in(bases[0], "commander")  # reads the head and the stats
    workers = [sign_in(bases[i % len(bases)], f"worker{1 + i % 5}") for i in range(5)]
    rng = random.Random(n_clients)
    cells = rng.sample(range(len(grid.codes)), 20_000)
    points = [(p.x, p.y) for p in (shapely.point_on_surface(grid.geoms[i]) for i in cells)]
    urls = ["ws" + b.removeprefix("http") + "/api/v1/feed" for b in bases]
    procs, pipes = [], []
    per = [n_clients // args.client_procs + (i < n_clients % args.client_procs)
           for i in range(args.client_procs)]  # fmt: skip
    for n in per:  # every --sample-every-th client decodes its events, the others count frames
        parent, child = mp.Pipe()
        p = mp.Process(
            target=dashboards_proc,
            args=(urls, [watcher], n, args.sample_every, child),
            daemon=True,
        )
        p.start()
        procs.append(p)
        pipes.append(parent)
    for pipe in pipes:
        assert pipe.recv() == "ready"
    dropped0 = sum(s["dropped_slow"] for s in feed_stats(bases, boss))
    h0 = head(bases[0], boss)
    start = time.time() + 0.2
    for pipe in pipes:  # the clients count what arrives in [start, end)
        pipe.send((start, start + args.duration))
    report_rate = args.rate / EVENTS_PER_REPORT
    ok = asyncio.run(post_reports(bases, workers, points, report_rate, args.duration))
    h1 = head(bases[0], boss)
    tallies: list[Tally] = [pipe.recv() for pipe in pipes]
    for p in procs:
        p.join(30)
    lat = np.array([x for t in tallies for x in t.latencies]) * 1000
    missed = sum(t.gaps for t in tallies)
    received = sum(t.events for t in tallies)
    closed = sum(sum(t.closed.values()) for t in tallies)
    dropped = sum(s["dropped_slow"] for s in feed_stats(bases, boss)) - dropped0
    made = h1 - h0
    q = np.percentile(lat, [50, 95, 99]) if len(lat) else [float("nan")] * 3
    print(
        f"{n_clients:>6} clients | reports {ok:>5} ({ok / args.duration:6.1f}/s) | events made "
        f"{made / args.duration:6.1f}/s | delivered {received / args.duration:9.0f} msg/s "
        f"= {received / max(n_clients, 1) / args.duration:6.1f} events/s per client "
        f"(expected {made / args.duration:6.1f}) | latency ms p50 {q[0]:7.1f} p95 {q[1]:7.1f} "
        f"p99 {q[2]:7.1f} max {lat.max() if len(lat) else float('nan'):7.1f} | "
        f"seq gaps {missed} (0 expected for city-wide roles) | dropped {dropped} | closed {closed}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--pg", help="PostgreSQL server URL (a fresh database is made on it)")
    ap.add_argument("--clients", default="100,1000,5000")
    ap.add_argument("--rate", type=float, default=200.0, help="events/s to make")
    ap.add_argument("--duration", type=float, default=15.0)
    ap.add_argument("--client-procs", type=int, default=2)
    ap.add_argument("--role", default="commander", help="demo user the clients sign in as")
    ap.add_argument(
        "--sample-every",
        type=int,
        default=1,
        help="only every N-th client decodes its events for latency and gaps (1: all)",
    )
    args = ap.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    stack = "PostGIS + Redis, 2 processes" if args.pg else "SQLite + in-process bus"
    print(f"# {platform.node()} · {os.cpu_count()} cores · {platform.python_version()} · {stack}")
    grid = Grid.load(ROOT / "grid_data" / "nanning")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        env = {"GRIDDISPATCH_FEED_QUEUE_MAX": "5000"}
        servers: list[Any] = []
        try:
            if args.pg:
                import psycopg

                name = f"griddispatch_bench_feed_{os.getpid()}"
                with psycopg.connect(args.pg, autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {name}")
                    admin.execute(f"CREATE DATABASE {name}")
                redis = RedisServer(tmp).start()
                servers.append(redis)
                env.update(REDIS_URL=redis.url, GRIDDISPATCH_REDIS_PREFIX="bench")
                url = args.pg.rsplit("/", 1)[0] + "/" + name
                for _ in range(2):
                    servers.append(AppServer(url, tmp, PASSWORD, **env).start())
            else:
                url = f"sqlite:///{tmp / 'gd.sqlite'}"
                servers.append(AppServer(url, tmp, PASSWORD, **env).start())
            bases = [s.url for s in servers if isinstance(s, AppServer)]
            for n in (int(x) for x in args.clients.split(",")):
                run(bases, n, args, grid)
        finally:
            for s in reversed(servers):
                s.stop()
            if args.pg:
                with psycopg.connect(args.pg, autocommit=True) as admin:
                    admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
