"""A report made with no network waits on the phone and is sent, exactly once, when the
network returns, even when the first answer is lost on the way back. The page itself opens
with no network (service worker)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from browserkit import LiveApp, shoot
from PIL import Image

from geo import Grid

pytestmark = pytest.mark.browser

BEAT = "450103901"  # worker1's street
NOTE = "离线上报 offline report"


def my_cases(live_app: LiveApp) -> list[dict[str, Any]]:
    return [
        c for c in live_app.get("worker1", "/cases", limit=500)["items"] if c["description"] == NOTE
    ]


def test_offline_report_is_sent_once(
    open_page: Any, live_app: LiveApp, nanning_grid: Grid, tmp_path: Path
) -> None:
    cells = [i for i, c in enumerate(nanning_grid.codes) if c.startswith(BEAT)]
    p = nanning_grid.geoms[cells[70]].point_on_surface()
    page = open_page("/report", "worker1", geo=(p.x, p.y))
    page.wait_for_selector('.pill.status[data-state="live"]')
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.wait_for_function("document.querySelector('.position .place')?.dataset.cell")
    assert my_cases(live_app) == []

    # --- the network goes; the worker reports anyway
    page.context.set_offline(True)
    page.guard.network_down = True
    page.wait_for_selector('.pill.status[data-state="offline"]')
    page.click(".picker-button")
    page.fill(".type-picker input[type=search]", "09009")
    page.click('.type-row[data-code="09009"]')
    Image.new("RGB", (1200, 900), (120, 60, 60)).save(tmp_path / "p.jpg", "JPEG")
    page.set_input_files(".report-form input[type=file]", tmp_path / "p.jpg")
    page.wait_for_selector(".report-form .thumb img")
    page.fill("textarea[name=description]", NOTE)
    page.click(".report-form button[type=submit]")
    page.wait_for_selector('.report-item[data-state="queued"]')
    page.wait_for_selector(".outbox-summary .banner.warn")
    shoot(page, "report-offline-phone")
    assert my_cases(live_app) == []

    # --- still offline, the page opens again from the service worker, the queue kept
    page.reload()
    page.click('.tab[data-view="mine"]')
    page.wait_for_selector('.report-item[data-state="queued"]')
    back_online = datetime.now(UTC)

    # --- the network returns; the first answer is lost on the way back
    page.guard.lose_reply = "/api/v1/reports"
    page.guard.network_down = False
    lost_reply = lambda r: r.url.endswith("/api/v1/reports")  # noqa: E731
    with page.expect_event("requestfailed", predicate=lost_reply, timeout=15000):
        page.context.set_offline(False)
    assert page.guard.lost == [201]  # the server filed it; the page did not hear
    page.evaluate("dispatchEvent(new Event('online'))")
    sent = page.wait_for_selector('.report-item[data-state="sent"]')

    (case,) = my_cases(live_app)
    assert int(sent.get_attribute("data-case") or 0) == case["id"]
    assert case["report_count"] == 1
    assert case["event_type"]["code"] == "09009"
    assert case["location"]["accuracy_m"] == 8
    assert abs(case["location"]["input_lon"] - p.x) < 1e-9
    assert datetime.fromisoformat(case["captured_at"]) < back_online  # when it was seen
    assert len(case["photo_ids"]) == 1

    # --- nothing more goes out: another reload and a network event change nothing
    page.reload()
    page.click('.tab[data-view="mine"]')
    page.wait_for_selector('.report-item[data-state="sent"]')
    page.evaluate("dispatchEvent(new Event('online'))")
    assert len(my_cases(live_app)) == 1
