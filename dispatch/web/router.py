"""HTTP for the front ends: the three pages, their static files, settings and service worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from dispatch.deps import StateDep
from dispatch.web.views import APP_PAGES, page_config, page_html, service_worker

router = APIRouter(tags=["web"])

#: pages and scripts are revalidated on every load (cheap 304s), so a new release shows at once
NO_CACHE = {"Cache-Control": "no-cache"}


class RevalidatedFiles(StaticFiles):
    """StaticFiles that asks browsers to revalidate: no stale module after an upgrade."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.setdefault("Cache-Control", "no-cache")
        return response


@router.get("/api/v1/web/config")
def web_config(state: StateDep, request: Request) -> dict[str, Any]:
    """The pages' settings (no sign-in needed): city, optional tile layer and its CRS."""
    return page_config(state.settings, state.grid, request.app.version)


@router.get("/report/sw.js", include_in_schema=False)
def report_service_worker(state: StateDep) -> Response:
    """The worker page's service worker; allowed to control /report from this path."""
    body = service_worker(state.settings.web_dir)
    headers = {**NO_CACHE, "Service-Worker-Allowed": "/report"}
    return Response(body, media_type="text/javascript", headers=headers)


def _page_route(path: str) -> None:
    def page(state: StateDep) -> HTMLResponse:
        return HTMLResponse(page_html(state.settings.web_dir, path), headers=NO_CACHE)

    router.add_api_route(path, page, methods=["GET"], include_in_schema=False, name=path)


for _path in APP_PAGES:
    _page_route(_path)


@router.get("/", include_in_schema=False)
def index(state: StateDep) -> FileResponse:
    """A landing page linking the three pages."""
    return FileResponse(state.settings.web_dir / "pages" / "index.html", headers=NO_CACHE)


def mount_web(app: FastAPI, web_dir: Path) -> None:
    """The pages' routes and /static (web/static, with the vendored npm files)."""
    app.include_router(router)
    app.mount("/static", RevalidatedFiles(directory=web_dir / "static"), name="static")
