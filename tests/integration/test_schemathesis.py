"""Schemathesis against the app's own OpenAPI schema: no 5xx, and one error shape.

Every operation is fuzzed three times over SQLite: without credentials, as ``admin`` and as
``worker1``. A few reports are filed first, so that small generated ids name real cases and
tickets. The checks are ours: the status is below 500 and every 4xx body is
``{"error": {"code", "message", "details"}}``. Schemathesis' schema-conformance checks are
not run: they would also judge undocumented 4xx codes and responses to data the schema
allows but the domain refuses (an unknown event type, a point outside the city).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import schemathesis
from apikit import DEMO_PASSWORD
from hypothesis import HealthCheck, settings

from dispatch.app import create_app
from dispatch.config import Settings

pytestmark = pytest.mark.slow

FUZZ = settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)


#: the routes only; requests go to the app of the ``fuzz_app`` fixture (``case.call(app=...)``)
schema = schemathesis.openapi.from_dict(create_app().openapi())


class Caller:
    """Sends cases to the app, signed in as demo users when asked."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.tokens: dict[str, str] = {}
        self.keys = 0

    def send(self, case: Any, user: str | None = None, **headers: str) -> Any:
        return case.call(app=self.app, headers={**self.headers(user), **headers})

    def request(self, method: str, path: str, user: str | None = None, **case: Any) -> Any:
        """A plain request, built by hand rather than generated."""
        headers = case.pop("headers", {})
        return self.send(schema[path][method].Case(**case), user, **headers)

    def headers(self, user: str | None) -> dict[str, str]:
        if user is None:
            return {}
        if user not in self.tokens:
            r = self.request(
                "POST",
                "/api/v1/auth/token",
                body={"username": user, "password": DEMO_PASSWORD},
                media_type="application/x-www-form-urlencoded",
            )
            assert r.status_code == 200, r.text
            self.tokens[user] = r.json()["access_token"]
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def idempotency_key(self) -> str:
        self.keys += 1
        return str(uuid.UUID(int=self.keys))

    def report(self, k: int) -> Any:
        """A valid report of a spill inside the k-th cell of a generated community."""
        grid = self.app.state.gd.grid
        cells = [i for i, c in enumerate(grid.codes) if c.startswith("450103901")]
        p = grid.geoms[cells[k % len(cells)]].point_on_surface()
        body = {"event_type": "06014", "lon": p.x, "lat": p.y, "description": f"seed {k}"}
        key = self.idempotency_key()
        return self.request(
            "POST", "/api/v1/reports", "worker1", body=body, headers={"Idempotency-Key": key}
        )


@pytest.fixture(scope="module")
def caller(tmp_path_factory: pytest.TempPathFactory) -> Caller:
    """The app on SQLite; Schemathesis starts its lifespan on the first request."""
    tmp = tmp_path_factory.mktemp("schemathesis")
    app = create_app(
        Settings(
            database_url=f"sqlite:///{tmp / 'gd.sqlite'}",
            photo_dir=tmp / "photos",
            demo_password=DEMO_PASSWORD,
            escalation_interval_s=3600,
        )
    )
    caller = Caller(app)
    assert caller.request("GET", "/healthz").status_code == 200
    for k in range(4):  # cases 1.. and their tickets, so small generated ids name real ones
        r = caller.report(k)
        assert r.status_code == 201, r.text
    return caller


def _error_shape(body: Any) -> bool:
    if not isinstance(body, dict) or set(body) != {"error"}:
        return False
    err = body["error"]
    return (
        isinstance(err, dict)
        and set(err) == {"code", "message", "details"}
        and isinstance(err["code"], str)
        and isinstance(err["message"], str)
    )


def exercise(case: Any, caller: Caller, user: str | None) -> None:
    headers: dict[str, str] = {}
    if case.path == "/api/v1/reports" and not any(
        k.lower() == "idempotency-key" for k in case.headers or {}
    ):
        headers["Idempotency-Key"] = caller.idempotency_key()  # valid, when none was generated
    response = caller.send(case, user, **headers)
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        assert _error_shape(response.json()), (response.status_code, response.text)
    if user and case.path == "/api/v1/auth/logout" and response.status_code == 204:
        caller.tokens.pop(user, None)  # the token was revoked: sign in again next time


@schema.parametrize()
@FUZZ
def test_anonymous(case: Any, caller: Caller) -> None:
    exercise(case, caller, None)


@schema.parametrize()
@FUZZ
def test_as_admin(case: Any, caller: Caller) -> None:
    exercise(case, caller, "admin")


@schema.parametrize()
@FUZZ
def test_as_worker(case: Any, caller: Caller) -> None:
    exercise(case, caller, "worker1")
