"""Operations commands: ``griddispatch backup`` and ``restore`` (the database and the
photos, in one folder) and ``griddispatch stack`` (the multi-process topology on this
machine, until Ctrl-C)."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # imported when the command runs: the CLI starts fast
    from dispatch.ops.stack import Stack

ROOT = Path(__file__).resolve().parents[2]


@click.command()
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
def backup(dest: Path) -> None:
    """Back up the database (DATABASE_URL) and the photos into DEST, while the app runs.

    SQLite: the online backup API; PostgreSQL: pg_dump --format=custom.
    """
    from dispatch.config import Settings
    from dispatch.ops.backup import BackupError
    from dispatch.ops.backup import backup as run

    try:
        m = run(Settings(), dest)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"backed up the {m.backend} database (revision {m.revision}) and {m.photos} "
               f"photos into {dest}")  # fmt: skip


@click.command()
@click.argument("src", type=click.Path(exists=True, file_okay=False, path_type=Path))
def restore(src: Path) -> None:
    """Restore a backup from SRC into DATABASE_URL (an empty database) and the photo folder.

    Stop the app first; it migrates the restored database when it starts.
    """
    from dispatch.config import Settings
    from dispatch.ops.backup import BackupError
    from dispatch.ops.backup import restore as run

    try:
        m = run(Settings(), src)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"restored the {m.backend} backup of {m.created_at} ({m.photos} photos)")


@click.command("stack")
@click.option("--port", default=8080, show_default=True, help="nginx's port: the one URL.")
@click.option("--host", default="127.0.0.1", show_default=True, help="nginx's address.")
@click.option("--apps", default=2, show_default=True, help="App processes behind nginx.")
@click.option(
    "--app-ports",
    default=None,
    help="Comma-separated ports of the app processes (default: free ports).",
)
@click.option(
    "--database-url",
    envvar="DATABASE_URL",
    required=True,
    help="PostgreSQL + PostGIS (env DATABASE_URL).",
)
@click.option(
    "--redis-url",
    envvar="REDIS_URL",
    default="redis://127.0.0.1:6379/0",
    show_default=True,
    help="The feed's bus between the processes (env REDIS_URL).",
)
@click.option(
    "--run-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=ROOT / "var" / "stack",
    show_default=True,
    help="Logs, nginx's configuration, pid and temp files.",
)
@click.option("--nginx-workers", default="auto", show_default=True)
def stack(
    port: int,
    host: str,
    apps: int,
    app_ports: str | None,
    database_url: str,
    redis_url: str,
    run_dir: Path,
    nginx_workers: str,
) -> None:
    """Migrate once, start APPS `griddispatch serve` processes and nginx in front of them.

    The same topology as docker-compose.yml without containers; other settings come from
    the environment (GRIDDISPATCH_*), as for `serve`. Stops everything on Ctrl-C or SIGTERM.
    """
    from dispatch.ops.stack import Stack

    ports = [int(p) for p in app_ports.split(",")] if app_ports else None
    try:
        topology = Stack(database_url, run_dir, redis_url=redis_url, apps=apps, port=port,
                         host=host, app_ports=ports, nginx_workers=nginx_workers)  # fmt: skip
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops it as Ctrl-C does
    try:
        click.echo(f"starting {apps} app processes and nginx; logs in {run_dir}")
        topology.start()
        for line in topology.notices():
            click.echo(line)
        backends = ", ".join(a.url for a in topology.apps)
        click.echo(f"griddispatch stack ready at {topology.url}  (app processes: {backends})")
        _watch(topology)
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the stop
            signal.signal(sig, signal.SIG_IGN)
        topology.stop()


def _watch(topology: Stack) -> None:
    """Say so when a process or nginx exits by itself; nginx keeps serving from the rest."""
    told: set[int] = set()
    tick = threading.Event()
    while True:
        tick.wait(1.0)  # a supervisor's pace, not a wait for an event
        for app in topology.apps:
            if not app.alive and app.port not in told:
                told.add(app.port)
                click.echo(f"app process on port {app.port} exited (see {app.child.log})")
        proxy = topology.proxy
        if proxy is not None and not proxy.child.alive:
            raise click.ClickException(f"nginx exited (see {proxy.child.log})")
