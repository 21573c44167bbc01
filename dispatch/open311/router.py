"""Open311 GeoReport v2 under /open311/v2/: thin handlers; errors in the spec's own shape.

Every failure under this router, including a bad query and a database that is away, is
answered as the spec says (a list of ``{code, description}``; 404 unknown, 403 api_key,
400 anything else) in the format the URL asked for, by :class:`Open311Route`. The routes
stay out of the app's OpenAPI schema: the GeoReport v2 specification describes them.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.responses import Response

from dispatch.dbtypes import utcnow
from dispatch.deps import StateDep
from dispatch.open311.filing import file_request
from dispatch.open311.keys import principal_for_key
from dispatch.open311.params import Open311Error, Params, check_jurisdiction, first, parse_filters
from dispatch.open311.reads import find_requests, get_request
from dispatch.open311.render import (
    as_error,
    check_format,
    error_response,
    format_of_path,
    language,
    render,
)
from dispatch.open311.services import discovery, service_definition, service_list
from dispatch.photos.service import CONTENT_TYPE, open_public_photo
from dispatch.state import AppState

PREFIX = "/open311/v2"


class Open311Route(APIRoute):
    """Renders any exception of a handler (or of parsing its input) as a spec error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def spec_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                status, descriptions = as_error(exc)
                response = error_response(format_of_path(request.url.path), status, descriptions)
                if status == 503:
                    response.headers["Retry-After"] = "5"
                return response

        return spec_errors


router = APIRouter(
    prefix=PREFIX, tags=["open311"], route_class=Open311Route, include_in_schema=False
)


def _params(request: Request) -> dict[str, list[str]]:
    q = request.query_params
    return {name: q.getlist(name) for name in q}


def _start(state: AppState, request: Request, fmt: str) -> tuple[dict[str, list[str]], str]:
    """Format and jurisdiction checked; the parameters and the caller's language."""
    check_format(fmt)
    params = _params(request)
    check_jurisdiction(params, state.settings.open311_jurisdiction_id)
    return params, language(request)


def _media(request: Request) -> Callable[[str], str]:
    return lambda photo_id: str(request.url_for("open311_media", photo_id=photo_id))


@router.get("/discovery.{fmt}")
def get_discovery(request: Request, state: StateDep, fmt: str) -> Response:
    check_format(fmt)
    endpoint = str(request.base_url).rstrip("/") + PREFIX
    return render(fmt, "discovery", discovery(state, endpoint))


@router.get("/services.{fmt}")
def get_services(request: Request, state: StateDep, fmt: str) -> Response:
    _, lang = _start(state, request, fmt)
    return render(fmt, "services", service_list(state, lang), lang=lang)


@router.get("/services/{service_code}.{fmt}")
def get_service_definition(
    request: Request, state: StateDep, service_code: str, fmt: str
) -> Response:
    _, lang = _start(state, request, fmt)
    doc = service_definition(state, service_code, lang)
    return render(fmt, "service_definition", doc, lang=lang)


@router.post("/requests.{fmt}", status_code=201)
async def post_request(request: Request, state: StateDep, fmt: str) -> Response:
    """Form-encoded (the spec); ``api_key`` in the form or, leniently, in the query."""
    check_format(fmt)
    params: Params = await _form_and_query(request)
    key = first(params, "api_key")
    engine = state.db.read_engine
    principal = await run_in_threadpool(principal_for_key, engine, key) if key else None
    if principal is None:
        raise Open311Error(403, "Invalid api_key received -- can't proceed with create_request.")
    check_jurisdiction(params, state.settings.open311_jurisdiction_id)
    lang = language(request)
    doc = await file_request(state, principal, params, lang)
    return render(fmt, "service_requests", [doc], status=201, lang=lang)


async def _form_and_query(request: Request) -> dict[str, list[str]]:
    """The query's parameters, overridden by the form's (files are not part of v2)."""
    params = _params(request)
    try:
        async with request.form(max_files=0, max_fields=200) as form:
            for name in form:
                params[name] = [v for v in form.getlist(name) if isinstance(v, str)]
    except (MultiPartException, HTTPException) as exc:
        raise Open311Error(400, "send the fields as an x-www-form-urlencoded form") from exc
    return params


@router.get("/requests.{fmt}")
def get_requests(request: Request, state: StateDep, fmt: str) -> Response:
    params, lang = _start(state, request, fmt)
    filters = parse_filters(params, utcnow())
    docs = find_requests(state, filters, lang, _media(request))
    return render(fmt, "service_requests", docs, lang=lang)


@router.get("/requests/{request_id}.{fmt}")
def get_one_request(request: Request, state: StateDep, request_id: str, fmt: str) -> Response:
    params, lang = _start(state, request, fmt)
    extensions = (first(params, "extensions") or "").lower() == "true"
    doc = get_request(state, request_id, lang, _media(request), extensions)
    return render(fmt, "service_requests", [doc], lang=lang)


@router.get("/tokens/{token}.{fmt}")
def get_token(request: Request, state: StateDep, token: str, fmt: str) -> Response:
    """Every service is ``realtime``: a POST answers with its id at once and issues no token."""
    _start(state, request, fmt)
    raise Open311Error(
        404,
        f"token {token!r} not found: every service here is realtime, so a POST answers with "
        "its service_request_id at once and no tokens are issued",
    )


@router.get("/media/{photo_id}.jpg", name="open311_media")
def get_media(state: StateDep, photo_id: str) -> FileResponse:
    """A photo a dispatcher made public; any other id is 404."""
    path = open_public_photo(state.db.read_engine, state.settings, photo_id)
    return FileResponse(path, media_type=CONTENT_TYPE, headers={"Cache-Control": "public"})
