"""What the database commands share: the --database-url option, a migrated database."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine

T = TypeVar("T")

database_option = click.option(
    "--database-url",
    envvar="DATABASE_URL",
    default=None,
    help="Database (env DATABASE_URL; default: the settings' SQLite file). Migrated first.",
)


def on_database(url: str | None, action: Callable[[Engine], T]) -> T:
    """Run ``action`` on the (migrated) database; a domain error is a clean CLI error."""
    from dispatch.config import Settings
    from dispatch.db import Database
    from dispatch.errors import DomainError
    from dispatch.migrate import upgrade

    url = url or Settings().database_url
    upgrade(url)
    db = Database(url)
    try:
        return action(db.engine)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    finally:
        db.dispose()
