"""The command center's figures view (绩效评价) over a known history made through the API today:
the league table shows each unit's hand-computed figures and sorts, the trend has one point
per day of the period, the hotspot layer draws the cells where cases were reported (on the
figures map and toggled on the live map) with the repeat place listed, the league downloads
as XLSX (read back with openpyxl), and the district report opens in a window of its own.
Screenshots at wall-screen and phone size.

The history (today, street 450103901, worker1's beat, dispatched by the rules at intake):

A  06010 暴露垃圾 at P → 450103-hw: accepted, resolved, checked: closed.
B  06010 at P again (A is closed, so a new case): accepted, resolved, the check fails
   (返工), resolved again, checked: closed.
E  06010 at P a third time: left open. P's cell now has 3 cases of one type (a repeat place).
   In the test the dispatcher extends its deadline (延期) from the case drawer.
C  06010 elsewhere: hw returns it (回退); the dispatcher reassigns it to 450103-cgzf, which
   accepts; left open.
D  09009 乱停放 elsewhere → 450103-jj lead, 450103-cgzf support: both accept and resolve;
   checked: closed.

Hand-computed (docs/evaluation.md), hw: registered A B C E = 4, closed A B = 2, reworked 1,
tasks 4, returned 1, resolved 3 (all on time), accepted 2 (on time), extended 1;
结案率 2/4 = 50 %, 返工率 1/2 = 50 %, 准确派遣率 1 − 1/4 = 75 %, 延期率 1/4 = 25 %,
按期结案率 — (nothing falls due today: every close-by time is hours away);
score 100 × (0.3·0.5 + 0.3·1 + 0.3·(1 − 0.5) + 0.1·1) = 70.0 (延期率 is not weighted).
cgzf: no case led, tasks 2, both accepted, one resolved on time: (0.3·1 + 0.1·1) / 0.4 = 100.
jj: D registered and closed, no rework: 100. Ties rank by unit id: cgzf, jj, hw.
The city: 5 reports, 5 registered, 3 closed (60.0 %), 返工率 1/3, 7 tasks with 1 returned.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from browserkit import PHONE, WALL, LiveApp, served, shoot

from geo import Grid

pytestmark = pytest.mark.browser

TZ = ZoneInfo("Asia/Shanghai")
BEAT = "450103901"
HW, JJ, CG = "450103-hw", "450103-jj", "450103-cgzf"
SEEN_MS = 15_000


@pytest.fixture(scope="module")
def live_app(tmp_path_factory: pytest.TempPathFactory, nanning_grid: Grid) -> Iterator[LiveApp]:
    """An app of this module's own (its figures are exactly the history below), whose rollup
    recomputes today every second."""
    with served(tmp_path_factory.mktemp("figures"), nanning_grid,
                GRIDDISPATCH_STATS_INTERVAL_S="1") as app:  # fmt: skip
        yield app


class History:
    def __init__(self, app: LiveApp) -> None:
        self.app = app
        self.cells: dict[str, str] = {}
        self.cases: dict[str, int] = {}

    def report(self, name: str, event_type: str, point: tuple[float, float]) -> int:
        body = {"event_type": event_type, "lon": point[0], "lat": point[1], "description": name}
        out = self.app.post("worker1", "/reports", body, **{"Idempotency-Key": str(uuid.uuid4())})
        assert not out["joined_existing"]
        self.cells[name] = out["location"]["cell"]
        self.cases[name] = int(out["id"])
        return int(out["id"])

    def ticket(self, case_id: int, unit: str) -> int:
        case = self.app.get("dispatcher", f"/cases/{case_id}")
        live = [u for u in case["units"] if u["status"] not in ("returned", "cancelled")]
        (tk,) = [u["ticket_id"] for u in live if u["unit_id"] == unit]
        return int(tk)

    def team(self, case_id: int, unit: str, action: str, body: Any = None) -> None:
        if action == "resolve":
            body = {"note": "已处置", "photo_ids": [self.app.api.photo(f"team-{unit}")]}
        self.app.post(f"team-{unit}", f"/tickets/{self.ticket(case_id, unit)}/{action}", body)

    def check(self, case_id: int, passed: bool) -> None:
        body = {"passed": passed, "note": "已核实" if passed else "未清理干净"}
        self.app.post("worker1", f"/cases/{case_id}/verify", body)


@pytest.fixture(scope="module")
def history(live_app: LiveApp) -> History:
    h = History(live_app)
    p, elsewhere, parking = (live_app.api.free_point(BEAT) for _ in range(3))
    a = h.report("A", "06010", p)
    h.team(a, HW, "accept")
    h.team(a, HW, "resolve")
    h.check(a, True)
    b = h.report("B", "06010", p)
    h.team(b, HW, "accept")
    h.team(b, HW, "resolve")
    h.check(b, False)
    h.team(b, HW, "resolve")
    h.check(b, True)
    h.report("E", "06010", p)
    c = h.report("C", "06010", elsewhere)
    h.team(c, HW, "return", {"reason": "非本单位职责"})
    live_app.post("dispatcher", f"/cases/{c}/reassign", {"unit_id": CG, "role": "lead"})
    h.team(c, CG, "accept")
    d = h.report("D", "09009", parking)
    for unit in (JJ, CG):
        h.team(d, unit, "accept")
        h.team(d, unit, "resolve")
    h.check(d, True)
    assert h.cells["A"] == h.cells["B"] == h.cells["E"]
    return h


def rolled_up(app: LiveApp) -> None:
    """The figures come from the rollup job: wait (no event tells) until it ran after now."""
    done = datetime.now(UTC)
    deadline = done + timedelta(seconds=30)
    while True:
        rolled = app.get("commander", "/stats/units")["rolled_up_at"]
        if rolled and datetime.fromisoformat(rolled.replace("Z", "+00:00")) > done:
            return
        assert datetime.now(UTC) < deadline, "the rollup did not run within 30 s"


def today() -> date:
    return datetime.now(TZ).date()


def cell_texts(page: Any, key: str, by: str = "unit") -> dict[str, str]:
    row = page.locator(f'.league tbody tr[data-{by}="{key}"]')
    return dict(row.evaluate("tr => [...tr.cells].map(c => [c.dataset.col, c.innerText.trim()])"))


def units_in_order(page: Any) -> list[str]:
    js = "rs => rs.map(r => r.dataset.unit)"
    return list(page.eval_on_selector_all(".league.by-unit tbody tr", js))


def kpis(page: Any) -> dict[str, str]:
    js = "ks => ks.map(k => [k.dataset.key, k.querySelector('b').innerText.trim()])"
    return dict(page.eval_on_selector_all(".fig-kpi", js))


def test_figures_view(open_page: Any, live_app: LiveApp, history: History) -> None:
    page = open_page("/command", "dispatcher", size=WALL)
    page.wait_for_selector('.pill.status[data-state="live"]')

    # --- 延期: the dispatcher extends E's deadline from the case drawer
    e = history.cases["E"]
    page.locator(f'path.case-marker[data-case="{e}"]').dispatch_event("click")
    page.click('.case-drawer [data-act="extend"]')
    page.fill('.act-form input[name="extra"]', "2")
    page.fill(".act-form textarea", "大件垃圾需调车清运")
    page.click(".act-form button.primary")
    page.wait_for_selector('.case-drawer .timeline li[data-type="ticket.extended"]')
    case = live_app.get("dispatcher", f"/cases/{e}")
    (ext,) = [x for x in case["timeline"] if x["type"] == "ticket.extended"]
    assert (ext["data"]["extra"], ext["data"]["reason"]) == (2, "大件垃圾需调车清运")
    shoot(page, "command-extend-wall")
    page.click(".case-drawer .drawer-head button")

    rolled_up(live_app)
    page.click('.view-tabs button[data-view="figures"]')
    page.wait_for_selector(f'.league tbody tr[data-unit="{HW}"]')

    # --- the league table: every figure of hw, the ranking, the city's totals
    assert units_in_order(page) == [CG, JJ, HW]
    assert cell_texts(page, HW) == {
        "rank": "3", "unit": "青秀区市容环卫站", "score": "70.0", "closure_rate": "50.0%",
        "on_time_closure_rate": "—", "rework_rate": "50.0%", "dispatch_accuracy": "75.0%",
        "extension_rate": "25.0%", "registered": "4", "closed": "2", "tickets": "4",
        "overdue": "0", "overdue_now": "0",
    }  # fmt: skip
    cg = cell_texts(page, CG)
    assert (cg["rank"], cg["score"], cg["closure_rate"], cg["tickets"]) == ("1", "100.0", "—", "2")
    assert kpis(page) == {
        "reports": "5", "registered": "5", "closed": "3", "closure_rate": "60.0%",
        "on_time_closure_rate": "—", "rework_rate": "33.3%", "dispatch_accuracy": "85.7%",
        "overdue_now": "0",
    }  # fmt: skip
    assert cell_texts(page, "450103", "area") == {
        "area": "青秀区", "reports": "5", "registered": "5", "closed": "3", "closure_rate": "60.0%",
        "on_time_closure_rate": "—", "rework_rate": "33.3%", "dispatch_accuracy": "85.7%",
        "overdue_now": "0",
    }  # fmt: skip
    page.click('.league th[data-col="rework_rate"]')  # lowest first, units without one last
    assert units_in_order(page) == [JJ, HW, CG]
    page.click('.league th[data-col="rework_rate"]')
    assert units_in_order(page) == [HW, JJ, CG]
    page.click('.league th[data-col="rank"]')

    # --- the trend: one bar and one point per day of this month, today's values
    day = today()
    key = day.isoformat()
    assert page.locator(".trend-svg rect.bar-reports").count() == day.day
    assert page.locator(".trend-svg circle.pt-closed").count() == day.day
    assert page.get_attribute(f'rect.bar-reports[data-day="{key}"]', "data-value") == "5"
    assert page.get_attribute(f'circle.pt-closed[data-day="{key}"]', "data-value") == "3"
    assert page.get_attribute(f'circle.pt-overdue[data-day="{key}"]', "data-value") == "0"

    # --- the hotspots: three cells, P's the hottest, the repeat place listed
    hot = page.locator(".hot-map path.hot-cell")
    hot.nth(2).wait_for(state="attached")
    js = "ps => ps.map(p => [p.dataset.code, p.dataset.cases])"
    cells = dict(page.eval_on_selector_all(".hot-map path.hot-cell", js))
    p_cell = history.cells["A"]
    assert cells == {p_cell: "3", history.cells["C"]: "1", history.cells["D"]: "1"}
    hottest = page.get_attribute(f'.hot-map path.hot-cell[data-code="{p_cell}"]', "class")
    assert "hc-2" in (hottest or "")
    repeat = page.locator(f'.repeat-list li[data-cell="{p_cell}"]')
    assert "暴露垃圾" in repeat.inner_text()
    assert "3 件" in repeat.inner_text()
    assert page.locator(".repeat-list li[data-cell]").count() == 1
    page.wait_for_selector(".hot-map .area-label")  # districts drawn before the picture
    page.wait_for_selector(".hot-map:not([data-moving])")
    shoot(page, "figures-wall")

    # --- the league as XLSX, read back
    from openpyxl import load_workbook

    with page.expect_download() as dl:
        page.click('.fig-toolbar button[data-act="xlsx"]')
    ws = load_workbook(io.BytesIO(dl.value.path().read_bytes())).worksheets[0]
    zh = [c.value for c in ws[1]]
    rows = {r[0].value: {name: c.value for name, c in zip(zh, r, strict=True)}
            for r in ws.iter_rows(min_row=3)}  # fmt: skip
    assert rows[HW]["综合得分"] == pytest.approx(70.0)
    assert (rows[HW]["结案率"], rows[HW]["返工率"]) == (pytest.approx(0.5), pytest.approx(0.5))
    assert rows[HW]["排名"] == 3
    assert dl.value.suggested_filename == f"stats-units-{key[:8]}01_{key}.xlsx"
    with page.expect_download() as dl:
        page.click('.fig-toolbar button[data-act="csv"]')
    lines = list(csv.reader(io.StringIO(dl.value.path().read_bytes().decode("utf-8-sig"))))
    by_code = {r[0]: dict(zip(lines[0], r, strict=True)) for r in lines[1:]}
    assert by_code[HW]["综合得分 (Score)"] == "70.00"
    assert by_code[HW]["延期率 (Extension rate) %"] == "25.00"

    # --- streets: 450103901 holds all five cases
    page.click('.hot-mode button[data-mode="streets"]')
    page.wait_for_selector(f'.hot-map path.hot-street[data-street="{BEAT}"][data-cases="5"]',
                           state="attached")  # fmt: skip
    page.click('.hot-mode button[data-mode="cells"]')

    # --- other periods: last seven days (seven points), last month (nothing yet)
    page.click('.period button[data-period="custom"]')
    page.fill('.custom-days input[name="from"]', (day - timedelta(days=6)).isoformat())
    page.wait_for_function("document.querySelectorAll('.trend-svg rect.bar-reports').length === 7")
    assert page.locator(".trend-svg circle.pt-overdue").count() == 7
    assert cell_texts(page, HW)["score"] == "70.0"
    page.click('.period button[data-period="last"]')
    last_month = day.replace(day=1) - timedelta(days=1)
    page.wait_for_function(
        f"document.querySelectorAll('.trend-svg rect.bar-reports').length === {last_month.day}"
    )
    page.wait_for_selector(".league td.empty")
    assert kpis(page)["reports"] == "0"
    page.click('.period button[data-period="month"]')
    page.wait_for_selector(f'.league tbody tr[data-unit="{HW}"]')

    # --- a district's row opens the district: its streets
    page.click('.league tr[data-area="450103"]')
    page.wait_for_selector(f'.league tr[data-area="{BEAT}"]')
    assert page.input_value('.fig-toolbar select[name="area"]') == "450103"
    assert cell_texts(page, BEAT, "area")["reports"] == "5"
    assert cell_texts(page, HW)["score"] == "70.0"

    # --- the monthly district report opens in its own window, ready to print
    page.click('.fig-toolbar button[data-act="report"]')
    assert page.input_value('.sheet select[name="district"]') == "450103"
    with page.expect_popup() as popup:
        page.click(".sheet footer button")
    report = popup.value
    report.wait_for_url("blob:**")
    title = f"青秀区 {day.year}年{day.month}月 城市管理绩效评价月报"
    report.wait_for_selector(f"text={title}")
    assert "青秀区市容环卫站" in report.inner_text("body")
    report.set_viewport_size(WALL)
    shoot(report, "figures-report")
    report.close()

    # --- the live map with the hotspot layer toggled on, its legend shown
    page.click('.view-tabs button[data-view="live"]')
    page.click(".filter-bar .hot-toggle")
    page.locator(".map-stage path.hot-cell").nth(2).wait_for(state="attached")
    assert page.locator(".map-stage path.hot-cell").count() == 3
    assert page.is_visible(".map-stage .hot-legend")
    shoot(page, "command-hotspots-wall")
    page.click(".filter-bar .hot-toggle")
    assert page.locator(".map-stage path.hot-cell").count() == 0

    # --- the phone: the same view, stacked
    page.set_viewport_size(PHONE)
    page.click('.view-tabs button[data-view="figures"]')
    page.wait_for_selector(f'.league tbody tr[data-unit="{HW}"]')
    shoot(page, "figures-phone")


def test_the_view_follows_the_language(open_page: Any, live_app: LiveApp, history: History) -> None:
    rolled_up(live_app)
    page = open_page("/command#figures", "commander", size=WALL)
    page.wait_for_selector(f'.league tbody tr[data-unit="{HW}"]')
    page.click(".appbar button.lang")
    page.wait_for_selector('.league th[data-col="score"]:has-text("Score")')
    assert cell_texts(page, HW)["unit"] == "Qingxiu District Sanitation and City Appearance Station"
    page.wait_for_selector('.fig-kpi[data-key="closure_rate"] span:has-text("Closure rate")')
    assert page.inner_text('.fig-toolbar select[name="area"] option[value=""]') == "Whole city"
    assert "cells with cases" in page.inner_text(".hot-map .hot-legend")
    shoot(page, "figures-wall-en")
