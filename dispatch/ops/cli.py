"""``griddispatch backup`` and ``restore``: the database and the photos, in one folder."""

from __future__ import annotations

from pathlib import Path

import click


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
