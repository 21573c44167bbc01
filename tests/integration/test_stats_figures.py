"""Every figure of a known history (see stats_history.py) against hand-computed values,
on SQLite and on PostGIS, through the API: the cube's day and month rows, cells to districts.

Working times below count 08:00–12:00 and 14:30–17:30 on working days; 06014 counts clock
minutes. Hand computations are in the comments where they are not obvious.
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from apikit import Api, serve_app
from stats_history import BEAT, CG, HW, JJ, OTHER, History, build

from dispatch.dbtypes import utcnow
from dispatch.stats.figures import COUNT_KEYS, RELATIVE_ACCURACY
from dispatch.stats.rollup import rollup

WEEK = {"from": "2026-10-13", "to": "2026-10-16"}
OCTOBER = [date(2026, 10, 1) + timedelta(days=i) for i in range(31)]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)]
)
def app(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The app with registration by hand (no auto-dispatch), so dispatch times are real."""
    yield from serve_app(request, tmp_path_factory, auto_dispatch=False)


@pytest.fixture(scope="module")
def history(app: Api) -> History:
    with pytest.MonkeyPatch.context() as mp:
        h = build(app, mp)
    st = app.state
    assert rollup(st.db.engine, st.stats, OCTOBER, utcnow()) == 31  # all sealed, month built
    return h


def get(app: Api, path: str, user: str = "commander", **params: Any) -> Any:
    r = app.get(user, path, **params)
    assert r.status_code == 200, r.text
    return r.json()


def zeros(**given: int) -> dict[str, int]:
    out = dict.fromkeys(COUNT_KEYS, 0)
    out.update(given)
    return out


HW_COUNTS = zeros(
    registered=3, dispatched=3, dispatched_on_time=2, reworked=1, reopened=1, voided=1,
    closed=4, due=3, closed_on_time=2, tickets=6, accepted=4, accepted_on_time=4, resolved=5,
    resolved_on_time=4, overdue=2,
)  # fmt: skip
JJ_COUNTS = zeros(
    registered=1, dispatched=1, dispatched_on_time=1, reassigned=1, tickets=2, accepted=1,
    returned=1, overdue=1,
)  # fmt: skip
CG_COUNTS = zeros(
    reports=1, registered=1, dispatched=1, tickets=2, accepted=2, accepted_on_time=2,
    resolved=1, resolved_on_time=1, overdue=1, due=1,
)  # fmt: skip
TOTAL_COUNTS = zeros(
    reports=8, cases=7, registered=6, rejected=1, voided=1, self_handled=1, dispatched=5,
    dispatched_on_time=3, reassigned=1, reworked=1, reopened=1, closed=5, due=5,
    closed_on_time=3, tickets=10, accepted=7, accepted_on_time=6, returned=1, resolved=6,
    resolved_on_time=5, overdue=4,
)  # fmt: skip
#: every step time of the week, per unit ("" = no unit: F's close)
STEP_TIMES = {
    HW: {
        "dispatch": [600, 2700, 600],  # A 08:50→09:00, B 10:00→10:45, H 09:00→09:10
        "accept": [1200, 1800, 3300, 900],  # A, A reopened, B, C (from the reassignment)
        "resolve": [5400, 5400, 5100, 17400, 4500],  # B again: 15:40–17:30 + 08:00–11:00
        "verify": [1800, 1800, 3600, 1800, 1800],  # B's failed check counts too
        "close": [7800, 270600, 91800, 8100],  # A's second close: 10-13 08:50 → 10-16 12:00
    },
    JJ: {"dispatch": [300], "accept": [1080]},  # D: 09:12 → 09:30, clock minutes (06014)
    CG: {"dispatch": [720], "accept": [2100, 300], "resolve": [3300]},
    "": {"close": [0]},
}


def nearest_rank(values: list[float], q: float = 0.9) -> float:
    """The ceil(q · n)-th smallest value."""
    return sorted(values)[math.ceil(round(q * len(values), 9)) - 1]


