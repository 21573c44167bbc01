"""Fixtures for tests that need a PostgreSQL server with PostGIS.

``pg_dsn`` creates a throw-away database ``griddispatch_test_<pid>`` with PostGIS,
yields its connection string and drops it afterwards. The server comes from
``GRIDDISPATCH_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``).

When the server is unreachable or has no PostGIS, the tests are skipped on a
developer machine but FAIL when the ``CI`` environment variable is set: a CI run
must never pass without having run them. Mark such tests ``@pytest.mark.postgis``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from apikit import Api, running_app, serve_app
from serverkit import RedisServer

from dispatch.ops.launch import PostgresServer

DEFAULT_TEST_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
CONNECT_TIMEOUT_S = 5


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> NoReturn:
    """Fail in CI, skip elsewhere."""
    if _in_ci():
        pytest.fail(f"PostGIS tests cannot run (CI is set, so this fails): {reason}")
    pytest.skip(f"PostGIS not available: {reason}")


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """DSN of a fresh database with PostGIS, dropped at the end of the session."""
    try:
        import psycopg
        from psycopg import sql
        from psycopg.conninfo import make_conninfo
    except ImportError as exc:  # pragma: no cover - psycopg is a test dependency
        _unavailable(f"psycopg is not installed ({exc})")

    admin_dsn = os.environ.get("GRIDDISPATCH_TEST_PG") or DEFAULT_TEST_PG
    try:
        admin = psycopg.connect(admin_dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        _unavailable(f"cannot connect to {admin_dsn!r} (GRIDDISPATCH_TEST_PG): {exc}")

    dbname = f"griddispatch_test_{os.getpid()}"
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
    dsn = make_conninfo(admin_dsn, dbname=dbname)
    with admin:
        try:
            row = admin.execute(
                "SELECT default_version FROM pg_available_extensions WHERE name = 'postgis'"
            ).fetchone()
        except psycopg.Error as exc:
            _unavailable(f"cannot query {admin_dsn!r}: {exc}")
        if row is None:
            _unavailable(f"the server at {admin_dsn!r} has no PostGIS extension installed")
        try:
            admin.execute(drop)  # a leftover of an earlier run with the same pid
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        except psycopg.Error as exc:
            _unavailable(f"cannot create the test database {dbname}: {exc}")
        try:
            try:
                with psycopg.connect(dsn, autocommit=True) as conn:
                    conn.execute("CREATE EXTENSION postgis")
            except psycopg.Error as exc:
                _unavailable(f"CREATE EXTENSION postgis failed in {dbname}: {exc}")
            yield dsn
        finally:
            admin.execute(drop)


@pytest.fixture(scope="session")
def pg_url_factory() -> Iterator[Callable[[], str]]:
    """Makes fresh empty databases (SQLAlchemy URLs); migrations add PostGIS. Dropped at end."""
    import psycopg
    from psycopg import sql

    admin_dsn = os.environ.get("GRIDDISPATCH_TEST_PG") or DEFAULT_TEST_PG
    try:
        admin = psycopg.connect(admin_dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        _unavailable(f"cannot connect to {admin_dsn!r} (GRIDDISPATCH_TEST_PG): {exc}")
    made: list[str] = []

    def make() -> str:
        name = f"griddispatch_t{os.getpid()}_{len(made)}"
        ident = sql.Identifier(name)
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(ident))
        made.append(name)
        base = admin_dsn.rsplit("/", 1)[0]
        return f"{base}/{name}"

    try:
        yield make
    finally:
        for name in made:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
        admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, not migrated: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gd.sqlite'}"
    url: str = request.getfixturevalue("pg_url_factory")()
    return url


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)]
)
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The whole app on SQLite and on PostGIS, Nanning demo city loaded, demo accounts made."""
    yield from serve_app(request, tmp_path_factory)


@pytest.fixture(scope="module")
def pg_api(
    pg_url_factory: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """The whole app on a fresh PostGIS database of the module's own (PostgreSQL-only
    tests: mark them ``postgis``)."""
    tmp = tmp_path_factory.mktemp("pg-app")
    with running_app(pg_url_factory(), photo_dir=tmp / "photos") as api:
        yield api


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis of the module's own on a free port: a test may stop it, nobody else uses it."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the module's own, for the tests that stop and start it (the
    shared one on 5432 stays up for everyone else)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.destroy()
