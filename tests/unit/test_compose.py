"""docker-compose.yml, the Dockerfile and the nginx file they use, checked without Docker.

No container engine runs here, so the compose file is parsed and held to the topology it
promises (migrations once before the apps, health checks, the conditions between services,
shared photos, settings the app really reads), every path the Dockerfile copies must
exist, and the nginx configuration compose mounts must pass ``nginx -t`` as compose fills it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from proxykit import needs_nginx

from dispatch.config import Settings
from dispatch.ops import proxy

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
APPS = ("app1", "app2")
LONG_RUNNING = ("db", "redis", *APPS, "proxy")
DOCKERIGNORED = [
    line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
    if line.strip() and not line.startswith("#")
]  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def test_the_topology_has_every_service(services: dict[str, Any]) -> None:
    assert set(services) == {"db", "redis", "migrate", *APPS, "proxy"}
    assert services["db"]["image"].startswith("postgis/postgis:")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("migrate", *APPS):
        assert services[name]["build"]["target"] == "app"
    assert services["proxy"]["build"]["target"] == "proxy"
    assert len(services["proxy"]["ports"]) == 1  # the one way in
    for name in ("db", "redis", "migrate", *APPS):
        assert "ports" not in services[name], f"{name} must be reachable only inside"


def test_every_long_running_service_has_a_health_check(services: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        check = services[name]["healthcheck"]
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert len(check["test"]) > 1, name
        assert "disable" not in check, name
    for name in APPS:  # readiness (database, Redis, grid), not mere liveness
        assert any("/readyz" in part for part in services[name]["healthcheck"]["test"])
        assert ":8000/readyz" in " ".join(services[name]["healthcheck"]["test"])


def test_migrations_run_once_before_the_apps(services: dict[str, Any], tmp_path: Path) -> None:
    migrate = services["migrate"]
    assert migrate["command"][:3] == ["python", "-m", "dispatch.migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    from dispatch import migrate as module

    url = f"sqlite:///{tmp_path / 'gd.sqlite'}"  # the service's command, on a scratch database
    assert module.main([*migrate["command"][3:], "--url", url]) == 0
    assert module.current(url) == module.head()
    for name in APPS:
        assert services[name]["depends_on"] == {
            "db": {"condition": "service_healthy"},
            "redis": {"condition": "service_healthy"},
            "migrate": {"condition": "service_completed_successfully"},
        }
    assert services["proxy"]["depends_on"] == {
        name: {"condition": "service_healthy"} for name in APPS
    }


def test_database_and_photos_live_in_named_volumes(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    assert set(compose["volumes"]) == {"pgdata", "photos"}
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    mounts = []
    for name in APPS:
        photo_dir = env_of(services[name])["GRIDDISPATCH_PHOTO_DIR"]
        assert f"photos:{photo_dir}" in services[name]["volumes"]
        mounts.append(photo_dir)
    assert len(set(mounts)) == 1  # both processes see every photo


def test_the_apps_settings_are_settings_the_app_reads(services: dict[str, Any]) -> None:
    fields = {name.upper() for name in Settings.model_fields}
    for name in ("migrate", *APPS):
        env = env_of(services[name])
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert "@db:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:6379")
        for key in env:
            if key.startswith("GRIDDISPATCH_"):
                assert key.removeprefix("GRIDDISPATCH_") in fields, f"{name}: unknown {key}"
        Settings(**{k.removeprefix("GRIDDISPATCH_").lower(): v for k, v in env.items()
                    if k.startswith("GRIDDISPATCH_") and "${" not in v})  # fmt: skip


def test_the_apps_command_is_a_valid_serve_on_the_upstream_port(services: dict[str, Any]) -> None:
    from dispatch.cli import main

    upstreams = env_of(services["proxy"])["GRIDDISPATCH_PROXY_UPSTREAMS"]
    for name in APPS:
        cmd = services[name]["command"]
        assert cmd[:2] == ["griddispatch", "serve"]
        ctx = main.commands["serve"].make_context("serve", list(cmd[2:]))  # parses, runs nothing
        assert ctx.params["host"] == "0.0.0.0"
        assert f"server {name}:{ctx.params['port']} " in upstreams
    assert CliRunner().invoke(main, ["serve", "--help"]).exit_code == 0


def proxy_mount(services: dict[str, Any]) -> tuple[Path, str]:
    (volume,) = services["proxy"]["volumes"]
    source, target, mode = volume.split(":")
    assert mode == "ro"
    return ROOT / source, target


def test_the_proxy_mounts_the_one_nginx_file_as_a_template(services: dict[str, Any]) -> None:
    source, target = proxy_mount(services)
    assert source == proxy.SERVER_CONF
    assert source.is_file()
    assert target.startswith("/etc/nginx/templates/")
    assert target.endswith(".conf.template")
    env = env_of(services["proxy"])
    placeholders = set(proxy.PLACEHOLDER.findall(source.read_text()))
    assert placeholders == {k for k in env if k.startswith("GRIDDISPATCH_PROXY_")}
    # the image fills only the names its filter matches, and leaves nginx's own $vars alone
    assert all(re.match(env["NGINX_ENVSUBST_FILTER"], name) for name in placeholders)


def test_the_proxy_body_limit_is_the_apps_photo_limit(services: dict[str, Any]) -> None:
    photo_max = {int(env_of(services[name])["GRIDDISPATCH_MAX_PHOTO_BYTES"]) for name in APPS}
    (limit,) = photo_max
    assert int(env_of(services["proxy"])["GRIDDISPATCH_PROXY_BODY_MAX"]) == proxy.body_limit(limit)
    from dispatch.photos.router import MULTIPART_SLACK

    assert proxy.body_limit(limit) == limit + MULTIPART_SLACK


def test_the_compose_nginx_config_passes_nginx_t(services: dict[str, Any], tmp_path: Path) -> None:
    needs_nginx()
    source, _ = proxy_mount(services)
    values = {k: v for k, v in env_of(services["proxy"]).items() if k.startswith("GRIDDISPATCH_")}
    # nginx -t resolves upstream names; app1/app2 exist only on the compose network
    values["GRIDDISPATCH_PROXY_UPSTREAMS"] = re.sub(
        r"server app(\d):8000", r"server 127.0.0.\1:8000", values["GRIDDISPATCH_PROXY_UPSTREAMS"]
    )
    values["GRIDDISPATCH_PROXY_LISTEN"] = "127.0.0.1:8080"  # no root needed for the check
    values["GRIDDISPATCH_PROXY_WEB_ROOT"] = str(ROOT / "web")
    values["GRIDDISPATCH_PROXY_ACCESS_LOG"] = str(tmp_path / "access.log")
    main = proxy.write_config(tmp_path / "nginx", values, server_conf=source)
    assert "test is successful" in proxy.check(main)


def test_a_broken_config_fails_nginx_t(tmp_path: Path) -> None:
    """The check above can fail: the same file with an unknown directive does."""
    needs_nginx()
    broken = tmp_path / "broken.conf"
    broken.write_text(proxy.SERVER_CONF.read_text().replace("server_tokens off;", "no_such on;"))
    cfg = proxy.ProxyConfig("127.0.0.1:8080", ["127.0.0.1:8001"], ROOT / "web", 1 << 20)
    values = cfg.values(tmp_path / "a.log")
    main = proxy.write_config(tmp_path / "nginx", values, server_conf=broken)
    with pytest.raises(RuntimeError, match="no_such"):
        proxy.check(main)


def test_render_refuses_a_placeholder_without_value() -> None:
    with pytest.raises(ValueError, match="GRIDDISPATCH_PROXY_LISTEN"):
        proxy.render("listen ${GRIDDISPATCH_PROXY_LISTEN}; $host", {})
    assert proxy.render("${GRIDDISPATCH_PROXY_A} $host ${x}", {"GRIDDISPATCH_PROXY_A": "1"}) == (
        "1 $host ${x}"
    )


# ---------------------------------------------------------------- Dockerfile


def dockerfile_stages() -> dict[str, list[str]]:
    """Stage name → its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: dict[str, list[str]] = {}
    current: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if m:
            current = stages.setdefault(m.group(1), [])
        current.append(line)
    return stages


