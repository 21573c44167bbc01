"""SQLite writers take turns on a file lock; the intake writes on the event loop once its
turn is free, and waits for it without holding up the app."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apikit import Api, running_app
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from dispatch.cases.models import Case
from dispatch.db import TurnTaken, make_engine, only_if_free

BUMP = text("UPDATE feed_head SET seq = seq WHERE id = 1")


def test_a_second_writer_waits_for_the_first_and_only_if_free_refuses(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.sqlite'}"
    first, second = make_engine(url), make_engine(url)
    impatient = make_engine(url, turn_wait_s=0.05)
    with first.begin() as c:
        c.exec_driver_sql("CREATE TABLE feed_head (id INTEGER PRIMARY KEY, seq INTEGER)")
        c.exec_driver_sql("INSERT INTO feed_head VALUES (1, 0)")
    assert (tmp_path / "t.sqlite-writer.lock").exists()
    for end in ("commit", "rollback"):
        holder = first.connect()
        holder.begin()
        holder.execute(BUMP)  # the turn is first's until it ends
        with only_if_free(), pytest.raises(TurnTaken), second.begin() as c:
            c.execute(BUMP)
        with pytest.raises(OperationalError, match=r"waited 0\.05 s"), impatient.begin() as c:
            c.execute(BUMP)  # gives up like SQLite's busy timeout: a 503, not a hang
        got: list[int] = []

        def wait_and_write(got: list[int]) -> None:
            with second.begin() as c:  # blocks on the lock, not on SQLite's retries
                got.append(c.execute(text("SELECT seq FROM feed_head")).scalar_one())

        waiter = threading.Thread(target=wait_and_write, args=(got,))
        waiter.start()
        assert not got
        getattr(holder, end)()  # lets go of the turn
        waiter.join(30)
        assert got == [0]
        holder.close()
    with only_if_free(), second.begin() as c:  # free again: no waiting, no refusal
        c.execute(BUMP)
    for engine in (first, second, impatient):
        engine.dispose()


@pytest.fixture(scope="module")
def sqlite_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("turns")
    with running_app(f"sqlite:///{tmp / 'gd.sqlite'}", photo_dir=tmp / "photos") as api:
        yield api


def test_a_report_waits_its_turn_and_the_app_keeps_answering(
    sqlite_api: Api,
) -> None:
    api = sqlite_api
    writer = api.state.intake
    inline = api.report(k=1)  # the turn is free: written on the event loop
    assert inline.status_code == 201, inline.text
    assert writer.turn_waits == 0
    other = make_engine(api.state.db.url)  # another process writing the same file
    holder = other.connect()
    holder.begin()
    holder.execute(BUMP)
    answers: list[Any] = []
    poster = threading.Thread(target=lambda: answers.append(api.report(k=2)))
    poster.start()
    try:
        assert writer.turn_waited.wait(30)
        assert writer.turn_waits >= 1
        health = api.client.get("/healthz")  # the event loop is not stuck behind the lock
        assert health.status_code == 200
        assert poster.is_alive()
        assert not answers
    finally:
        holder.commit()
        holder.close()
        other.dispose()
    poster.join(30)
    assert answers[0].status_code == 201, answers[0].text
    case_id = answers[0].json()["id"]
    with Session(api.state.db.engine) as s:
        assert s.execute(select(func.count()).where(Case.id == case_id)).scalar_one() == 1
    waits = writer.turn_waits
    again = api.report(k=3)  # the turn is free again: no waiting
    assert again.status_code == 201
    assert writer.turn_waits == waits


def test_rows_the_driver_writes_are_stored_as_the_orm_stores_them(sqlite_api: Api) -> None:
    """The fast path hands SQLite its values through each column's bind processor: every
    column of every row it writes has the storage class and text form of the ORM's."""
    import sqlite3

    from dispatch.auth.principal import Principal
    from dispatch.cases.intake import prepare, write_one
    from dispatch.cases.schemas import ReportIn
    from dispatch.db import transaction
    from dispatch.enums import Role

    api, state = sqlite_api, sqlite_api.state
    with state.db.engine.connect() as c:
        uid = c.execute(text("SELECT id FROM user_account WHERE username = 'worker2'")).scalar()
    who = Principal(int(uid), "worker2", Role.worker)

    def prepared(k: int, key: str) -> Any:
        lon, lat = api.free_point("450103", 500)
        body = ReportIn(event_type="06014", lon=lon, lat=lat, accuracy_m=6.5, description="比对")
        return prepare(state, who, key, body)

    fast = state.intake._write([prepared(1, "turns-fast-0001")])[0]
    with transaction(state.db.engine) as s:
        orm = write_one(state, s, prepared(2, "turns-slow-0001"))
    ids = [orjson_id(fast), orjson_id(orm)]
    raw = sqlite3.connect(state.db.url.split("///", 1)[1])
    tables = {"cases": "id", "report": "case_id", "ticket": "case_id", "event_log": "case_id"}
    for table, key in tables.items():
        cols = [r[1] for r in raw.execute(f"PRAGMA table_info({table})")]
        shapes = []
        for cid in ids:
            rows = raw.execute(
                f"SELECT {', '.join(f'typeof({c}), {c}' for c in cols)} FROM {table} "
                f"WHERE {key} = ? ORDER BY rowid",
                (cid,),
            ).fetchall()
            assert rows, (table, cid)
            shapes.append([tuple(_shape(v) for v in row) for row in rows])
        assert shapes[0] == shapes[1], table
    raw.close()


def orjson_id(outcome: Any) -> int:
    import orjson

    assert outcome.status == 201, outcome
    return int(orjson.loads(outcome.body)["id"])


def _shape(v: Any) -> Any:
    """A value's form, not its content: text as its pattern of digits and letters."""
    if isinstance(v, str):
        return "".join("9" if ch.isdigit() else ("a" if ch.isalpha() else ch) for ch in v)[:40]
    return type(v).__name__


def test_serve_hides_the_start_up_heap_from_the_collector(tmp_path: Path) -> None:
    """``gc_freeze`` (on under ``griddispatch serve``) freezes what start-up built."""
    import gc

    gc.unfreeze()
    try:
        url = f"sqlite:///{tmp_path / 'gd.sqlite'}"
        with running_app(url, photo_dir=tmp_path / "photos", gc_freeze=True) as api:
            assert gc.get_freeze_count() > 100_000  # the grid, the city, the app
            assert api.report(k=4).status_code == 201
    finally:
        gc.unfreeze()
    with running_app(url, photo_dir=tmp_path / "photos") as api:  # tests and tools: off
        assert gc.get_freeze_count() == 0
