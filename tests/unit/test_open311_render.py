"""Open311 rendering and error mapping without an app: the spec's statuses for every kind
of failure, and XML written from the same document as JSON."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from sqlalchemy.exc import OperationalError

from dispatch.errors import (
    Conflict,
    Forbidden,
    NotFound,
    Unauthenticated,
    Unavailable,
    Unprocessable,
)
from dispatch.open311.params import Open311Error
from dispatch.open311.render import as_error, format_of_path, render


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (Open311Error(403, "no key"), 403),
        (NotFound("no such request"), 404),
        (Forbidden("no"), 403),
        (Unauthenticated("no"), 403),
        (Unprocessable("outside the served area"), 400),
        (Conflict("raced"), 400),
        (OperationalError("SELECT 1", {}, Exception("server closed the connection")), 503),
        (Unavailable("the database is unavailable"), 503),
        (RuntimeError("a bug"), 400),
    ],
)
def test_every_failure_is_404_403_503_or_400(exc: Exception, status: int) -> None:
    got, descriptions = as_error(exc)
    assert got == status
    assert descriptions
    assert "a bug" not in descriptions[0]  # internals are logged, not shown


def test_the_database_away_says_retry() -> None:
    _, (message,) = as_error(OperationalError("SELECT 1", {}, Exception("gone")))
    assert "retry" in message


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("/open311/v2/requests.json", "json"),
        ("/open311/v2/requests.xml", "xml"),
        ("/open311/v2/requests.html", "xml"),
        ("/open311/v2/requests", "xml"),
        ("/open311/v2.json/requests", "xml"),
    ],
)
def test_errors_take_the_format_of_the_url(path: str, fmt: str) -> None:
    assert format_of_path(path) == fmt


def test_one_document_two_formats() -> None:
    doc = [{"service_code": "06014", "metadata": True, "lat": 22.8, "zipcode": None,
            "values": ["a", "b"], "description": "撒漏 <&> \x01"}]  # fmt: skip
    assert (
        render("json", "services", doc).body
        == (
            '[{"service_code":"06014","metadata":true,"lat":22.8,"zipcode":null,'
            '"values":["a","b"],"description":"撒漏 <&> \\u0001"}]'
        ).encode()
    )
    xml = render("xml", "services", doc).body
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = ET.fromstring(xml)
    service = root.find("service")
    assert service is not None
    assert [v.text for v in service.findall("values/value")] == ["a", "b"]
    assert service.findtext("metadata") == "true"
    assert service.find("zipcode") is not None
    assert service.findtext("zipcode") == ""  # an empty element
    assert service.findtext("description") == "撒漏 <&> \ufffd"
