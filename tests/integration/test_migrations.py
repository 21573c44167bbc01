"""The Alembic migrations build exactly the schema the models declare, on SQLite and PostGIS.

Every test that touches a database runs twice: on a temporary SQLite file and on a
fresh PostgreSQL database (created next to the ``pg_dsn`` one, without PostGIS, so
the migration's ``CREATE EXTENSION`` is exercised too). The comparison uses what
``env.py`` uses (``dispatch.migrations.extra``): the models' metadata plus the
migration-only transition objects (``build_metadata``), and the ``include_object``
filter that hides only the PostGIS-only objects listed in ``POSTGIS_ONLY``.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from seed import seed_case
from sqlalchemy.engine import URL
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from dispatch.db import Database, normalize_url, transaction
from dispatch.enums import CaseStatus
from dispatch.feed.log import record
from dispatch.migrate import (
    MIGRATIONS_DIR,
    SchemaNotCurrentError,
    alembic_config,
    check_current,
    current,
    downgrade,
    head,
    upgrade,
)
from dispatch.migrations.extra import POSTGIS_ONLY, build_metadata, include_object
from dispatch.tickets.states import TRANSITIONS

#: tables allowed to survive ``downgrade base``: Alembic's own and PostGIS's
LEFT_AFTER_BASE = {"alembic_version", "spatial_ref_sys"}
#: the schema the migrations must build (the models + the transition objects)
EXPECTED = build_metadata()


def _workflow() -> set[tuple[str, str, str]]:
    return {(str(e), str(f), str(t)) for e, f, t in TRANSITIONS}


# --- databases -----------------------------------------------------------------


@pytest.fixture
def pg_url(pg_dsn: str) -> Iterator[str]:
    """SQLAlchemy URL of a new, empty database on the ``pg_dsn`` server (dropped after)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    params = {k: str(v) for k, v in conninfo_to_dict(pg_dsn).items()}
    name = f"{params.pop('dbname')}_mig"
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    user, password = params.pop("user", None), params.pop("password", None)
    host, port = params.pop("host", None), params.pop("port", None)
    if host and host.startswith("/"):  # a Unix socket directory
        params["host"], host = host, None
    url = URL.create(
        "postgresql+psycopg",
        username=user,
        password=password,
        host=host,
        port=int(port) if port else None,
        database=name,
        query=params,
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute(drop)


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'griddispatch.sqlite'}"
    url: str = request.getfixturevalue("pg_url")
    return url


def _engine(url: str) -> sa.Engine:
    return sa.create_engine(normalize_url(url), poolclass=sa.pool.NullPool)


def _tables(url: str) -> set[str]:
    engine = _engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _schema_diffs(url: str) -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"include_object": include_object, "compare_type": True}
            )
            return list(compare_metadata(context, EXPECTED))
    finally:
        engine.dispose()


def _expected_checks() -> dict[str, dict[str, frozenset[str] | None]]:
    """Per table: CHECK name → the enum's values (None for a non-enum CHECK)."""
    expected: dict[str, dict[str, frozenset[str] | None]] = {}
    for table in EXPECTED.sorted_tables:
        checks: dict[str, frozenset[str] | None] = {
            str(c.name): None for c in table.constraints if isinstance(c, sa.CheckConstraint)
        }
        for column in table.columns:
            if isinstance(column.type, sa.Enum) and column.type.create_constraint:
                checks[str(column.type.name)] = frozenset(column.type.enums)
        expected[table.name] = checks
    return expected


def _reflected_checks(url: str) -> dict[str, dict[str, frozenset[str] | None]]:
    expected = _expected_checks()
    engine = _engine(url)
    try:
        inspector = sa.inspect(engine)
        found: dict[str, dict[str, frozenset[str] | None]] = {}
        for table in expected:
            checks: dict[str, frozenset[str] | None] = {}
            for check in inspector.get_check_constraints(table):
                name = str(check["name"])
                if expected[table].get(name) is None:
                    checks[name] = None  # not an enum: its presence is what matters
                else:  # the quoted literals, on SQLite "IN (...)", on PG "ANY (ARRAY[...])"
                    checks[name] = frozenset(re.findall(r"'([^']*)'", check["sqltext"]))
            found[table] = checks
        return found
    finally:
        engine.dispose()


