"""The whole case in three browsers: a grid worker reports with a photo, the command map shows
it, the responsible team accepts and resolves with a photo, another worker checks it, the map
shows it closed. Screenshots of the three pages at phone and wall-screen size are kept.

06010 暴露垃圾 (exposed garbage) in 青秀 routes to 450103-hw (环卫) alone. The point lies in
street 450103902, worker2's beat, so worker2 may check worker1's report.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from browserkit import PHONE, WALL, LiveApp, shoot
from PIL import Image, ImageDraw

from geo import Grid

pytestmark = pytest.mark.browser

EVENT = "06010"
BEAT2 = "450103902"  # worker2's street
SEEN_S = 10_000  # ms: "within seconds"


def camera_photo(path: Path, size: tuple[int, int], color: tuple[int, int, int]) -> Path:
    """A large JPEG, as a phone camera makes: the page must shrink it before upload."""
    img = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(img)
    for i in range(0, size[0], 160):
        draw.rectangle([i, size[1] // 2, i + 80, size[1]], fill=(color[2], color[0], color[1]))
    img.save(path, "JPEG", quality=92)
    return path


def point_in(grid: Grid, prefix: str, k: int) -> tuple[float, float]:
    codes = [i for i, c in enumerate(grid.codes) if c.startswith(prefix)]
    p = grid.geoms[codes[k]].point_on_surface()
    return p.x, p.y


def marker(case_id: int, status: str | None = None) -> str:
    sel = f'path.case-marker[data-case="{case_id}"]'
    return sel + (f'[data-status="{status}"]' if status else "")


def test_report_to_closed_case(
    open_page: Any, live_app: LiveApp, nanning_grid: Grid, tmp_path: Path
) -> None:
    where = point_in(nanning_grid, BEAT2, 40)
    command = open_page("/command", "dispatcher", size=WALL)
    command.wait_for_selector('.pill.status[data-state="live"]')

    # --- the grid worker reports, with a GPS fix and a 12 MP photo
    report = open_page("/report", "worker1", geo=where)
    report.click(".picker-button")
    report.click(f'.type-tile[data-code="{EVENT}"]')
    report.wait_for_function(
        "document.querySelector('.position .place')?.dataset.cell?.startsWith('450103902')"
    )
    report.set_input_files(
        ".report-form input[type=file]",
        camera_photo(tmp_path / "big.jpg", (4000, 3000), (60, 90, 40)),
    )
    report.wait_for_selector(".report-form .thumb img")
    report.fill("textarea[name=description]", "路口垃圾堆放 garbage at the corner")
    shoot(report, "report-phone")
    report.click(".report-form button[type=submit]")
    sent = report.wait_for_selector('.report-item[data-state="sent"]')
    case_id = int(sent.get_attribute("data-case") or 0)
    case = live_app.get("worker1", f"/cases/{case_id}")
    assert case["event_type"]["code"] == EVENT
    assert case["location"]["street"] == BEAT2
    assert case["location"]["accuracy_m"] == 8
    lead = next(u["unit_id"] for u in case["units"] if u["role"] == "lead")
    assert lead == "450103-hw"
    (photo,) = case["photo_ids"]
    stored = httpx.get(
        f"{live_app.url}/api/v1/photos/{photo}",
        headers={"Authorization": f"Bearer {live_app.token('worker1')}"},
    )
    assert max(Image.open(io.BytesIO(stored.content)).size) <= 1600  # shrunk on the phone

    # --- the command map shows it within seconds, and opens it
    command.wait_for_selector(marker(case_id, "dispatched"), state="attached", timeout=SEEN_S)
    command.locator(f'.stream-item[data-case="{case_id}"]').first.wait_for(timeout=SEEN_S)

    # --- the responsible team: inbox, accept, start, resolve with an after-photo
    team = open_page("/team", f"team-{lead}")
    team.wait_for_selector(f'.ticket-card[data-case="{case_id}"] .countdown[data-state="green"]')
    shoot(team, "team-inbox-phone")
    team.click(f'.ticket-card[data-case="{case_id}"]')
    team.click('[data-act="accept"]')
    team.click('[data-act="start"]')
    team.click('[data-act="resolve"]')
    team.fill(".sheet textarea", "已清运，地面冲洗干净 cleared and washed")
    team.set_input_files(
        ".sheet input[type=file]",
        camera_photo(tmp_path / "after.jpg", (3000, 4000), (200, 200, 210)),
    )
    team.wait_for_selector(".sheet .thumb img")
    team.click(".sheet footer button")
    team.wait_for_selector(".ticket-detail .badge.ticket-resolved")
    team.wait_for_selector(".ticket-detail .photo-strip img[src^='blob:']")
    shoot(team, "team-phone")
    command.wait_for_selector(marker(case_id, "verifying"), state="attached", timeout=SEEN_S)

    # --- another worker checks on site and passes it
    checker = open_page("/report", "worker2", geo=where)
    checker.click('.tab[data-view="checks"]')
    item = checker.locator(f'.check-item[data-case="{case_id}"]')
    item.locator(".resolution q").wait_for()
    assert "cleared and washed" in item.locator(".resolution q").inner_text()
    item.locator(".photo-strip img[src^='blob:']").nth(1).wait_for()  # before and after
    shoot(checker, "report-check-phone")
    item.locator('[data-verdict="pass"]').click()
    checker.click(".sheet footer button")
    item.wait_for(state="detached")

    # --- the map shows it closed; the case says who closed it
    command.wait_for_selector(marker(case_id, "closed"), state="attached", timeout=SEEN_S)
    closed = live_app.get("dispatcher", f"/cases/{case_id}")
    assert closed["status"] == "closed"
    assert [e["actor"] for e in closed["timeline"] if e["type"] == "case.closed"] == ["worker2"]
    command.click(marker(case_id))
    command.wait_for_selector(f".case-drawer:has-text('{closed['case_no']}') .timeline li")
    shoot(command, "command-wall")

    # --- every page at the other size too
    for page, name in ((report, "report"), (team, "team")):
        page.set_viewport_size(WALL)
        shoot(page, f"{name}-wall")
    command.set_viewport_size(PHONE)
    shoot(command, "command-phone")