def check_steps(steps: dict[str, Any], times: dict[str, list[float]]) -> None:
    for key, got in steps.items():
        values = times.get(key, [])
        assert got["n"] == len(values), key
        if not values:
            assert got["avg_s"] is None
            assert got["p90_s"] is None
            continue
        assert got["avg_s"] == pytest.approx(sum(values) / len(values)), key
        exact = nearest_rank(values)
        assert abs(got["p90_s"] - exact) <= RELATIVE_ACCURACY * exact + 1e-9, key


def merged(*units: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for u in units:
        for k, v in STEP_TIMES[u].items():
            out.setdefault(k, []).extend(v)
    return out


def test_units_league_of_the_week(app: Api, history: History) -> None:
    table = get(app, "/stats/units", area=BEAT, **WEEK)
    rows = {r["key"]: r for r in table["rows"]}
    assert set(rows) == {HW, JJ, CG}
    assert rows[HW]["counts"] == HW_COUNTS
    assert rows[JJ]["counts"] == JJ_COUNTS
    assert rows[CG]["counts"] == CG_COUNTS
    for unit in (HW, JJ, CG):
        check_steps(rows[unit]["steps"], STEP_TIMES[unit])
    assert rows[HW]["rates"] == {
        "registration_rate": 1.0,
        "dispatch_on_time_rate": pytest.approx(2 / 3),
        "dispatch_accuracy": 1.0,
        "closure_rate": pytest.approx(4 / 3),  # A closed twice (reopened), B, C
        "on_time_closure_rate": pytest.approx(2 / 3),
        "rework_rate": 0.25,
        "accept_on_time_rate": 1.0,
        "resolve_on_time_rate": pytest.approx(4 / 6),
        "extension_rate": 0.0,  # none this week (K is the next)
    }
    # 100 × (0.3 × min(4/3, 1) + 0.3 × 4/6 + 0.3 × (1 − 0.25) + 0.1 × 1) = 82.5
    assert rows[HW]["score"] == pytest.approx(82.5)
    assert rows[CG]["score"] == pytest.approx(100 * (0.3 * 0 + 0.3 * 0.5 + 0.1 * 1) / 0.7)
    assert rows[JJ]["score"] == 0
    assert [r["key"] for r in table["rows"]] == [HW, CG, JJ]
    assert [r["rank"] for r in table["rows"]] == [1, 2, 3]
    assert {k: r["overdue_now"] for k, r in rows.items()} == {HW: 1, JJ: 1, CG: 1}  # D, open
    total = table["total"]
    assert total["counts"] == TOTAL_COUNTS
    check_steps(total["steps"], merged(HW, JJ, CG, ""))
    assert total["rates"] == {
        "registration_rate": pytest.approx(6 / 7),
        "dispatch_on_time_rate": pytest.approx(3 / 5),
        "dispatch_accuracy": pytest.approx(0.9),
        "closure_rate": pytest.approx(5 / 6),
        "on_time_closure_rate": pytest.approx(3 / 5),
        "rework_rate": pytest.approx(0.2),
        "accept_on_time_rate": pytest.approx(6 / 7),
        "resolve_on_time_rate": pytest.approx(5 / 9),
        "extension_rate": 0.0,
    }
    assert total["overdue_now"] == 3
    assert table["sealed_through"] >= "2026-10-31"


def test_days_areas_and_event_types(app: Api, history: History) -> None:
    by_day = {r["key"]: r["counts"] for r in get(app, "/stats/days", area=BEAT, **WEEK)["rows"]}
    assert by_day["2026-10-13"] == zeros(
        cases=2, reports=2, registered=2, dispatched=2, dispatched_on_time=1, tickets=2,
        accepted=2, accepted_on_time=2, resolved=2, resolved_on_time=2, closed=1, reworked=1,
        due=1, closed_on_time=1,
    )  # fmt: skip
    assert by_day["2026-10-14"] == zeros(
        cases=1, reports=1, registered=1, dispatched=1, dispatched_on_time=1, returned=1,
        reassigned=1, tickets=3, accepted=2, accepted_on_time=2, resolved=3, resolved_on_time=2,
        overdue=1, closed=2, due=2, closed_on_time=1,
    )  # fmt: skip
    assert by_day["2026-10-15"] == zeros(
        cases=3, reports=4, registered=2, rejected=1, self_handled=1, dispatched=1, tickets=3,
        accepted=2, accepted_on_time=1, overdue=3, closed=1, due=2, closed_on_time=1,
    )  # fmt: skip
    assert by_day["2026-10-16"] == zeros(
        cases=1, reports=1, registered=1, dispatched=1, dispatched_on_time=1, voided=1,
        reopened=1, tickets=2, accepted=1, accepted_on_time=1, resolved=1, resolved_on_time=1,
        closed=1,
    )  # fmt: skip

    streets = get(app, "/stats/areas", area="450103", **WEEK)
    rows = {r["key"]: r for r in streets["rows"]}
    assert set(rows) == {BEAT, OTHER}
    assert rows[BEAT]["counts"] == TOTAL_COUNTS
    assert rows[BEAT]["group"] == "street"
    assert rows[OTHER]["counts"]["cases"] == 1  # J
    assert rows[OTHER]["counts"]["dispatched_on_time"] == 1
    summed = {k: rows[BEAT]["counts"][k] + rows[OTHER]["counts"][k] for k in COUNT_KEYS}
    assert streets["total"]["counts"] == summed
    districts = get(app, "/stats/areas", **WEEK)
    assert [r["key"] for r in districts["rows"]] == ["450103"]
    assert districts["rows"][0]["counts"] == summed

    types = {r["key"]: r for r in get(app, "/stats/event-types", area=BEAT, **WEEK)["rows"]}
    assert set(types) == {"06010", "09009", "06014"}
    assert types["06010"]["group"] == "06"
    g = types["06010"]["counts"]
    assert (g["cases"], g["registered"], g["rejected"], g["voided"], g["self_handled"]) == (
        5, 4, 1, 1, 1)  # fmt: skip
    assert (g["closed"], g["due"], g["closed_on_time"], g["tickets"]) == (4, 3, 2, 4)
    assert types["06014"]["counts"]["reports"] == 2  # D and G, who joined it
    assert types["06014"]["counts"]["overdue"] == 3
    assert types["09009"]["counts"]["returned"] == 1
    classes = {r["key"]: r for r in get(app, "/stats/event-types", area=BEAT, by="class",
                                        **WEEK)["rows"]}  # fmt: skip
    assert classes["06"]["counts"]["cases"] == 6
    assert classes["06"]["name_zh"] == "市容环境"
    assert classes["09"]["counts"] == types["09009"]["counts"]
    only_09 = get(app, "/stats/units", area=BEAT, **{**WEEK, "class": "09"})
    assert only_09["total"]["counts"] == types["09009"]["counts"]


def test_month_rows_equal_the_sum_of_their_days(app: Api, history: History) -> None:
    month = get(app, "/stats/units", area=BEAT, **{"from": "2026-10-01", "to": "2026-10-31"})
    by_days = get(app, "/stats/days", area=BEAT, **{"from": "2026-10-01", "to": "2026-10-31"})
    assert month["total"]["counts"] == by_days["total"]["counts"] == TOTAL_COUNTS
    assert month["total"]["steps"] == by_days["total"]["steps"]
    # a community's cells from their month rows equal the sums of two half months (which
    # read day rows only)
    community = history.cells["A"][:-3]
    month_cells = get(
        app, "/stats/areas", area=community, **{"from": "2026-10-01", "to": "2026-10-31"}
    )
    halves: dict[str, Counter[str]] = {}
    for first, last in (("2026-10-01", "2026-10-15"), ("2026-10-16", "2026-10-31")):
        for r in get(app, "/stats/areas", area=community, **{"from": first, "to": last})["rows"]:
            halves.setdefault(r["key"], Counter()).update(r["counts"])
    by_month = {r["key"]: r["counts"] for r in month_cells["rows"]}
    assert by_month[history.cells["A"]]["cases"] == 1
    assert by_month == {k: {n: c[n] for n in by_month[k]} for k, c in halves.items()}
    city = get(app, "/stats/units", **{"from": "2026-10-01", "to": "2026-10-31"})
    district = get(app, "/stats/units", area="450103", **{"from": "2026-10-01", "to": "2026-10-31"})
    for key in ("counts", "steps"):
        assert city["total"][key] == district["total"][key]
    assert city["total"]["counts"]["cases"] == 7 + 1 + 3 + 1  # 901, J, the three R, K


def test_a_cell_has_its_own_figures(app: Api, history: History) -> None:
    """Cell rows of the cube: one cell's table, and its row among its community's cells."""
    cell = history.cells["A"]
    table = get(app, "/stats/units", area=cell, **WEEK)
    assert [r["key"] for r in table["rows"]] == [HW]
    assert table["rows"][0]["counts"] == zeros(
        registered=1, dispatched=1, dispatched_on_time=1, tickets=2, accepted=2,
        accepted_on_time=2, resolved=2, resolved_on_time=2, closed=2, reopened=1, due=1,
        closed_on_time=1,
    )  # fmt: skip
    check_steps(
        table["rows"][0]["steps"],
        {"dispatch": [600], "accept": [1200, 1800], "resolve": [5400, 5400],
         "verify": [1800, 1800], "close": [7800, 270600]},
    )  # fmt: skip
    community = cell[: len(cell) - 3]
    cells = get(app, "/stats/areas", area=community, **WEEK)
    assert all(r["group"] == "cell" for r in cells["rows"])
    assert {r["key"]: r["counts"] for r in cells["rows"]}[cell] == table["total"]["counts"]


def test_an_extension_moves_the_deadlines_it_is_judged_by(app: Api, history: History) -> None:
    """K: extended before its due, resolved and closed after the old dues but in time for
    the new ones: on time throughout, one extension (延期率 100 % of its one task)."""
    k = {"from": "2026-10-19", "to": "2026-10-20"}
    table = get(app, "/stats/units", area=history.cells["K"], **k)  # its cell's rows
    (row,) = table["rows"]
    assert row["key"] == HW
    assert row["counts"] == zeros(
        registered=1, dispatched=1, dispatched_on_time=1, tickets=1, accepted=1,
        accepted_on_time=1, extensions=1, resolved=1, resolved_on_time=1, closed=1, due=1,
        closed_on_time=1,
    )  # fmt: skip
    assert row["rates"]["extension_rate"] == 1.0
    assert row["rates"]["on_time_closure_rate"] == 1.0
    # resolve: Mon 09:00–12:00, 14:30–17:30, Tue 08:00–09:30 of working time
    check_steps(row["steps"], {"dispatch": [0], "accept": [600], "resolve": [27000],
                               "verify": [900], "close": [89100]})  # fmt: skip
    by_day = {r["key"]: r["counts"] for r in get(app, "/stats/days", area=OTHER, **k)["rows"]}
    assert by_day["2026-10-19"]["extensions"] == 1
    assert by_day["2026-10-19"]["overdue"] == 1  # J's missed deadline, escalated that day
    assert (by_day["2026-10-20"]["due"], by_day["2026-10-20"]["closed_on_time"]) == (1, 1)
    street = {r["key"]: r for r in get(app, "/stats/units", area=OTHER, **k)["rows"]}
    assert street[HW]["counts"]["extensions"] == 1
    timeline = app.get("dispatcher", f"/cases/{history.cases['K']}").json()["timeline"]
    (ext,) = [e for e in timeline if e["type"] == "ticket.extended"]
    assert ext["actor"] == "dispatcher"
    assert not [e for e in timeline if e["type"] == "ticket.escalated"]


def test_downloads_carry_the_same_figures(app: Api, history: History) -> None:
    from openpyxl import load_workbook

    r = app.get("commander", "/stats/units", area=BEAT, format="csv", **WEEK)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    lines = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    header = lines[0]
    assert header[:3] == ["编码 (Code)", "名称 (Name)", "英文名称 (Name (English))"]
    hw = dict(zip(header, lines[1], strict=True))
    assert hw["编码 (Code)"] == HW
    assert hw["立案数 (Registered)"] == "3"
    assert hw["结案率 (Closure rate) %"] == "133.33"
    assert hw["综合得分 (Score)"] == "82.50"
    assert lines[-1][1] == "合计"

    r = app.get("commander", "/stats/units", area=BEAT, format="xlsx", **WEEK)
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content)).worksheets[0]
    zh = [c.value for c in ws[1]]
    en = [c.value for c in ws[2]]
    assert zh[:5] == ["编码", "名称", "英文名称", "排名", "综合得分"]
    assert en[:5] == ["Code", "Name", "Name (English)", "Rank", "Score"]
    first = {name: c.value for name, c in zip(zh, ws[3], strict=True)}
    assert first["编码"] == HW
    assert first["名称"] == "青秀区市容环卫站"
    assert first["排名"] == 1
    assert first["综合得分"] == pytest.approx(82.5)
    assert first["任务派遣数"] == 6
    assert first["按期处置率"] == pytest.approx(4 / 6)
    assert ws.cell(3, zh.index("按期处置率") + 1).number_format == "0.00%"
    assert first["核查用时均值(小时)"] == pytest.approx(10800 / 5 / 3600)
    last = {name: c.value for name, c in zip(zh, ws[ws.max_row], strict=True)}
    assert last["名称"] == "合计"
    assert last["受理数"] == 8
    assert last["立案率"] == pytest.approx(6 / 7)


