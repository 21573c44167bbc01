"""End-to-end intake benchmark: HTTP → located → routed → committed, on SQLite and PostGIS.

    python bench/intake.py [--pg postgresql://postgres@127.0.0.1:5432/postgres]
                           [--duration 15] [--connections 16] [--quick]

Starts `griddispatch serve` on a fresh database, signs the demo workers in, and drives
POST /api/v1/reports with wrk (Debian's wrk; a Lua script gives every request a random
point inside a random cell, a weighted event type and a unique Idempotency-Key).
Prints reports/s, latency percentiles, non-2xx answers, and checks that the database
holds exactly one case or joined report per 2xx answer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import shapely
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dispatch.db import normalize_url  # noqa: E402
from geo import Grid  # noqa: E402

PASSWORD = "bench-pass-123"
LUA = r"""
local points = %(points)s
local types = %(types)s
local tokens = %(tokens)s
local counter = 0
statuses = {}
local threads = {}
tid = 0

function setup(thread)
  tid = tid + 1
  thread:set("tid", tid)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + tid * 7919)
  statuses = {}
end

function request()
  counter = counter + 1
  local p = points[math.random(#points)]
  local body = string.format(
    '{"event_type":"%%s","lon":%%.7f,"lat":%%.7f,"accuracy_m":8,"description":"bench"}',
    types[math.random(#types)], p[1], p[2])
  local headers = {}
  headers["Content-Type"] = "application/json"
  headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]
  headers["Idempotency-Key"] = string.format("bench-%%d-%%d-%%d", tid, counter, math.random(1e9))
  return wrk.format("POST", "/api/v1/reports", headers, body)
end

function response(status, headers, body)
  local k = "s" .. status
  statuses[k] = (statuses[k] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local s = t:get("statuses") or {}
    for k, v in pairs(s) do total[k] = (total[k] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, string.format('"%%s":%%d', k:sub(2), v)) end
  io.write("STATUSES {" .. table.concat(parts, ",") .. "}\n")
  for _, q in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("PCT %%g %%.3f\n", q, latency:percentile(q) / 1000.0))
  end
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_pg(admin_url: str) -> str:
    import psycopg

    name = "griddispatch_bench_intake"
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {name}")
    return admin_url.rsplit("/", 1)[0] + "/" + name


def sample_points(grid: Grid, n: int, seed: int = 7) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    pts = []
    for i in rng.sample(range(len(grid)), n):
        p = shapely.point_on_surface(grid.geoms[i])
        pts.append((p.x, p.y))
    return pts


def profiler(pid: int, output: str, duration: int) -> subprocess.Popen[bytes]:
    """py-spy over the measured run: where the server's time goes under this load."""
    return subprocess.Popen(
        [
            *("py-spy", "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--gil"),
            *("--duration", str(duration), "--rate", "250", "--format", "raw", "--threads"),
            *("--output", output),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run(url: str, label: str, args: argparse.Namespace, grid: Grid) -> dict[str, object]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "GRIDDISPATCH_DEMO_PASSWORD": PASSWORD,
        "GRIDDISPATCH_ESCALATION_INTERVAL_S": "3600",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dispatch.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(args.workers),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError(server.stderr.read().decode() if server.stderr else "no start")
        tokens = [
            httpx.post(
                f"{base}/api/v1/auth/token", data={"username": f"worker{i}", "password": PASSWORD}
            ).json()["access_token"]
            for i in range(1, 6)
        ]
        types = ["06014", "09009", "09001", "06010", "06011", "07001", "06001", "08011"]
        pts = sample_points(grid, 20000)
        lua = LUA % {
            "points": "{" + ",".join(f"{{{x:.7f},{y:.7f}}}" for x, y in pts) + "}",
            "types": "{" + ",".join(f'"{t}"' for t in types) + "}",
            "tokens": "{" + ",".join(f'"{t}"' for t in tokens) + "}",
        }
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(lua)
        subprocess.run(
            ["wrk", "-t1", "-c8", "-d3s", "-s", f.name, base], check=True, capture_output=True
        )  # warm-up
        spy = None
        if args.profile:
            profile = f"{args.profile}.{label}.txt"
            spy = profiler(server.pid, profile, args.duration)
        out = subprocess.run(
            ["wrk", "-t2", f"-c{args.connections}", f"-d{args.duration}s", "-s", f.name, base],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        if spy is not None:
            spy.wait(timeout=60)
            print(f"profile of {label}: {profile} (collapsed stacks; summary below)")
            print(summarize(Path(profile)))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        statuses = json.loads(re.search(r"STATUSES (\{.*\})", out).group(1))  # type: ignore[union-attr]
        pct = {q: float(v) for q, v in re.findall(r"PCT ([\d.]+) ([\d.]+)", out)}
        engine = create_engine(normalize_url(url))
        with engine.connect() as c:
            reports = c.execute(text("SELECT count(*) FROM report")).scalar_one()
        ok = sum(v for k, v in statuses.items() if k.startswith("2"))
        return {
            "backend": f"{label}×{args.workers}",
            "connections": args.connections,
            "reports_per_s": rps,
            "p50_ms": pct.get("50"),
            "p90_ms": pct.get("90"),
            "p99_ms": pct.get("99"),
            "p999_ms": pct.get("99.9"),
            "statuses": statuses,
            "db_reports": reports,
            "answered_2xx_incl_warmup": ok,
        }
    finally:
        server.terminate()
        server.wait(timeout=30)


def summarize(path: Path, top: int = 25) -> str:
    """Self and total share of each function, from py-spy's collapsed stacks."""
    own: dict[str, int] = {}
    total: dict[str, int] = {}
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        count = int(n)
        samples += count
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for f in set(frames):
            total[f] = total.get(f, 0) + count
    rows = [f"{samples} samples; self %  total %  function"]
    for f, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        rows.append(f"{100 * n / samples:6.1f} {100 * total[f] / samples:8.1f}  {f}")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pg", help="admin URL of a PostgreSQL server with PostGIS available")
    ap.add_argument("--duration", type=int, default=15)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--workers", type=int, default=1, help="server worker processes")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument(
        "--profile",
        metavar="PREFIX",
        help="record the server with py-spy during the measured run into PREFIX.<backend>.txt",
    )
    args = ap.parse_args()
    if args.quick:
        args.duration = 5
    if not shutil.which("wrk"):
        sys.exit("needs wrk (apt-get install wrk)")
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        platform.processor(),
    )
    print(f"machine: {cpu}, {os.cpu_count()} cores; Python {platform.python_version()}")
    grid = Grid.load(ROOT / "grid_data" / "nanning", validate=False)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(run(f"sqlite:///{tmp}/bench.sqlite", "SQLite", args, grid))
    if args.pg:
        results.append(run(fresh_pg(args.pg), "PostGIS", args, grid))
    print(
        f"\n{'backend':8} {'conns':>5} {'reports/s':>10} {'p50 ms':>8} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'p99.9 ms':>9}  statuses / reports in db"
    )
    for r in results:
        print(
            f"{r['backend']:8} {r['connections']:>5} {r['reports_per_s']:>10.0f} "
            f"{r['p50_ms']:>8.1f} {r['p90_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['p999_ms']:>9.1f}"
            f"  {r['statuses']} / {r['db_reports']}"
        )


if __name__ == "__main__":
    main()
