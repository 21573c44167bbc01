"""The outermost layer of the app: a request id, the access log line, request metrics.

It wraps even Starlette's error middleware, so an unhandled error's 500 carries the
request id too and is counted and logged like any other answer.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.ops import metrics
from dispatch.ops.logs import RequestInfo, current_request

access = logging.getLogger("griddispatch.access")

#: an incoming X-Request-ID is kept when it looks like an id (a proxy's, a client's UUID)
SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
HEADER = b"x-request-id"
#: the route label of requests that matched no route (never the raw path: no cardinality)
UNMATCHED = "(unmatched)"


def request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            text = bytes(value).decode("latin-1")
            if SANE_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


def route_of(scope: Scope) -> str:
    """The matched route's template (``/api/v1/cases/{case_id}``), or a fixed label."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if isinstance(path, str) and path else UNMATCHED


class Observe:
    def __init__(self, app: ASGIApp, *, access_log: bool) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        info = RequestInfo(request_id(scope))
        token = current_request.set(info)
        header = (HEADER, info.request_id.encode())
        status = 0
        started = time.perf_counter()

        async def send_observed(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind in ("http.response.start", "websocket.accept"):
                status = message.get("status", 101)
                message["headers"] = [*message.get("headers", ()), header]
            elif kind == "websocket.close" and not status:
                status = 403  # refused before the handshake completed
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        except Exception:
            status = status or 500
            raise
        finally:
            self._done(scope, info, status or 500, time.perf_counter() - started)
            current_request.reset(token)

    def _done(self, scope: Scope, info: RequestInfo, status: int, took_s: float) -> None:
        route = route_of(scope)
        websocket = scope["type"] == "websocket"
        method = "WEBSOCKET" if websocket else str(scope.get("method", ""))
        if not websocket:  # a socket's lifetime is no request latency
            metrics.observe_request(method, route, status, took_s)
        if not self.access_log:
            return
        fields: dict[str, Any] = {
            "request_id": info.request_id,
            "method": method,
            "route": route,
            "path": scope.get("path", ""),
            "status": status,
            "duration_ms": round(took_s * 1000, 2),
        }
        if info.user_id is not None:
            fields["user_id"] = info.user_id
        access.info("%s %s %d %.1f ms", method, route, status, took_s * 1000, extra=fields)


def install(app: FastAPI, *, access_log: bool) -> None:
    """Put :class:`Observe` outside every other layer of ``app``."""
    build = app.build_middleware_stack

    def build_observed() -> ASGIApp:
        return Observe(build(), access_log=access_log)

    app.build_middleware_stack = build_observed  # type: ignore[method-assign]