def test_hotspots_and_repeat_places(app: Api, history: History) -> None:
    cells = get(app, "/stats/hotspots/cells", area=BEAT, **WEEK)
    assert cells["type"] == "FeatureCollection"
    counts = {f["properties"]["code"]: f["properties"]["cases"] for f in cells["features"]}
    assert counts == {history.cells[n]: 1 for n in "ABCDEFH"}
    assert all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in cells["features"])
    points = get(app, "/stats/hotspots/cells", area=BEAT, shape="point", **WEEK)
    assert {f["geometry"]["type"] for f in points["features"]} == {"Point"}
    only_09 = get(app, "/stats/hotspots/cells", area=BEAT, **{**WEEK, "class": "09"})
    assert [f["properties"]["code"] for f in only_09["features"]] == [history.cells["C"]]
    streets = get(app, "/stats/hotspots/streets", area="450103", **WEEK)
    by_street = {f["properties"]["code"]: f["properties"]["cases"] for f in streets["features"]}
    assert len(by_street) == 6
    assert (by_street[BEAT], by_street[OTHER]) == (7, 1)
    assert sum(by_street.values()) == 8
    october = {"from": "2026-10-01", "to": "2026-10-31"}
    repeats = get(app, "/stats/hotspots/repeats", area="450103", **october)
    assert [
        (f["properties"]["cell"], f["properties"]["event_type"], f["properties"]["cases"])
        for f in repeats["features"]
    ] == [(history.cells["R0"], "06010", 3)]
    assert (
        get(app, "/stats/hotspots/repeats", area="450103", min_cases=4, **october)["features"] == []
    )