def test_the_dockerfile_has_the_targets_compose_builds(services: dict[str, Any]) -> None:
    stages = dockerfile_stages()
    targets = {s["build"]["target"] for s in services.values() if "build" in s}
    assert targets <= set(stages)
    for lines in stages.values():
        for line in lines:
            m = re.match(r"COPY\s+--from=(\S+)", line)
            if m:
                assert m.group(1) in stages, line


def test_every_path_the_dockerfile_copies_exists() -> None:
    copies = 0
    for lines in dockerfile_stages().values():
        for line in lines:
            if not line.startswith("COPY") or "--from=" in line:
                continue
            *sources, _dest = line.split()[1:]
            for src in sources:  # relative to the build context: the repository
                copies += 1
                assert (ROOT / src).exists(), line
                assert not any(src.startswith(i) for i in DOCKERIGNORED), line
    assert copies >= 6
    assert (ROOT / "web" / "scripts" / "vendor.mjs").is_file()


def test_the_images_point_the_app_at_what_they_copy(services: dict[str, Any]) -> None:
    app = "\n".join(dockerfile_stages()["app"])
    fields = {name.upper() for name in Settings.model_fields}
    for key, value in re.findall(r"(GRIDDISPATCH_[A-Z_]+)=(\S+)", app):
        assert key.removeprefix("GRIDDISPATCH_") in fields
        if key in ("GRIDDISPATCH_CITY_DIR", "GRIDDISPATCH_WEB_DIR"):
            rel = Path(value).relative_to("/app")
            assert (ROOT / rel).is_dir()
            assert f"{rel}/" in app  # copied there
    web_root = env_of(services["proxy"])["GRIDDISPATCH_PROXY_WEB_ROOT"]
    assert f"/src/web/static/ {web_root}/static/" in "\n".join(dockerfile_stages()["proxy"])
    assert {".venv", ".git", "web/node_modules", "var"} <= set(DOCKERIGNORED)


def test_the_stack_and_compose_fill_the_same_placeholders(tmp_path: Path) -> None:
    cfg = proxy.ProxyConfig("127.0.0.1:8080", ["127.0.0.1:1", "127.0.0.1:2"], ROOT / "web", 1)
    values = cfg.values(tmp_path / "access.log")
    assert set(values) == set(proxy.PLACEHOLDER.findall(proxy.SERVER_CONF.read_text()))
