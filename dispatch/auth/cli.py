"""``griddispatch user``: the city's own accounts (create, password, disable, enable, list)."""

from __future__ import annotations

import click

from dispatch.enums import Role
from dispatch.ops.clidb import database_option, on_database

password_option = click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="GRIDDISPATCH_NEW_PASSWORD",
    help="Asked for when not given (env GRIDDISPATCH_NEW_PASSWORD for scripts).",
)


@click.group("user")
def user() -> None:
    """Accounts: grid workers, team members, dispatchers, commanders, administrators."""


@user.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option("--name", "display_name", default="", help="Name shown in the pages.")
@click.option("--unit", "unit_id", default=None, help="A team account's unit id.")
@click.option("--team", "team_id", default=None, help="A team account's team id.")
@click.option("--beat", default=None, help="A grid worker's beat: an area-code prefix.")
@password_option
@database_option
def user_create(username: str, role: str, display_name: str, unit_id: str | None,
                team_id: str | None, beat: str | None, password: str,
                database_url: str | None) -> None:  # fmt: skip
    """Create an account."""
    from dispatch.auth.accounts import create_user

    on_database(database_url, lambda engine: create_user(
        engine, username, password, Role(role), display_name=display_name, unit_id=unit_id,
        team_id=team_id, beat=beat))  # fmt: skip
    click.echo(f"created {role} {username}")


@user.command("password")
@click.argument("username")
@password_option
@database_option
def user_password(username: str, password: str, database_url: str | None) -> None:
    """Set a new password; the account's tokens are revoked."""
    from dispatch.auth.accounts import set_password

    on_database(database_url, lambda engine: set_password(engine, username, password))
    click.echo(f"new password set for {username}; its sessions are signed out")


def _switch(active: bool, doc: str) -> None:
    @user.command("enable" if active else "disable", help=doc)
    @click.argument("username")
    @database_option
    def switch(username: str, database_url: str | None) -> None:
        from dispatch.auth.accounts import set_active

        on_database(database_url, lambda engine: set_active(engine, username, active))
        click.echo(f"{'enabled' if active else 'disabled'} {username}")


_switch(False, "Disable an account: it cannot sign in and its tokens stop working.")
_switch(True, "Enable a disabled account again.")


@user.command("list")
@database_option
def user_list(database_url: str | None) -> None:
    """Every account: username, role, unit or beat, active or disabled."""
    from dispatch.auth.accounts import list_users

    for u in on_database(database_url, list_users):
        where = u.unit_id or u.area_prefix or ""
        state = "" if u.active else "disabled"
        click.echo(f"{u.username:32} {u.role.value:10} {where:20} {state}")