def test_the_place_rows_answer_as_the_cases_do(app: Api, history: History) -> None:
    """The hotspot counts read the rollup's place rows: the same answers as counting the
    cases, for days, a month, areas and a class. A cube rolled up before migration 0011 has
    no place rows: the cases answer until the job has filled them in, days then month."""
    from sqlalchemy import delete, update

    from dispatch.stats import hotspots as h
    from dispatch.stats.cube import PERIOD, PLACE
    from dispatch.stats.place_rows import fill_places
    from dispatch.stats.queries import plan, reading

    st = app.state
    tz, oct1, oct31 = st.stats.tz, OCTOBER[0], OCTOBER[-1]
    wheres = [
        h.Where.of(date(2026, 10, 13), date(2026, 10, 16), tz, BEAT),
        h.Where.of(oct1, oct31, tz),  # the month's rows
        h.Where.of(oct1, oct31, tz, "450103", {"06010"}),
        h.Where.of(oct1, oct31, tz, history.cells["R0"]),  # one cell
        h.Where.of(date(2026, 10, 2), date(2026, 10, 30), tz, OTHER),  # days only
    ]

    def answers(s: Any, w: Any, live: bool) -> tuple[Any, ...]:
        if live:
            return (h.live_counts_by(s, w, "cell"), h.live_counts_by(s, w, "street"),
                    h.live_busiest_cells(s, w, 3), h.live_busiest_cells(s, w, 9, 2),
                    h.live_repeats(s, w, 1), h.live_repeats(s, w, 3))  # fmt: skip
        return (h.counts_by(s, w, "cell"), h.counts_by(s, w, "street"), h.busiest_cells(s, w, 3),
                h.busiest_cells(s, w, 9, 2), h.repeats(s, w, 1), h.repeats(s, w, 3))  # fmt: skip

    def check(stored: bool) -> None:
        with reading(st.db.read_engine, roomy=False) as s:
            for w in wheres:
                assert (h.stored_places(s, w) is not None) is stored, w
                assert answers(s, w, live=False) == answers(s, w, live=True), w
            month = answers(s, wheres[1], live=False)
        assert sum(month[0].values()) == 12  # the week's 7, J, three R, K
        assert [(r.cell, r.event_type, r.cases) for r in month[5]] == [
            (history.cells["R0"], "06010", 3)
        ]

    check(stored=True)
    with st.db.engine.begin() as conn:  # as migration 0011 leaves a cube rolled up before it
        conn.execute(delete(PLACE))
        conn.execute(update(PERIOD).values(places=False))
    check(stored=False)
    assert fill_places(st.db.engine, st.stats) == 31
    check(stored=True)
    with reading(st.db.read_engine) as s:
        assert plan(s, oct1, oct31, places=True).months == (oct1,)


