"""Load test of the production topology: two app processes behind nginx on PostGIS + Redis.

    python bench/load.py [--pg postgresql://postgres@127.0.0.1:5432/postgres]
                         [--rate 500] [--dashboards 1000] [--duration 30] [--warmup 5]
                         [--team-share 0.3] [--dashboard-role commander|team]
                         [--loaders 1] [--dashboard-procs 1] [--sample-every 20]
                         [--nginx-workers auto] [--quick]
    python bench/load.py --url http://host:8080 --password ...   # a running deployment

Without --url it starts the stack itself (dispatch.ops.stack, as `griddispatch stack`
does) on a fresh database of the --pg server and a Redis of its own. Then, all through
nginx: --dashboards websocket clients watch the live feed (bench/dashboards.py: a bare
protocol, cheap enough for a thousand), grid workers file --rate reports/s (open loop:
new reports start on time whether or not earlier ones have answered; each is located,
routed, committed), and for --team-share of the new tickets the unit's team accepts a
few seconds later, then uploads an after-photo and resolves. After --warmup s, --duration
s are measured. Prints per operation: answers/s, p50/p95/p99/max latency, errors; and
for the feed: events made/s, frames delivered, commit-to-screen latency (receipt − the
event's `at`, which is set in the committing transaction) from every --sample-every-th
dashboard, seq gaps and dropped dashboards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import random
import re
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from dashboards import Tally, dashboards_proc  # noqa: E402
from grid_workers import OPS, Plan, loader_proc  # noqa: E402

from dispatch.ops.launch import RedisServer  # noqa: E402
from dispatch.ops.stack import Stack  # noqa: E402
from dispatch.simulate import FOCUS_WEIGHT  # noqa: E402
from geo import Grid  # noqa: E402

PASSWORD = "bench-pass-123"


# ---------------------------------------------------------------- the run (this process)


async def sign_in_all(base: str, users: list[str], password: str) -> dict[str, str]:
    """Tokens for every user, 8 sign-ins at a time (Argon2 is slow on purpose)."""
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:

        async def one(user: str) -> tuple[str, str]:
            async with gate:
                r = await http.post(
                    "/api/v1/auth/token", data={"username": user, "password": password}
                )
                r.raise_for_status()
                return user, str(r.json()["access_token"])

        return dict(await asyncio.gather(*(one(u) for u in users)))


def catalogue(base: str, token: str) -> tuple[list[str], list[float], list[str]]:
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=h, timeout=30) as http:
        groups = http.get("/api/v1/event-types").json()
        units = http.get("/api/v1/units").json()
    types = [t["code"] for g in groups for t in g["types"]]
    weights = [FOCUS_WEIGHT if t["focus"] else 1.0 for g in groups for t in g["types"]]
    return types, weights, [u["id"] for u in units]


def made_in(dsn: str, start: float, end: float) -> int:
    """Events committed with ``at`` in [start, end) (wall clock), counted in the database."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM event_log WHERE at >= to_timestamp(%s) AND at < to_timestamp(%s)",
            (start, end),
        ).fetchone()
    return int(row[0]) if row else 0


def feed_figures(base: str, token: str, direct: list[str]) -> tuple[int, int]:
    """(head, dashboards dropped as slow so far, summed over the processes)."""
    h = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=h, timeout=60) as http:
        head = int(http.get(f"{base}/api/v1/feed/snapshot").json()["seq"])
        dropped = sum(
            int(http.get(f"{u}/api/v1/feed/stats").json()["dropped_slow"]) for u in direct
        )
    return head, dropped


def percentiles(seconds: list[float] | np.ndarray) -> str:
    a = np.asarray(seconds) * 1000
    if not len(a):
        return f"{'-':>8} {'-':>8} {'-':>8} {'-':>8}"
    p50, p95, p99 = np.percentile(a, [50, 95, 99])
    return f"{p50:8.1f} {p95:8.1f} {p99:8.1f} {a.max():8.1f}"


