"""Role and object checks for every endpoint: a matrix generated from the OpenAPI schema.

Every path of the API must have a policy below (a new endpoint without one fails the
test), and every policy is checked for every kind of caller: anonymous, the reporting
worker, a worker of another beat, the lead and support teams of the case, a team of
another unit, dispatcher, commander and admin. A caller whose role may not act gets
403; a caller who may not see the object gets 404 (its existence is not revealed);
an allowed caller gets anything but 401/403/404 (a 409 or 422 is the state or body
talking, which other tests cover).
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from apikit import Api
from PIL import Image

OK = "ok"
USERS = {
    "worker_own": "worker1",  # reporter; beat 450103901 holds the case
    "worker_other": "worker4",  # beat 450105901
    "team_lead": "team-450103-cgzf",
    "team_support": "team-450103-jj",
    "team_other": "team-450102-cgzf",
    "dispatcher": "dispatcher",
    "commander": "commander",
    "admin": "admin",
}
CITY = {"dispatcher", "commander", "admin"}
SEES_CASE = {"worker_own", "team_lead", "team_support", *CITY}
SEES_TICKET = {"team_lead", *CITY}


def everyone(_: str) -> str:
    return OK


def case_reader(u: str) -> str | int:
    return OK if u in SEES_CASE else 404


def ticket_reader(u: str) -> str | int:
    return OK if u in SEES_TICKET else 404


def ticket_actor(u: str) -> str | int:
    if not u.startswith("team"):
        return 403
    return OK if u == "team_lead" else 404


def verifier(u: str) -> str | int:
    if not u.startswith("worker"):
        return 403
    return OK if u in SEES_CASE else 404


def dispatcher_only(u: str) -> str | int:
    return OK if u in ("dispatcher", "admin") else 403


def reporter(u: str) -> str | int:
    return OK if u.startswith("worker") or u in ("dispatcher", "admin") else 403


def city_only(u: str) -> str | int:
    return OK if u in CITY else 403


def inbox(u: str) -> str | int:
    return OK if u.startswith("team") or u in CITY else 403


def figures(u: str) -> str | int:
    """Evaluation figures: a team its own unit's (forced), the city roles all, workers none."""
    return 403 if u.startswith("worker") else OK


