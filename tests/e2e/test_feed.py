"""The pages keep the live feed by themselves: after a dropped link the command map reconnects
and resumes from the last seq it had (the events it missed arrive, no snapshot is reloaded);
told to resync, it reloads the snapshot and goes on from there.

The page's websocket goes through Playwright's websocket route, which the test can cut."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from browserkit import WALL, LiveApp

from geo import Grid

pytestmark = pytest.mark.browser

STREET = "450102901"  # worker4's street (兴宁)


class Link:
    """Routes the page's feed socket: through to the server, refused, or told (once) to
    resync."""

    def __init__(self) -> None:
        self.mode = "up"
        self.urls: list[str] = []
        self.sockets: list[Any] = []

    def route(self, ws: Any) -> None:
        self.urls.append(ws.url)
        if self.mode == "down":
            ws.close(code=1001, reason="link down")
        elif self.mode == "resync":

            def on_auth(_: Any) -> None:
                self.mode = "up"  # once
                ws.send(json.dumps({"type": "resync", "reason": "test"}))
                ws.close(code=4409, reason="resync")

            ws.on_message(on_auth)
        else:
            ws.connect_to_server()
            self.sockets.append(ws)

    def since(self, k: int = -1) -> int:
        return int(parse_qs(urlsplit(self.urls[k]).query)["since"][0])


def report(live_app: LiveApp, grid: Grid, k: int) -> dict[str, Any]:
    cells = [i for i, c in enumerate(grid.codes) if c.startswith(STREET)]
    p = grid.geoms[cells[k]].point_on_surface()
    body = {"event_type": "07001", "lon": p.x, "lat": p.y, "description": "小广告"}
    out = live_app.post("worker4", "/reports", body, **{"Idempotency-Key": str(uuid.uuid4())})
    return dict(live_app.get("dispatcher", f"/cases/{out['id']}"))


def snapshots(page: Any) -> int:
    return sum(1 for m, url in page.guard.requests if url.endswith("/api/v1/feed/snapshot"))


def marker(case: dict[str, Any]) -> str:
    return f'path.case-marker[data-case="{case["id"]}"]'


def test_command_map_resumes_and_resyncs(
    open_page: Any, live_app: LiveApp, nanning_grid: Grid
) -> None:
    link = Link()
    page = open_page(
        "/command",
        "commander",
        size=WALL,
        before=lambda p: p.route_web_socket("**/api/v1/feed*", link.route),
    )
    page.wait_for_selector('.pill.status[data-state="live"]')
    first = report(live_app, nanning_grid, 10)
    page.wait_for_selector(marker(first), state="attached")
    assert snapshots(page) == 1

    # --- the link drops; events happen meanwhile; the page comes back on its own
    link.mode = "down"
    link.sockets[-1].close(code=1001, reason="link lost")
    page.wait_for_selector('.pill.status[data-state="connecting"]')
    missed = report(live_app, nanning_grid, 30)
    link.mode = "up"
    page.wait_for_selector(marker(missed), state="attached", timeout=30000)
    page.wait_for_selector('.pill.status[data-state="live"]')
    since = link.since()
    assert max(e["seq"] for e in first["timeline"]) <= since < missed["timeline"][0]["seq"]
    assert snapshots(page) == 1  # resumed from its seq, no reload

    # --- told to resync: the snapshot is loaded again, then the feed continues from it
    link.mode = "resync"
    is_snapshot = lambda r: r.url.endswith("/api/v1/feed/snapshot")  # noqa: E731
    with page.expect_request(is_snapshot, timeout=30000):
        link.sockets[-1].close(code=1001, reason="link lost")
    assert snapshots(page) == 2
    later = report(live_app, nanning_grid, 50)
    page.wait_for_selector(marker(later), state="attached", timeout=30000)
    assert link.since() >= max(e["seq"] for e in missed["timeline"])
