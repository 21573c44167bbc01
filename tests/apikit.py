"""A signed-in test view of the app, shared by the integration tests."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

DEMO_PASSWORD = "demo-pass-123"
API = "/api/v1"


class Api:
    """A signed-in view of the app for tests: tokens per demo user, report helper."""

    def __init__(self, client: Any, app: Any) -> None:
        self.client = client
        self.app = app
        self.state = app.state.gd
        self._tokens: dict[str, str] = {}
        self._taken: list[tuple[float, float]] = []  # points handed out by free_point

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

    # -- additive helpers: calls under /api/v1 as a demo user, fresh places, photos --

    def get(self, user: str, path: str, **params: Any) -> Any:
        """GET ``/api/v1{path}`` as ``user``."""
        return self.client.get(API + path, params=params, headers=self.auth(user))

    def post(self, user: str, path: str, body: Any = None) -> Any:
        """POST a JSON body to ``/api/v1{path}`` as ``user``."""
        return self.client.post(API + path, json=body, headers=self.auth(user))

    def ok(self, user: str, path: str, body: Any = None) -> Any:
        """:meth:`post`, asserting 200; the JSON answer."""
        r = self.post(user, path, body)
        assert r.status_code == 200, r.text
        return r.json()

    def free_point(self, prefix: str, min_m: float = 200.0) -> tuple[float, float]:
        """A point in a cell whose code starts with ``prefix``, more than ``min_m`` from every
        point this method handed out before (on this app), so no report there joins another's
        case as a duplicate."""
        import shapely

        from geo.grid import haversine_m

        grid = self.state.grid
        for i, code in enumerate(grid.codes):
            if code.startswith(prefix):
                p = shapely.point_on_surface(grid.geoms[i])
                if all(haversine_m(p.x, p.y, x, y) > min_m for x, y in self._taken):
                    self._taken.append((p.x, p.y))
                    return p.x, p.y
        raise AssertionError(f"no free cell left in {prefix}")

    def photo(self, user: str, color: tuple[int, int, int] = (90, 120, 30)) -> str:
        """Upload a small JPEG as ``user``; its id."""
        from PIL import Image

        buf = io.BytesIO()
        Image.new("RGB", (16, 12), color).save(buf, "JPEG")
        files = {"file": ("p.jpg", buf.getvalue(), "image/jpeg")}
        r = self.client.post(f"{API}/photos", files=files, headers=self.auth(user))
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


def serve_app(request: Any, tmp_path_factory: Any, **overrides: Any) -> Iterator[Api]:
    """The whole app on ``request.param`` ("sqlite" or "postgis"), Nanning loaded, demo
    accounts made, background jobs idle; ``overrides`` are further settings."""
    tmp = tmp_path_factory.mktemp(f"app-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'gd.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url_factory")()
    with running_app(url, photo_dir=tmp / "photos", **overrides) as api:
        yield api


@contextmanager
def running_app(url: str, **overrides: Any) -> Iterator[Api]:
    """The app on ``url``, started and stopped like a process: demo accounts with
    DEMO_PASSWORD, background jobs idle; ``overrides`` are further settings."""
    from fastapi.testclient import TestClient

    from dispatch.app import create_app
    from dispatch.config import Settings

    settings = Settings(
        database_url=url,
        demo_password=DEMO_PASSWORD,
        escalation_interval_s=3600,
        stats_interval_s=3600,
        **overrides,
    )
    app = create_app(settings)
    with TestClient(app) as client:
        yield Api(client, app)
