"""``/healthz`` (the process is up), ``/readyz`` (it can serve), ``/metrics`` (Prometheus)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from dispatch.errors import Unauthenticated
from dispatch.ops.health import Readiness
from dispatch.ops.metrics import AppMetrics

router = APIRouter(tags=["ops"])

RETRY_AFTER_S = "5"


@dataclass
class Ops:
    """What the ops endpoints keep while the app runs (made in the lifespan)."""

    readiness: Readiness
    metrics: AppMetrics

    async def close(self) -> None:
        await self.readiness.close()
        self.metrics.close()


def _ops(request: Request) -> Ops:
    ops: Ops = request.app.state.ops
    return ops


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up and serving (no dependency checked): for liveness probes."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"description": "not ready: the failing checks are in error.details"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Ready to serve: the database answers a query, Redis (when configured) answers PING,
    the grid is loaded. Each check is bounded by ``GRIDDISPATCH_READY_TIMEOUT_S``."""
    ok, checks = await _ops(request).readiness.check()
    if ok:
        return JSONResponse({"status": "ready", "checks": checks})
    failing = [name for name, c in checks.items() if not c["ok"]]
    body: dict[str, Any] = {
        "error": {
            "code": "not_ready",
            "message": f"not ready: {', '.join(failing)}",
            "details": {"failing": failing, "checks": checks},
        }
    }
    return JSONResponse(body, 503, {"Retry-After": RETRY_AFTER_S})


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request) -> Response:
    """Prometheus text format. Open unless ``GRIDDISPATCH_METRICS_TOKEN`` is set; then the
    scraper sends ``Authorization: Bearer <token>``."""
    state = request.app.state.gd
    token = state.settings.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "")
        want = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(sent.encode(), want.encode()):
            raise Unauthenticated("/metrics needs 'Authorization: Bearer <metrics token>'")
    ops = _ops(request)
    await ops.metrics.refresh()
    body = await run_in_threadpool(ops.metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
