"""``griddispatch open311-key``: issue, revoke and list the Open311 clients' API keys."""

from __future__ import annotations

import click

from dispatch.ops.clidb import database_option
from dispatch.ops.clidb import on_database as _on_database


@click.group("open311-key")
def open311_key() -> None:
    """Open311 API keys: one per client (a 12345 hotline CRM, a citizen app), stored hashed."""


@open311_key.command("create")
@click.argument("name")
@database_option
def open311_key_create(name: str, database_url: str | None) -> None:
    """Issue a key for client NAME and print it: shown this once, stored only hashed."""
    from dispatch.open311.keys import create_key

    click.echo(_on_database(database_url, lambda engine: create_key(engine, name)))
    click.echo(f"give this key to {name} now; it cannot be shown again", err=True)


@open311_key.command("revoke")
@click.argument("name")
@database_option
def open311_key_revoke(name: str, database_url: str | None) -> None:
    """Revoke every live key of client NAME: its POSTs get 403 from now on."""
    from dispatch.open311.keys import revoke_keys

    n = _on_database(database_url, lambda engine: revoke_keys(engine, name))
    click.echo(f"revoked {n} key{'s' if n > 1 else ''} of {name}")


@open311_key.command("list")
@database_option
def open311_key_list(database_url: str | None) -> None:
    """Every key issued: client, service account, first characters, issued, revoked."""
    from dispatch.open311.keys import list_keys

    for k in _on_database(database_url, list_keys):
        state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M}Z" if k.revoked_at else "live"
        click.echo(
            f"{k.client:24} {k.username:32} {k.key_prefix}…  "
            f"issued {k.created_at:%Y-%m-%d %H:%M}Z  {state}"
        )
