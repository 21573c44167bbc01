"""Build and check the schema with Alembic, from code: the only way a schema is built.

The Alembic configuration is made here, not read from an ini file: ``script_location``
points at the ``migrations`` folder next to this module, so it works from any working
directory and from an installed package. :func:`upgrade` builds or updates a schema
(start-up, deploy scripts, tests); :func:`check_current` raises on a database that
is not at the head revision, for a process that must not migrate by itself.

Command line: ``python -m dispatch.migrate [upgrade|current|check] [--url URL]``
(the URL defaults to ``DATABASE_URL`` / the settings' default).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, make_url, pool

from dispatch.db import normalize_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class SchemaNotCurrentError(RuntimeError):
    """The database is not at the migrations' head revision."""


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for other backends and in-memory databases."""
    parsed = make_url(normalize_url(url))
    path = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or path in ("", ":memory:"):
        return None
    if path.startswith("file:") or parsed.query.get("uri"):
        return None  # a URI filename: leave it to SQLite
    return Path(path)


def alembic_config(url: str) -> Config:
    """An Alembic config for ``url`` using the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # the option goes through ConfigParser interpolation: a literal % is written %%
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (an empty one is built from scratch).

    A SQLite file's folder is created if missing, as ``dispatch.db.make_engine`` does.
    """
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    """Migrate down to ``revision`` (``"base"`` drops every table). Destroys data."""
    command.downgrade(alembic_config(url), revision)


def head() -> str:
    """The revision the code expects (the single head of the migrations)."""
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    heads = script.get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must have exactly one head, found {heads}")
    return heads[0]


def current(url: str) -> str | None:
    """The database's revision, or None when no migration has run (or no file exists)."""
    path = _sqlite_file(url)
    if path is not None and not path.exists():
        return None  # do not create an empty file just to look
    engine = create_engine(normalize_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def check_current(url: str) -> None:
    """Raise :class:`SchemaNotCurrentError` unless the database is at :func:`head`."""
    expected = head()
    found = current(url)
    if found == expected:
        return
    shown = make_url(normalize_url(url)).render_as_string(hide_password=True)
    state = "has no schema" if found is None else f"is at revision {found}"
    raise SchemaNotCurrentError(
        f"the database {shown} {state}, the code needs revision {expected}: "
        f"run `python -m dispatch.migrate upgrade --url ...` (dispatch.migrate.upgrade)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dispatch.migrate", description=__doc__)
    parser.add_argument("action", choices=["upgrade", "current", "check"])
    parser.add_argument("--url", help="database URL (default: DATABASE_URL or the settings')")
    parser.add_argument("--revision", default="head", help="target of upgrade (default head)")
    args = parser.parse_args(argv)
    url: str = args.url
    if not url:
        from dispatch.config import Settings

        url = Settings().database_url
    if args.action == "upgrade":
        upgrade(url, args.revision)
    elif args.action == "current":
        print(current(url) or "(empty)")
    else:
        try:
            check_current(url)
        except SchemaNotCurrentError as exc:
            print(exc)
            return 1
        print(f"at head ({head()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