def test_the_district_report_prints_the_figures(app: Api, history: History) -> None:
    r = app.get("commander", "/stats/report.html", district="450103", month="2026-10")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    html = r.text
    assert "青秀区 2026年10月 城市管理绩效评价月报" in html
    assert "青秀区市容环卫站" in html
    # hw in October, the week's figures plus J (registered, due, its deadline missed when
    # escalated 10-19) and K (registered, extended, everything on time): closed 5 of 5,
    # resolved on time 5 of 8 deadlines, reworked 1 of 5 closed, accepted on time 5 of 5:
    # 100 × (0.3 · 1 + 0.3 · 5/8 + 0.3 · (1 − 1/5) + 0.1 · 1) = 82.75
    units = get(app, "/stats/units", area="450103", **{"from": "2026-10-01", "to": "2026-10-31"})
    assert {r["key"]: r["score"] for r in units["rows"]}[HW] == pytest.approx(82.75)
    assert "82.8" in html
    assert "<script" not in html
    assert "http://" not in html
    assert "https://" not in html
    assert "@media print" in html


def test_a_past_period_never_changes_when_todays_cases_move(app: Api, history: History) -> None:
    """Runs last: finishes D today (real time) and rolls up again."""
    before = get(app, "/stats/units", area=BEAT, **WEEK)
    month_before = get(app, "/stats/areas", area="450103", **{"from": "2026-10-01",
                                                               "to": "2026-10-31"})  # fmt: skip
    case = app.get("dispatcher", f"/cases/{history.cases['D']}").json()
    for u in case["units"]:
        team = f"team-{u['unit_id']}"
        if u["status"] == "dispatched":
            app.ok(team, f"/tickets/{u['ticket_id']}/accept")
        photo = app.photo(team)
        app.ok(team, f"/tickets/{u['ticket_id']}/resolve", {"note": "ok", "photo_ids": [photo]})
    closed = app.ok("worker1", f"/cases/{history.cases['D']}/verify", {"passed": True})
    assert closed["status"] == "closed"
    st, now = app.state, utcnow()
    today = now.astimezone(st.stats.tz).date()
    rollup(st.db.engine, st.stats, [today, *OCTOBER], now)
    after = get(app, "/stats/units", area=BEAT, **WEEK)
    month_after = get(app, "/stats/areas", area="450103", **{"from": "2026-10-01",
                                                              "to": "2026-10-31"})  # fmt: skip
    for old, new in ((before, after), (month_before, month_after)):
        for r_old, r_new in zip([*old["rows"], old["total"]], [*new["rows"], new["total"]],
                                strict=True):  # fmt: skip
            assert (r_old["counts"], r_old["steps"]) == (r_new["counts"], r_new["steps"])
    assert after["total"]["overdue_now"] == 0  # the one live figure did move
    todays = get(app, "/stats/units", area=BEAT, **{"from": today.isoformat(),
                                                    "to": today.isoformat()})  # fmt: skip
    assert todays["total"]["counts"]["closed"] == 1
    assert todays["total"]["counts"]["resolved"] == 3