def _stored_transitions(url: str) -> set[tuple[str, str, str]]:
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT entity, from_status, to_status FROM transition")
            ).all()
        return {(e, f, t) for e, f, t in rows}
    finally:
        engine.dispose()


def _assert_matches_models(url: str) -> None:
    assert current(url) == head()
    check_current(url)
    assert _schema_diffs(url) == []
    command.check(alembic_config(url))  # the same through env.py's own configuration
    assert _reflected_checks(url) == _expected_checks()
    assert _stored_transitions(url) == _workflow()


# --- the tests -----------------------------------------------------------------


def test_frozen_transition_rows_equal_the_workflow() -> None:
    """The literal rows in 0001 are TRANSITIONS: a workflow change needs a new migration.

    When a later revision changes the ``transition`` rows, point this test at it.
    """
    module = ScriptDirectory(str(MIGRATIONS_DIR)).get_revision("0001").module
    rows: tuple[tuple[str, str, str], ...] = module.TRANSITION_ROWS
    assert len(set(rows)) == len(rows)
    assert set(rows) == _workflow()


def test_single_head() -> None:
    """One line of revisions: a merge of branches that forgot to re-chain them fails here."""
    heads = ScriptDirectory(str(MIGRATIONS_DIR)).get_heads()
    assert heads == [head()]


def test_the_models_metadata_is_left_alone() -> None:
    """The transition objects live in a copy: SQLModel.metadata stays the models' own."""
    assert "transition" not in SQLModel.metadata.tables
    assert "transition" in EXPECTED.tables
    names = {c.name for c in SQLModel.metadata.tables["event_log"].constraints}
    assert "fk_event_log_transition" not in names
    assert set(EXPECTED.tables) == {*SQLModel.metadata.tables, "transition"}


