"""The feed's one-round-trip read on PostgreSQL (a psycopg pipeline, no SQLAlchemy) sends
exactly the messages the SQLAlchemy read sends, whatever the session's time zone."""

from __future__ import annotations

import orjson
import pytest
from apikit import Api

from dispatch.feed import reader

pytestmark = pytest.mark.postgis


def test_the_pipelined_read_is_the_sqlalchemy_read(pg_api: Api) -> None:
    api = pg_api
    joint = api.report(event_type="06014", where="450103901", k=1).json()  # lead + support
    api.report(event_type="09009", where="450102901", k=2)
    ticket = joint["units"][0]
    moved = api.post(
        f"team-{ticket['unit_id']}",
        f"/tickets/{ticket['ticket_id']}/accept",
        {"version": ticket["version"]},
    )
    assert moved.status_code == 200, moved.text
    engine = api.state.db.read_engine
    with engine.connect() as conn:
        head = reader.read_head(conn)
        via_orm = reader._build(*reader._fetch(conn, 0, head, 500))
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        raw.execute("SET TIME ZONE 'Asia/Shanghai'")  # the driver then gives +08:00 times
        piped = reader._build(*reader._fetch_pg(raw, 0, head, 500))
        page = reader._build(*reader._fetch_pg(raw, 2, head, 3))
    assert len(via_orm) == head >= 8
    assert [e.text for e in piped] == [e.text for e in via_orm]
    assert piped == via_orm  # the role-filter facts too
    assert [e.seq for e in page] == [3, 4, 5]
    assert [e.text for e in page] == [e.text for e in via_orm[2:5]]
    accepted = next(orjson.loads(e.text) for e in piped if "accepted" in e.text)
    assert accepted["ticket"]["status"] == "accepted"
    assert accepted["at"].endswith("Z")