def test_the_city_rows_answer_as_the_district_rows_do(app: Api, history: History) -> None:
    """The whole city by event type reads the city rows: the same figures as the district
    rows summed, for days and for the month. Migration 0009 on a cube rolled up before it
    (its downgrade takes the city rows away) writes them back exactly as the rollup did."""
    from alembic import command
    from sqlalchemy import select

    from dispatch.migrate import alembic_config, upgrade
    from dispatch.stats.cube import CITY, CITY_TYPE, CUBE
    from dispatch.stats.queries import Scope, _cube, _summed, plan, reading

    st = app.state
    classes = {c: {k for k, et in st.city.event_types.items() if et.class_code == c}
               for c in ("06", "09")}  # fmt: skip
    with reading(st.db.read_engine) as s:
        for first, last in ((date(2026, 10, 13), date(2026, 10, 16)), (OCTOBER[0], OCTOBER[-1])):
            p = plan(s, first, last)
            for types in (None, classes["06"], classes["09"]):
                for group, level in (("unit", CITY), ("event_type", CITY_TYPE), ("day", CITY_TYPE)):
                    if types is None and group != "event_type":
                        continue  # the district-unit and summary rows answer those
                    scope = Scope(first, last, "", None, types)
                    assert _summed(group, scope) == level
                    q = plan(s, first, last, days_only=True) if group == "day" else p
                    city = _cube(s, scope, group, level, q)
                    assert city, (group, types)
                    assert city == _cube(s, scope, group, "district", q), (group, types, first)
            assert p.months == ((OCTOBER[0],) if last == OCTOBER[-1] else ())
    # through the API: the city's league table of one class adds up to the class's row
    by_type = get(app, "/stats/event-types", by="class", **WEEK)
    only_06 = get(app, "/stats/units", **{**WEEK, "class": "06"})
    assert only_06["total"]["counts"] == {r["key"]: r for r in by_type["rows"]}["06"]["counts"]
    assert only_06["total"]["counts"]["cases"] == 6 + 1  # the beat's six and J

    city_rows = (
        select(CUBE).where(CUBE.c.level.in_((CITY, CITY_TYPE))).order_by(*CUBE.primary_key.columns)
    )
    with st.db.engine.connect() as conn:
        written = [dict(r) for r in conn.execute(city_rows).mappings()]
    assert ("month", OCTOBER[0]) in {(r["span"], r["period_start"]) for r in written}
    url = st.settings.database_url
    command.downgrade(alembic_config(url), "0008")  # a cube as rolled up before 0009
    with st.db.engine.connect() as conn:
        assert not conn.execute(city_rows).all()
    upgrade(url)
    with st.db.engine.connect() as conn:
        assert [dict(r) for r in conn.execute(city_rows).mappings()] == written
