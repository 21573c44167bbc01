"""``griddispatch user``: a city's own accounts, made, changed and disabled from the shell."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from apikit import Api
from click.testing import CliRunner
from gridkit import running, small_city, source_file
from sqlalchemy import Engine, text

from dispatch.catalogue.service import DemoAccounts, ensure_demo_accounts, sync_reference
from dispatch.citydata import load_city
from dispatch.cli import main
from dispatch.config import Settings
from dispatch.db import Database
from dispatch.migrate import upgrade


def cli(url: str, *args: str, password: str | None = None) -> tuple[int, str]:
    given = f"{password}\n{password}\n" if password is not None else None
    result = CliRunner().invoke(main, list(args), input=given, env={"DATABASE_URL": url})
    return result.exit_code, result.output


def sign_in(api: Api, username: str, password: str) -> tuple[int, str]:
    r = api.client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return r.status_code, r.json().get("access_token", "")


def test_accounts_made_and_disabled_from_the_shell(db_url: str, tmp_path: Path) -> None:
    city = small_city(tmp_path / "city")
    source, options = source_file(tmp_path, "geojson")
    result = CliRunner().invoke(main, ["load-grid", str(source), *options, "--city", str(city),
                                       "--out", str(city)])  # fmt: skip
    assert result.exit_code == 0, result.output
    with running(db_url, city, tmp_path):  # the first start syncs the city's units
        pass

    code, out = cli(db_url, "user", "create", "wang.li", "--role", "worker", "--beat",
                    "450103901", "--name", "王丽", password="s3cret-pass")  # fmt: skip
    assert code == 0, out
    code, out = cli(db_url, "user", "create", "hw-1", "--role", "team", "--unit",
                    "450103-hw", "--team", "450103-hw-1", password="s3cret-pass")  # fmt: skip
    assert code == 0, out
    code, out = cli(db_url, "user", "create", "x", "--role", "team", "--unit", "no-such",
                    password="s3cret-pass")  # fmt: skip
    assert (code, "no unit 'no-such'" in out) == (1, True)
    code, out = cli(db_url, "user", "create", "wang.li", "--role", "worker", password="longenough")
    assert (code, "already an account" in out) == (1, True)
    code, out = cli(db_url, "user", "create", "y", "--role", "worker", password="short")
    assert (code, "at least 8 characters" in out) == (1, True)

    with running(db_url, city, tmp_path) as api:
        status, token = sign_in(api, "wang.li", "s3cret-pass")
        assert status == 200
        me = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert (me.json()["role"], me.json()["area_prefix"]) == ("worker", "450103901")
        status, token = sign_in(api, "hw-1", "s3cret-pass")
        assert status == 200

        assert cli(db_url, "user", "disable", "hw-1")[0] == 0
        gone = api.client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert gone.status_code == 401  # its token was revoked with it
        assert sign_in(api, "hw-1", "s3cret-pass")[0] == 401
        assert cli(db_url, "user", "enable", "hw-1")[0] == 0
        assert sign_in(api, "hw-1", "s3cret-pass")[0] == 200

        assert cli(db_url, "user", "password", "wang.li", password="n3w-password")[0] == 0
        assert sign_in(api, "wang.li", "s3cret-pass")[0] == 401
        assert sign_in(api, "wang.li", "n3w-password")[0] == 200

    code, out = cli(db_url, "user", "list")
    assert code == 0
    assert "wang.li" in out
    assert "450103-hw" in out


def test_processes_starting_together_make_the_demo_accounts_once(db_url: str) -> None:
    """``serve --workers 2`` on a fresh database: both processes seed at the same moment
    (the password hash between their look and their insert is a wide window); one makes
    the accounts, the other finds them, and neither fails its start-up."""
    upgrade(db_url)
    city = load_city(Settings().city_dir)
    engines = [Database(db_url).engine for _ in range(2)]
    sync_reference(engines[0], city)
    start = threading.Barrier(2)

    def seed(engine: Engine) -> DemoAccounts | None:
        start.wait()
        return ensure_demo_accounts(engine, city, "demo-pass-123")

    try:
        with ThreadPoolExecutor(2) as pool:
            made = list(pool.map(seed, engines))
    finally:
        for e in engines:
            e.dispose()
    assert sorted(m is None for m in made) == [False, True]
    with Database(db_url).engine.connect() as conn:
        n = conn.execute(text("SELECT count(*) FROM user_account")).scalar_one()
    created = next(m for m in made if m is not None)
    assert n == len(created.usernames) > 100