# (method, path) → (policy, request body or None)
POLICY: dict[tuple[str, str], tuple[Callable[[str], str | int], Any]] = {
    ("get", "/api/v1/auth/me"): (everyone, None),
    ("post", "/api/v1/auth/logout"): (everyone, None),
    ("post", "/api/v1/reports"): (reporter, "REPORT"),
    ("get", "/api/v1/cases"): (everyone, None),
    ("get", "/api/v1/cases/{case_id}"): (case_reader, None),
    ("get", "/api/v1/tickets"): (inbox, None),
    ("get", "/api/v1/tickets/{ticket_id}"): (ticket_reader, None),
    ("post", "/api/v1/tickets/{ticket_id}/accept"): (ticket_actor, {}),
    ("post", "/api/v1/tickets/{ticket_id}/start"): (ticket_actor, {}),
    ("post", "/api/v1/tickets/{ticket_id}/resolve"): (ticket_actor, {"note": "x", "photo_ids": []}),
    ("post", "/api/v1/tickets/{ticket_id}/return"): (ticket_actor, {"reason": "not ours"}),
    ("post", "/api/v1/cases/{case_id}/verify"): (verifier, {"passed": True, "note": "ok"}),
    ("post", "/api/v1/cases/{case_id}/reject"): (dispatcher_only, {"reason": "x"}),
    ("post", "/api/v1/cases/{case_id}/dispatch"): (dispatcher_only, {}),
    ("post", "/api/v1/cases/{case_id}/reassign"): (
        dispatcher_only,
        {"unit_id": "450103-zj", "role": "support"},
    ),
    ("post", "/api/v1/cases/{case_id}/reopen"): (dispatcher_only, {"reason": "x"}),
    ("get", "/api/v1/event-types"): (everyone, None),
    ("get", "/api/v1/units"): (everyone, None),
    ("get", "/api/v1/grid/locate"): (everyone, None),
    ("get", "/api/v1/grid/cells"): (everyone, None),
    ("get", "/api/v1/grid/areas"): (everyone, None),
    ("get", "/api/v1/grid/versions"): (everyone, None),
    ("post", "/api/v1/photos"): (everyone, "PHOTO"),
    ("get", "/api/v1/photos/{photo_id}"): (case_reader, None),
    ("get", "/api/v1/feed/snapshot"): (everyone, None),
    ("get", "/api/v1/feed/stats"): (city_only, None),
    ("post", "/api/v1/photos/{photo_id}/public"): (dispatcher_only, {"public": True}),
    ("post", "/api/v1/tickets/{ticket_id}/extend"): (dispatcher_only, {"extra": 1, "reason": "x"}),
    ("get", "/api/v1/stats/units"): (figures, None),
    ("get", "/api/v1/stats/areas"): (figures, None),
    ("get", "/api/v1/stats/event-types"): (figures, None),
    ("get", "/api/v1/stats/days"): (figures, None),
    ("get", "/api/v1/stats/hotspots/cells"): (city_only, None),
    ("get", "/api/v1/stats/hotspots/streets"): (city_only, None),
    ("get", "/api/v1/stats/hotspots/repeats"): (city_only, None),
    ("get", "/api/v1/stats/report.html"): (city_only, None),
}
PUBLIC = {("post", "/api/v1/auth/token"), ("get", "/api/v1/web/config")}
QUERY = {
    "/api/v1/grid/locate": {"lon": "108.37", "lat": "22.81"},
    "/api/v1/grid/cells": {"bbox": "108.36,22.80,108.362,22.802"},
    "/api/v1/grid/areas": {"level": "district"},
    "/api/v1/stats/report.html": {"district": "450103", "month": "2026-11"},
}


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (10, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


def test_every_endpoint_has_a_policy(api: Api) -> None:
    paths = {
        (m, p)
        for p, ops in api.app.openapi()["paths"].items()
        if p.startswith("/api/")
        for m in ops
    }
    assert paths - PUBLIC == set(POLICY), "give every new endpoint a policy here"


@pytest.fixture(scope="module")
def objects(api: Api) -> dict[str, Any]:
    h = api.auth("worker1")
    photo = api.client.post(
        "/api/v1/photos", files={"file": ("p.jpg", jpeg(), "image/jpeg")}, headers=h
    ).json()["id"]
    case = api.report(
        "worker1", event_type="06014", where="450103901", k=90, photo_ids=[photo]
    ).json()
    lead = next(u["ticket_id"] for u in case["units"] if u["role"] == "lead")
    return {"case_id": case["id"], "ticket_id": lead, "photo_id": photo}


def call(api: Api, method: str, path: str, body: Any, headers: dict[str, str]) -> Any:
    if body == "PHOTO":
        return api.client.post(
            path, files={"file": ("p.jpg", jpeg(), "image/jpeg")}, headers=headers
        )
    if body == "REPORT":
        lon, lat = api.point_in("450103902", 91)
        return api.client.post(
            path,
            json={"event_type": "06012", "lon": lon, "lat": lat},
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        )
    return api.client.request(
        method.upper(), path, params=QUERY.get(path), json=body, headers=headers
    )


@pytest.mark.parametrize("endpoint", sorted(POLICY), ids=lambda e: f"{e[0]} {e[1]}")
def test_matrix(api: Api, objects: dict[str, Any], endpoint: tuple[str, str]) -> None:
    method, template = endpoint
    policy, body = POLICY[endpoint]
    path = re.sub(r"\{(\w+)\}", lambda m: str(objects[m.group(1)]), template)
    anon = call(api, method, path, body, {})
    assert anon.status_code == 401, f"anonymous {method} {path}: {anon.status_code}"
    assert set(anon.json()["error"]) == {"code", "message", "details"}
    failures = []
    for who, user in USERS.items():
        headers = api.auth(user)
        if template.endswith("/logout"):  # a fresh token: logging out must not end the run
            api._tokens.pop(user)
            headers = api.auth(user)
            api._tokens.pop(user)
        r = call(api, method, path, body, headers)
        want = policy(who)
        got_ok = r.status_code not in (401, 403, 404) and r.status_code < 500
        if (want == OK and not got_ok) or (want != OK and r.status_code != want):
            failures.append(f"{who}: expected {want}, got {r.status_code} {r.text[:120]}")
        if r.status_code >= 400:
            assert set(r.json()["error"]) == {"code", "message", "details"}
    assert not failures, "\n".join(failures)


def test_another_units_ticket_is_invisible_in_lists(api: Api, objects: dict[str, Any]) -> None:
    r = api.client.get("/api/v1/tickets", headers=api.auth("team-450102-cgzf"))
    assert r.status_code == 200
    assert objects["ticket_id"] not in [t["id"] for t in r.json()["items"]]
    r = api.client.get("/api/v1/cases", headers=api.auth("worker4"))
    assert objects["case_id"] not in [c["id"] for c in r.json()["items"]]
