"""Back up and restore a deployment: the database and the photo directory, together.

* SQLite (the embedded default): SQLite's online backup API copies a consistent snapshot
  while the app keeps serving (WAL readers and the writer are not stopped); a restore
  writes through the same API, so the target's WAL files are handled by SQLite itself.
* PostgreSQL: ``pg_dump --format=custom`` (consistent, online) and ``pg_restore`` into an
  empty database. The password travels in ``PGPASSWORD``, never on a command line.
* Photos are copied after the database snapshot: a photo's file is written before its row
  is committed, so every photo the snapshot knows is already on disk.

A backup is a folder: ``database.sqlite`` or ``database.dump``, ``photos/``, and
``manifest.json`` (when, which backend, the schema revision, how many photos).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import create_engine, inspect, make_url, pool

from dispatch.config import Settings
from dispatch.db import normalize_url
from dispatch.dbtypes import utcnow
from dispatch.migrate import current

SQLITE_FILE = "database.sqlite"
PG_FILE = "database.dump"
MANIFEST = "manifest.json"


class BackupError(RuntimeError):
    """A backup or restore that cannot go ahead; the message says why."""


@dataclass(frozen=True)
class Manifest:
    created_at: str
    backend: str
    revision: str | None
    photos: int


def backup(settings: Settings, dest: Path) -> Manifest:
    """Write a backup of the database and the photos into ``dest`` (new or empty)."""
    if dest.exists() and any(dest.iterdir()):
        raise BackupError(f"{dest} is not empty: back up into a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    url = normalize_url(settings.database_url)
    revision = current(url)
    if _is_sqlite(url):
        _sqlite_copy(_sqlite_path(url), dest / SQLITE_FILE)
        backend = "sqlite"
    else:
        _run(["pg_dump", "--format=custom", "--no-owner", "--file", str(dest / PG_FILE)], url)
        backend = "postgresql"
    photos = _copy_photos(settings.photo_dir, dest / "photos")
    manifest = Manifest(utcnow().isoformat(), backend, revision, photos)
    (dest / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n", encoding="utf-8")
    return manifest


def restore(settings: Settings, src: Path) -> Manifest:
    """Restore a backup into the settings' database (which must be empty) and photo folder.

    Stop the app first. The app migrates the restored database at its next start, so a
    backup of an older release restores into a newer one.
    """
    try:
        manifest = Manifest(**json.loads((src / MANIFEST).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise BackupError(f"{src} is not a griddispatch backup ({MANIFEST}: {exc})") from exc
    url = normalize_url(settings.database_url)
    backend = "sqlite" if _is_sqlite(url) else "postgresql"
    if backend != manifest.backend:
        raise BackupError(f"the backup is of a {manifest.backend} database, the target {backend}")
    if _has_tables(url):
        raise BackupError("the target database is not empty: restore into a new, empty one")
    if backend == "sqlite":
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        _sqlite_copy(src / SQLITE_FILE, target)
    else:
        # --no-comments: COMMENT ON EXTENSION postgis needs its owner, not the app's role
        _run(["pg_restore", "--no-owner", "--no-acl", "--no-comments", "--single-transaction",
              "--exit-on-error", str(src / PG_FILE)], url, database_option=True)  # fmt: skip
    _copy_photos(src / "photos", settings.photo_dir)
    return manifest


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_path(url: str) -> Path:
    path = make_url(url).database
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(path)


def _sqlite_copy(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy page by page, however busy the source."""
    if not source.exists():
        raise BackupError(f"no database file at {source}")
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _has_tables(url: str) -> bool:
    if _is_sqlite(url) and not _sqlite_path(url).exists():
        return False
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        names = set(inspect(engine).get_table_names()) - {"spatial_ref_sys"}
    finally:
        engine.dispose()
    return bool(names)


def _run(cmd: list[str], url: str, *, database_option: bool = False) -> None:
    """Run a PostgreSQL client on ``url``; the password goes in the environment."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    target = parsed.set(drivername="postgresql", password=None).render_as_string(
        hide_password=False
    )
    args = [*cmd[:-1], "--dbname", target, cmd[-1]] if database_option else [*cmd, target]
    if shutil.which(cmd[0]) is None:
        raise BackupError(f"{cmd[0]} is not installed (Debian: apt-get install postgresql-client)")
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{cmd[0]} failed: {done.stderr.strip()}")


def _copy_photos(source: Path, target: Path) -> int:
    """Copy every photo file not already there (ids are random: same name, same photo)."""
    count = 0
    if not source.exists():
        return 0
    for path in sorted(source.rglob("*.jpg")):
        dest = target / path.relative_to(source)
        count += 1
        if dest.exists():
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest)
    return count
