"""Open311 test helpers: one reading of XML and JSON answers, keys, and form POSTs.

``doc()`` turns either format into the same Python structure (the spec's Spark mapping
read backwards), with JSON scalars written as XML would write them ("true", "22.8"…),
so one assertion checks both formats. Tests of JSON types look at ``r.json()`` directly.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

from apikit import Api

from dispatch.open311.keys import create_key

BASE = "/open311/v2"
FORMATS = ("xml", "json")
CONTENT_TYPES = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
#: XML containers whose children are list items
LISTS = {"services", "service_requests", "errors", "attributes", "values", "endpoints", "formats"}


def from_xml(el: ET.Element) -> Any:
    if el.tag in LISTS:
        return [from_xml(c) for c in el]
    if len(el):
        return {c.tag: from_xml(c) for c in el}
    return el.text


def as_text(value: Any) -> Any:
    """JSON scalars as XML text: booleans true/false, numbers as written, null as None."""
    if isinstance(value, dict):
        return {k: as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_text(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or value == "":
        return None
    return str(value)


def doc(r: Any, fmt: str, root: str | None = None) -> Any:
    """The answer in either format as one structure; checks the content type and, for XML,
    the declaration (UTF-8) and the root element."""
    assert r.headers["content-type"] == CONTENT_TYPES[fmt], r.headers["content-type"]
    if fmt == "json":
        return as_text(r.json())
    first_line = r.content.split(b"\n", 1)[0]
    assert first_line.startswith(b"<?xml"), first_line
    assert b"encoding='UTF-8'" in first_line or b'encoding="UTF-8"' in first_line
    el = ET.fromstring(r.content)
    if root is not None:
        assert el.tag == root
    return from_xml(el)


def errors(r: Any, fmt: str, status: int) -> list[str]:
    """The descriptions of a spec error body, after checking status and codes."""
    assert r.status_code == status, r.text
    items = doc(r, fmt, "errors")
    assert isinstance(items, list)
    assert items
    assert all(e["code"] == str(status) for e in items)
    return [e["description"] for e in items]


class Open311:
    """A client of the Open311 endpoint of one app, with its own key."""

    def __init__(self, api: Api, client: str) -> None:
        self.api = api
        self.client = client
        self.key = create_key(api.state.db.engine, client)

    def get(self, path: str, fmt: str = "json", **params: Any) -> Any:
        headers = {}
        if "lang" in params:
            headers["Accept-Language"] = params.pop("lang")
        return self.api.client.get(f"{BASE}/{path}.{fmt}", params=params, headers=headers)

    def post(self, fmt: str = "json", *, key: str | None = None, **form: Any) -> Any:
        """POST a request, form-encoded; ``attribute`` takes {code: value or [values]};
        ``key=""`` sends no api_key at all."""
        attrs = form.pop("attribute", {})
        data = [] if key == "" else [("api_key", self.key if key is None else key)]
        data += [(k, str(v)) for k, v in form.items() if v is not None]
        for code, value in attrs.items():
            if isinstance(value, list):
                data += [(f"attribute[{code}][]", v) for v in value]
            else:
                data.append((f"attribute[{code}]", value))
        return self.api.client.post(
            f"{BASE}/requests.{fmt}",
            content=urlencode(data),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )

    def file(self, where: str = "450103901", event: str = "06010", **form: Any) -> str:
        """File a request at a fresh point of ``where``; its service_request_id."""
        lon, lat = self.api.free_point(where)
        r = self.post(service_code=event, lat=lat, long=lon, **form)
        assert r.status_code == 201, r.text
        return str(r.json()[0]["service_request_id"])
