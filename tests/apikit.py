"""A signed-in test view of the app, shared by the integration tests."""

from __future__ import annotations

import uuid
from typing import Any

DEMO_PASSWORD = "demo-pass-123"


class Api:
    """A signed-in view of the app for tests: tokens per demo user, report helper."""

    def __init__(self, client: Any, app: Any) -> None:
        self.client = client
        self.app = app
        self.state = app.state.gd
        self._tokens: dict[str, str] = {}

    def auth(self, user: str) -> dict[str, str]:
        if user not in self._tokens:
            r = self.client.post(
                "/api/v1/auth/token", data={"username": user, "password": DEMO_PASSWORD}
            )
            assert r.status_code == 200, r.text
            self._tokens[user] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[user]}"}

    def point_in(self, prefix: str, k: int = 0) -> tuple[float, float]:
        """A WGS-84 point well inside the k-th cell whose code starts with ``prefix``."""
        grid = self.state.grid
        codes = [i for i, c in enumerate(grid.codes) if c.startswith(prefix)]
        p = grid.geoms[codes[k % len(codes)]].point_on_surface()
        return p.x, p.y

    def report(
        self,
        user: str = "worker1",
        *,
        key: str | None = None,
        event_type: str = "06014",
        where: str = "450103901",
        k: int = 0,
        **extra: Any,
    ) -> Any:
        lon, lat = self.point_in(where, k)
        body = {"event_type": event_type, "lon": lon, "lat": lat, "description": "测试 test"}
        body.update(extra)
        headers = {**self.auth(user), "Idempotency-Key": key or str(uuid.uuid4())}
        return self.client.post("/api/v1/reports", json=body, headers=headers)