def run(
    base: str, direct: list[str], args: argparse.Namespace, grid: Grid, dsn: str | None = None
) -> None:
    """The whole load against ``base``; ``direct`` are the app processes' own URLs (for
    their feed figures) and ``dsn`` the database (to count the events made), when known."""
    commander = asyncio.run(sign_in_all(base, ["commander"], args.password))["commander"]
    types, weights, units = catalogue(base, commander)
    users = [f"worker{i}" for i in range(1, 6)] + [f"team-{u}" for u in units]
    tokens = {**asyncio.run(sign_in_all(base, users, args.password)), "commander": commander}
    rng = random.Random(7)
    cells = rng.sample(range(len(grid)), min(20_000, len(grid)))
    points = [(p.x, p.y) for p in (shapely.point_on_surface(grid.geoms[i]) for i in cells)]
    ctx = mp.get_context("spawn")
    ws = "ws" + base.removeprefix("http") + "/api/v1/feed"
    teams = [tokens[f"team-{u}"] for u in units]
    watch = [commander] if args.dashboard_role == "commander" else teams
    children, pipes = [], []
    per = np.array_split(np.arange(args.dashboards), args.dashboard_procs)
    for i, part in enumerate(per):
        parent, child = ctx.Pipe()
        mine = watch[i :: args.dashboard_procs] or watch
        proc = ctx.Process(
            target=dashboards_proc,
            args=([ws], mine, len(part), args.sample_every, child),
            daemon=True,
        )
        proc.start()
        children.append(proc)
        pipes.append(("dash", parent))
    for i in range(args.loaders):
        plan = Plan(
            base,
            tokens,
            points,
            types,
            weights,
            args.rate / args.loaders,
            args.team_share,
            args.max_inflight,
            seed=i,
        )
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=loader_proc, args=(plan, child), daemon=True)
        proc.start()
        children.append(proc)
        pipes.append(("load", parent))
    for _, pipe in pipes:
        assert pipe.recv() == "ready"
    start = time.time() + args.warmup
    end = start + args.duration
    for _, pipe in pipes:
        pipe.send((start, end))
    time.sleep(max(0.0, start - time.time()))  # the warm-up passes
    head0, dropped0 = feed_figures(base, commander, direct)
    time.sleep(max(0.0, end - time.time()))  # the measured window passes
    head1, dropped1 = feed_figures(base, commander, direct)
    results = [(kind, pipe.recv()) for kind, pipe in pipes]
    for proc in children:
        proc.join(30)
    made = made_in(dsn, start, end) if dsn else head1 - head0  # heads: read a little late
    report(args, results, made, dropped1 - dropped0)


def report(
    args: argparse.Namespace, results: list[tuple[str, Any]], made: int, dropped: int
) -> None:
    d = args.duration
    ops = [r for kind, r in results if kind == "load"]
    tallies: list[Tally] = [r for kind, r in results if kind == "dash"]
    print(
        f"{'operation':<10} {'answers':>8} {'2xx/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8}  errors"
    )
    errors: Counter[str] = Counter()
    everything: list[float] = []
    for op in OPS:
        lat = [x for o in ops for x in o.latencies[op]]
        everything += lat
        answers = Counter({k: v for o in ops for k, v in o.answers.items() if k[0] == op})
        ok = sum(v for (_, s), v in answers.items() if s.startswith("2"))
        bad = {s: v for (_, s), v in answers.items() if not s.startswith("2")}
        errors.update({f"{op} {s}": v for s, v in bad.items()})
        print(f"{op:<10} {len(lat):>8} {ok / d:>8.1f} {percentiles(lat)}  {bad or '-'}")
    print(f"{'all':<10} {len(everything):>8} {'':>8} {percentiles(everything)}")
    skipped = sum(o.skipped for o in ops)
    offered = args.rate * d
    print(
        f"reports offered {offered:.0f} ({args.rate:g}/s), not started for overload "
        f"(--max-inflight {args.max_inflight} reports under way): {skipped}"
    )
    frames = sum(t.events for t in tallies)
    lat = np.concatenate([np.asarray(t.latencies) for t in tallies]) if tallies else []
    gaps = sum(t.gaps for t in tallies)
    closed: Counter[int] = Counter()
    for t in tallies:
        closed.update(t.closed)
    sampled = sum(t.sampled for t in tallies)
    print(
        f"feed: events made {made / d:.1f}/s; {args.dashboards} dashboards "
        f"({args.dashboard_role}) received {frames:,} messages = {frames / d:,.0f}/s"
    )
    if args.dashboard_role == "commander":  # a commander sees every event
        due = made * sampled
        print(
            f"the {sampled} sampled dashboards received {len(lat):,} of the {due:,} events "
            f"made in the window ({len(lat) / max(due, 1):.1%}) within 2 s of its end"
        )
    print(
        f"commit-to-screen ({len(lat):,} events at every {args.sample_every}th dashboard) "
        f"ms p50/p95/p99/max {percentiles(lat)}"
    )
    print(
        f"seq gaps (sampled dashboards; 0 expected for commanders): {gaps}; "
        f"dropped as slow: {dropped}; closed by the server: {dict(closed) or 0}"
    )
    print(f"errors: {dict(errors) or 0}")


