"""The live figures' Python half: replaying a community's year of case histories.

    python bench/replay.py [--cases 3600] [--runs 7]

A community's figures per cell (``/stats/areas?area=<community>``) are not in the cube:
its cases of the period are read from the event log and replayed one by one
(:func:`dispatch.stats.history.case_facts`), then summed per cell
(:meth:`dispatch.stats.gather.Computed.tallies`). This times those two steps with no
database: the histories come from bench/stats_gen.py (the generator bench/stats.py loads),
a busy community's year by default (~3,600 cases, ~46,000 events, spread over the year).
Prints the best and median of --runs, per step, per case and per event.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from stats_gen import Buffers, Generator, N  # noqa: E402

from dispatch.config import Settings  # noqa: E402
from dispatch.state import build_state  # noqa: E402
from dispatch.stats.gather import CaseArea, Computed, _as_utc  # noqa: E402
from dispatch.stats.history import CaseInfo, Ev, case_facts  # noqa: E402


def histories(gen: Generator, cases: int, year: int) -> dict[int, list[Ev]]:
    """``cases`` generated histories, reported on the 10th of each month, as the reader
    would hand them to the replay."""
    buf, cid, tid = Buffers(), 1, 1
    per_month = cases // 12
    for month in range(1, 13):
        tid = gen.day(date(year, month, 10), per_month, cid, tid, 1, buf)
        cid += per_month
    events: dict[int, list[Ev]] = {}
    for line in buf.events.getvalue().splitlines():
        typ, at, _actor, case, ticket, unit, _ent, frm, _to, data = line.split("\t")
        events.setdefault(int(case), []).append(
            Ev(
                typ,
                _as_utc(at),
                None if ticket == N else int(ticket),
                None if unit == N else unit,
                None if frm == N else frm,
                Ev.parse_data(data.replace("\\\\", "\\")),
            )
        )
    return events


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--cases", type=int, default=3600)
    ap.add_argument("--year", type=int, default=2025)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{Path(tmp) / 'replay.sqlite'}",
            demo_password="bench-pass-123",
            create_demo_accounts=False,
        )
        state = build_state(settings)
        events = histories(Generator(state), args.cases, args.year)
        rules = state.stats.rules
        state.db.dispose()
    infos = {
        c: CaseInfo(c, e[0].data["cell"], e[0].data["event_type"], False, e[0].at)
        for c, e in events.items()
    }
    areas = {
        c: CaseArea(i.cell, i.cell[:12], i.cell[:9], i.cell[:6], i.event_type)
        for c, i in infos.items()
    }
    tz = state.calendar.tz
    start = datetime(args.year, 1, 1, tzinfo=tz).astimezone(UTC)
    end = datetime(args.year + 1, 1, 1, tzinfo=tz).astimezone(UTC)
    n_events = sum(map(len, events.values()))
    replay_s, sum_s = [], []
    groups = 0
    for _ in range(args.runs):
        t0 = time.perf_counter()
        results = {c: case_facts(infos[c], events[c], start, end, rules, end) for c in events}
        t1 = time.perf_counter()
        groups = len(Computed(areas, results).tallies(lambda a, f: a.cell))
        t2 = time.perf_counter()
        replay_s.append(t1 - t0)
        sum_s.append(t2 - t1)
    print(f"# {platform.node()} · {platform.processor() or platform.machine()} · "
          f"Python {platform.python_version()}")  # fmt: skip
    print(f"{len(events):,} cases, {n_events:,} events of {args.year}, {groups:,} cells; "
          f"best / median of {args.runs} runs")  # fmt: skip
    for name, xs in (("replay (case_facts)", replay_s), ("sum per cell (tallies)", sum_s)):
        best, med = min(xs), statistics.median(xs)
        per_case, per_event = best / len(events) * 1e6, best / n_events * 1e6
        print(f"  {name:<24} {best * 1000:7.0f} / {med * 1000:7.0f} ms   "
              f"{per_case:6.0f} µs a case  {per_event:5.1f} µs an event")  # fmt: skip


if __name__ == "__main__":
    main()
