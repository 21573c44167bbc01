"""Open311 documents in XML and JSON (the spec's "Spark" mapping), and its error bodies.

One neutral document (dicts, lists, scalars) is written either way: as JSON, or as XML
built with ElementTree, where a list becomes a container whose children are named by
:data:`ITEM` (``services`` → ``service``…). JSON lists stay lists, even with one item.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.requests import Request
from starlette.responses import Response
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from dispatch.db import UNAVAILABLE
from dispatch.errors import DomainError, Forbidden, NotFound, Unauthenticated, Unavailable
from dispatch.open311.params import Open311Error

log = logging.getLogger("griddispatch.open311")

#: the content types the spec names, by URL suffix
FORMATS = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
#: container element → the name of each of its children
ITEM = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
LANGUAGES = ("zh", "en")
CONTENT_LANGUAGE = {"zh": "zh-CN", "en": "en"}
#: characters XML 1.0 cannot carry; shown as U+FFFD instead of breaking the document
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(400, f"unsupported format {fmt!r}: use .xml or .json")
    return fmt


def language(request: Request) -> str:
    """zh or en, from Accept-Language (quality order); Chinese unless English is preferred."""
    accepted = parse_accept_header(request.headers.get("accept-language"), LanguageAccept)
    for tag, quality in accepted:
        primary = tag.split("-", 1)[0].lower()
        if quality > 0 and primary in LANGUAGES:
            return primary
    return "zh"


def render(
    fmt: str, root: str, doc: Any, *, status: int = 200, lang: str | None = None
) -> Response:
    """The document as a response in ``fmt``; ``root`` names the XML root element."""
    if fmt == "json":
        body = orjson.dumps(doc)
    else:
        body = ET.tostring(_element(root, doc), encoding="UTF-8", xml_declaration=True)
    headers = {"Content-Language": CONTENT_LANGUAGE[lang]} if lang else None
    return Response(body, status, headers, media_type=FORMATS[fmt])


def _element(tag: str, value: Any) -> ET.Element:
    el = ET.Element(tag)
    if isinstance(value, dict):
        el.extend(_element(k, v) for k, v in value.items())
    elif isinstance(value, list):
        el.extend(_element(ITEM[tag], v) for v in value)
    elif isinstance(value, bool):
        el.text = "true" if value else "false"
    elif value is not None:
        el.text = _NOT_XML.sub("\ufffd", str(value))
    return el


# ---------------------------------------------------------------- errors


def error_response(fmt: str, status: int, descriptions: tuple[str, ...] | list[str]) -> Response:
    """The spec's error body: a list of {code, description}; code = the HTTP status."""
    doc = [{"code": status, "description": d} for d in descriptions]
    return render(fmt if fmt in FORMATS else "xml", "errors", doc, status=status)


def format_of_path(path: str) -> str:
    """The format a URL asks for, XML (the required one) when it names none we know."""
    suffix = path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
    return suffix if suffix in FORMATS else "xml"


def as_error(exc: Exception) -> tuple[int, list[str]]:
    """Any failure under /open311 as the spec wants it: 404 unknown, 403 key, 503 when the
    database is away (clients retry; the router adds Retry-After), else 400."""
    if isinstance(exc, Open311Error):
        return exc.status, list(exc.descriptions)
    if isinstance(exc, NotFound):
        return 404, [exc.message]
    if isinstance(exc, Forbidden | Unauthenticated):
        return 403, [exc.message]
    if isinstance(exc, Unavailable):
        return 503, [exc.message]
    if isinstance(exc, DomainError):
        return 400, [exc.message]
    if isinstance(exc, RequestValidationError):
        return 400, [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
    if isinstance(exc, UNAVAILABLE):
        log.warning("database unavailable: %s", getattr(exc, "orig", None) or exc)
        return 503, ["the service is unavailable for a moment (database); retry shortly"]
    log.exception("open311 request failed", exc_info=exc)
    return 400, ["internal error"]