def parse() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server (a fresh database is made and dropped)",
    )
    ap.add_argument("--url", help="a running stack's URL instead (nginx in front)")
    ap.add_argument("--password", default=PASSWORD, help="demo accounts' password (--url)")
    ap.add_argument("--rate", type=float, default=500.0, help="reports per second offered")
    ap.add_argument("--dashboards", type=int, default=1000)
    ap.add_argument(
        "--dashboard-role",
        choices=["commander", "team"],
        default="commander",
        help="city-wide wall screens, or team inboxes (one unit each)",
    )
    ap.add_argument(
        "--team-share",
        type=float,
        default=0.3,
        help="share of new tickets a team accepts and resolves in the run",
    )
    ap.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--loaders", type=int, default=1, help="load generator processes")
    ap.add_argument("--dashboard-procs", type=int, default=1)
    ap.add_argument(
        "--sample-every",
        type=int,
        default=20,
        help="every n-th dashboard decodes its messages (latency, gaps)",
    )
    ap.add_argument(
        "--max-inflight",
        type=int,
        default=512,
        help="reports under way at once, per loader (team moves not counted)",
    )
    ap.add_argument("--nginx-workers", default="auto")
    ap.add_argument(
        "--quick", action="store_true", help="a short smoke run: 100 dashboards, 50 reports/s, 5 s"
    )
    args = ap.parse_args()
    if args.quick:
        args.dashboards, args.rate, args.duration, args.warmup = 100, 50.0, 5.0, 2.0
    return args


def main() -> None:
    args = parse()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    load = os.getloadavg()[0]
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {platform.node()} · "
        f"{os.cpu_count()} cores · load average {load:.2f} at start · "
        f"Python {platform.python_version()}"
    )
    print(
        f"# {args.dashboards} dashboards ({args.dashboard_role}), {args.rate:g} reports/s "
        f"offered, teams act on {args.team_share:.0%} of new tickets; {args.duration:g} s "
        f"measured after {args.warmup:g} s warm-up"
    )
    grid = Grid.load(ROOT / "grid_data" / "nanning", validate=False)
    if args.url:
        print(f"# against {args.url}")
        run(args.url.rstrip("/"), [], args, grid)
        return
    import psycopg

    name = f"griddispatch_bench_load_{os.getpid()}"
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = args.pg.rsplit("/", 1)[0] + "/" + name
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            redis = RedisServer(tmp).start()
            env = {
                "GRIDDISPATCH_DEMO_PASSWORD": args.password,
                "GRIDDISPATCH_PHOTO_DIR": str(tmp / "photos"),
            }
            try:
                with Stack(
                    url,
                    tmp / "stack",
                    redis_url=redis.url,
                    env=env,
                    nginx_workers=args.nginx_workers,
                ) as stack:
                    print(
                        f"# stack: 2 app processes behind nginx (workers {args.nginx_workers}) "
                        "on PostgreSQL + PostGIS and Redis, all on this machine"
                    )
                    run(stack.url, [a.url for a in stack.apps], args, grid, url)
                    assert stack.proxy is not None
                    print_warnings([a.child.log for a in stack.apps], stack.proxy.child.log)
            finally:
                redis.stop()
    finally:
        with psycopg.connect(args.pg, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def print_warnings(logs: list[Path], nginx_log: Path) -> None:
    """What the app processes and nginx warned about during the run (why a 503 was
    answered), and the first traceback of each kind of error."""
    seen: Counter[str] = Counter()
    traces: dict[str, str] = {}
    for line in nginx_log.read_text(errors="replace").splitlines():
        if "[error]" in line or "[warn]" in line:  # the message, without time and client
            seen["nginx: " + re.sub(r"^.*?\*\d+ ", "", line).split(", client:")[0]] += 1
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if "WARNING" not in line and "ERROR" not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = {"message": line}
            message = str(entry.get("message", line))[:200]
            seen[message] += 1
            if entry.get("exc_info"):
                traces.setdefault(message, str(entry["exc_info"])[-3000:])
    for message, n in seen.most_common(10):
        print(f"app warning ×{n}: {message}")
    for message, trace in traces.items():
        print(f"--- first traceback of {message!r}:\n{trace}")


if __name__ == "__main__":
    main()
