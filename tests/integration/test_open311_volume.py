"""The spec's default limit: 1,000 requests a page, the rest on the next, on SQLite and PostGIS.

One case is filed through Open311, then copied 1,001 times straight into the table (test
data, not a code path under test), all within the last 90 days.
"""

from __future__ import annotations

from datetime import timedelta

from apikit import Api
from open311kit import Open311, doc
from sqlalchemy import insert, select
from sqlmodel import col

from dispatch.cases.models import Case
from dispatch.db import transaction

COPIES = 1001


def test_a_page_holds_at_most_1000_requests(api: Api) -> None:
    o311 = Open311(api, "volume")
    rid = o311.file("450103901", event="06001")
    table = Case.__table__  # type: ignore[attr-defined]
    with transaction(api.state.db.engine) as s:
        row = dict(s.execute(select(table).where(col(Case.case_no) == rid)).mappings().one())
        base, start = row["id"], row["created_at"]
        copies = [
            {
                **row,
                "id": base + n,
                "case_no": f"{rid[:9]}{base + n:06d}",
                "created_at": start - timedelta(minutes=n),
                "updated_at": start - timedelta(minutes=n),
            }
            for n in range(1, COPIES + 1)
        ]
        s.execute(insert(table), copies)
    first = o311.get("requests", "json").json()
    assert len(first) == 1000
    assert first[0]["service_request_id"] == rid  # newest first
    second = o311.get("requests", "json", page="2").json()
    assert len(second) == COPIES + 1 - 1000
    assert {r["service_request_id"] for r in first}.isdisjoint(
        r["service_request_id"] for r in second
    )
    assert len(doc(o311.get("requests", "xml"), "xml", "service_requests")) == 1000
    small = o311.get("requests", "json", page_size="300", page="4").json()
    assert [r["service_request_id"] for r in small] == [
        r["service_request_id"] for r in (first + second)[900:1002]
    ]
