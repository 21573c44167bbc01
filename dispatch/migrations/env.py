"""Alembic environment for griddispatch.

Run it through :mod:`dispatch.migrate` (``upgrade(url)``), which sets the
``sqlalchemy.url`` main option in code; the ``alembic`` command line works too
(``[tool.alembic]`` in pyproject.toml) with ``-x url=...``. The URL goes through
:func:`dispatch.db.normalize_url`, so a plain ``postgresql://`` uses psycopg 3.

* ``target_metadata`` is :func:`dispatch.migrations.extra.build_metadata`: a copy of
  ``SQLModel.metadata`` (every model, :mod:`dispatch.models`) plus the
  migration-only ``transition`` table and the event log's foreign key and CHECK.
  The models' own metadata is never modified.
* ``include_object`` (:func:`dispatch.migrations.extra.include_object`) hides the
  PostGIS-only objects named in :data:`dispatch.migrations.extra.POSTGIS_ONLY`
  (``cell.geom``, ``cases.geom``, their GiST indexes, ``spatial_ref_sys``) from
  autogenerate: they exist only on PostgreSQL and are managed by hand.
* ``compare_type=True``: column types are compared too. Alembic compares a
  ``TypeDecorator`` by its ``impl``, so ``UTCDateTime`` against a reflected
  ``DATETIME`` / ``TIMESTAMP WITH TIME ZONE`` reports nothing, while a changed
  length, type or (on PostgreSQL) time zone flag is reported; no custom
  comparison callable is needed.
* ``render_item`` (:func:`dispatch.migrations.extra.render_item`) writes SQLModel's
  ``AutoString`` as ``sa.String(n)`` and imports ``UTCDateTime`` in new revisions.
* SQLite gets ``render_as_batch=True`` (ALTER TABLE is recreate-and-copy there).
  The migration connection is a plain one: no ``PRAGMA foreign_keys=ON``, as
  SQLite requires while tables are rebuilt.
* A caller may pass an open connection in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection

from dispatch.db import normalize_url
from dispatch.migrations.extra import build_metadata, include_object, render_item

config = context.config
target_metadata = build_metadata()


def _url() -> str:
    # get_section, not get_main_option: without an ini file (alembic CLI + pyproject.toml)
    # the main section does not exist and get_main_option would raise
    url = config.get_section(config.config_ini_section, {}).get("sqlalchemy.url")
    url = url or context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise RuntimeError(
            "no database URL: set the 'sqlalchemy.url' option (dispatch.migrate does) "
            "or pass -x url=... to the alembic command"
        )
    return normalize_url(url)


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "include_object": include_object,
        "compare_type": True,
        "render_item": render_item,
        "render_as_batch": dialect_name == "sqlite",
    }


def run_migrations_offline() -> None:
    """Write the SQL instead of running it (``alembic upgrade head --sql``)."""
    url = _url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_options(url.split(":", 1)[0].split("+", 1)[0]),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given: Connection | None = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