def test_upgrade_from_empty_matches_models(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the migrations are found from any working directory
    assert current(db_url) is None
    upgrade(db_url)
    _assert_matches_models(db_url)
    upgrade(db_url)  # a no-op at head
    assert current(db_url) == head()


def test_downgrade_to_base_then_upgrade_again(db_url: str) -> None:
    upgrade(db_url)
    downgrade(db_url, "base")
    assert _tables(db_url) <= LEFT_AFTER_BASE
    assert current(db_url) is None
    with pytest.raises(SchemaNotCurrentError, match="has no schema"):
        check_current(db_url)
    upgrade(db_url)
    _assert_matches_models(db_url)


def test_check_current_on_a_missing_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.sqlite"
    url = f"sqlite:///{path}"
    assert current(url) is None
    with pytest.raises(SchemaNotCurrentError, match=rf"needs revision {head()}"):
        check_current(url)
    assert not path.exists()  # looking does not create the file


def test_the_log_refuses_an_illegal_transition(db_url: str) -> None:
    upgrade(db_url)
    db = Database(db_url)  # on SQLite: PRAGMA foreign_keys=ON

    def log(**kw: Any) -> None:
        with transaction(db.engine) as session:
            record(session, "test.event", **kw)

    try:
        log(entity="ticket", from_status="dispatched", to_status="accepted")
        log(entity="ticket", from_status="", to_status="dispatched")  # a creation
        log(entity="case", from_status="", to_status="reported")
        log()  # not a status change: entity, from and to all NULL
        with pytest.raises(IntegrityError):  # not in the workflow (the foreign key)
            log(entity="ticket", from_status="returned", to_status="resolved")
        with pytest.raises(IntegrityError):
            log(entity="parcel", from_status="", to_status="dispatched")
        with pytest.raises(IntegrityError):  # a creation must say "", not NULL (the CHECK)
            log(entity="case", from_status=None, to_status="reported")
        with pytest.raises(IntegrityError):
            log(entity=None, from_status="reported", to_status="closed")
        with db.engine.connect() as connection:
            count = connection.execute(sa.text("SELECT count(*) FROM event_log")).scalar_one()
        assert count == 4
    finally:
        db.dispose()


def test_offline_sql_is_complete() -> None:
    """``alembic upgrade head --sql`` renders every step, seed rows included."""
    outputs = {}
    for url in ("postgresql://nobody@localhost/none", "sqlite:///none.sqlite"):
        buffer = io.StringIO()
        cfg = alembic_config(url)
        cfg.output_buffer = buffer
        command.upgrade(cfg, "head", sql=True)
        outputs[url.split(":", 1)[0]] = buffer.getvalue()
    for sql in outputs.values():
        assert sql.count("INSERT INTO transition") == len(TRANSITIONS)
        assert "fk_event_log_transition" in sql
    assert "CREATE TRIGGER cases_set_geom" in outputs["postgresql"]
    assert "geometry" not in outputs["sqlite"]


@pytest.mark.postgis
def test_postgis_geometry_columns_and_case_trigger(pg_url: str) -> None:
    upgrade(pg_url)
    assert {"cell.geom", "cases.geom"} <= POSTGIS_ONLY
    db = Database(pg_url)
    try:
        with db.engine.connect() as connection:
            columns = connection.execute(
                sa.text(
                    "SELECT f_table_name, f_geometry_column, type, srid FROM geometry_columns"
                    " WHERE f_table_schema = current_schema() ORDER BY 1"
                )
            ).all()
            indexes: dict[str, str] = dict(
                connection.execute(
                    sa.text(
                        "SELECT indexname, indexdef FROM pg_indexes"
                        " WHERE indexname IN ('idx_cell_geom', 'idx_cases_geom')"
                    )
                ).all()
            )
        assert [tuple(r) for r in columns] == [
            ("cases", "geom", "POINT", 4326),
            ("cell", "geom", "MULTIPOLYGON", 4326),
        ]
        assert set(indexes) == {"idx_cell_geom", "idx_cases_geom"}
        assert all("USING gist" in d for d in indexes.values())

        case_id = seed_case(db.engine, status=CaseStatus.reported, lon=108.3201, lat=22.8102)

        point = sa.text(
            "SELECT ST_X(geom), ST_Y(geom), ST_SRID(geom), GeometryType(geom)"
            " FROM cases WHERE id = :id"
        )
        with db.engine.connect() as connection:
            assert tuple(connection.execute(point, {"id": case_id}).one()) == (
                108.3201,
                22.8102,
                4326,
                "POINT",
            )
        with db.engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE cases SET lon = 108.33, lat = 22.82 WHERE id = :id"),
                {"id": case_id},
            )
            assert tuple(connection.execute(point, {"id": case_id}).one())[:2] == (108.33, 22.82)
    finally:
        db.dispose()

    downgrade(pg_url, "base")
    engine = _engine(pg_url)
    try:
        with engine.connect() as connection:
            functions = connection.execute(
                sa.text("SELECT count(*) FROM pg_proc WHERE proname = 'cases_set_geom'")
            ).scalar_one()
        assert functions == 0
    finally:
        engine.dispose()


@pytest.mark.postgis
def test_postgresql_has_the_covering_index_of_case_areas(pg_url: str, tmp_path: Path) -> None:
    """0010: "overdue now" reads a live ticket's case type and areas from one index entry
    on PostgreSQL; SQLite (tables keyed by id) gets no such index, and 0010 goes down."""
    upgrade(pg_url)
    engine = sa.create_engine(pg_url)
    query = sa.text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_cases_areas_by_id'")
    try:
        with engine.connect() as connection:
            (definition,) = connection.execute(query).scalars().all()
        assert definition.endswith(
            "ON public.cases USING btree (id) INCLUDE (event_type, cell, community, street,"
            " district)"
        )
        downgrade(pg_url, "0009")
        with engine.connect() as connection:
            assert connection.execute(query).all() == []
    finally:
        engine.dispose()
    sqlite_url = f"sqlite:///{tmp_path / 'gd.sqlite'}"
    upgrade(sqlite_url)
    lite = sa.create_engine(sqlite_url)
    try:
        assert "ix_cases_areas_by_id" not in {
            i["name"] for i in sa.inspect(lite).get_indexes("cases")
        }
    finally:
        lite.dispose()
