"""The project's nginx in front of the app processes, outside containers.

``deploy/nginx/griddispatch.conf`` is the one proxy configuration: docker-compose fills its
``${GRIDDISPATCH_PROXY_*}`` placeholders with the nginx image's envsubst, and this module
fills the same placeholders for a local nginx, wrapped in a small main file of its own
(its own prefix, pid file, logs and temp folders), so nginx needs no root and touches
nothing of a system nginx.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from dispatch.ops.launch import Child
from dispatch.photos.router import MULTIPART_SLACK

ROOT = Path(__file__).resolve().parents[2]
SERVER_CONF = ROOT / "deploy" / "nginx" / "griddispatch.conf"
PLACEHOLDER = re.compile(r"\$\{(GRIDDISPATCH_PROXY_[A-Z_]+)\}")
#: nginx's notice once its sockets are bound and its workers forked
READY_LINE = "start worker processes"

MAIN_CONF = """\
# written by dispatch/ops/proxy.py for `griddispatch stack`: a private nginx
daemon off;
{user}worker_processes {workers};
worker_rlimit_nofile 65536;
pid {prefix}/nginx.pid;
error_log stderr notice;

events {{
    worker_connections 16384;
}}

http {{
    include {mime_types};
    default_type application/octet-stream;
    sendfile on;
    tcp_nodelay on;
    keepalive_timeout 65s;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {server_conf};
}}
"""


def body_limit(max_photo_bytes: int) -> int:
    """The largest request body the proxy lets through: the app's own upload limit."""
    return max_photo_bytes + MULTIPART_SLACK


def upstream_lines(addresses: list[str]) -> str:
    """The ``server`` lines of the upstream block: a process that fails once is left out
    for 5 s, then tried again."""
    return " ".join(f"server {a} max_fails=1 fail_timeout=5s;" for a in addresses)


def render(template: str, values: dict[str, str]) -> str:
    """Fill the ``${GRIDDISPATCH_PROXY_*}`` placeholders; every one must have a value."""
    missing = sorted(set(PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise ValueError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def nginx_binary() -> str:
    """nginx on PATH, or Debian's (in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise RuntimeError("nginx is not installed (Debian: apt-get install nginx)")
    return found


def mime_types(nginx: str) -> Path:
    """The mime.types file beside the nginx binary's compiled-in main configuration."""
    out = subprocess.run([nginx, "-V"], capture_output=True, text=True, check=True).stderr
    conf = re.search(r"--conf-path=(\S+)", out)
    path = Path(conf.group(1)).parent / "mime.types" if conf else Path("/etc/nginx/mime.types")
    if not path.exists():
        raise RuntimeError(f"nginx's mime.types is not at {path}")
    return path


@dataclass
class ProxyConfig:
    """What differs between deployments of the one server file."""

    listen: str
    upstreams: list[str]
    web_root: Path
    max_body_bytes: int
    workers: str = "auto"

    def values(self, access_log: Path) -> dict[str, str]:
        return {
            "GRIDDISPATCH_PROXY_LISTEN": self.listen,
            "GRIDDISPATCH_PROXY_UPSTREAMS": upstream_lines(self.upstreams),
            "GRIDDISPATCH_PROXY_WEB_ROOT": str(self.web_root),
            "GRIDDISPATCH_PROXY_BODY_MAX": str(self.max_body_bytes),
            "GRIDDISPATCH_PROXY_ACCESS_LOG": str(access_log),
        }


def write_config(
    prefix: Path, values: dict[str, str], workers: str = "auto", server_conf: Path = SERVER_CONF
) -> Path:
    """Write the server file filled with ``values`` and a main file under ``prefix``; the
    main file's path."""
    nginx = nginx_binary()
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    server = prefix / "griddispatch.conf"
    server.write_text(render(server_conf.read_text(), values))
    main = prefix / "nginx.conf"
    # as root, nginx would hand its workers to `nobody`, who may not enter the folders of a
    # checkout or a temp dir that only root can read: the workers keep the caller's user
    user = "user root;\n" if os.geteuid() == 0 else ""
    main.write_text(
        MAIN_CONF.format(
            user=user,
            workers=workers,
            prefix=prefix,
            mime_types=mime_types(nginx),
            server_conf=server,
        )
    )
    return main


def check(main_conf: Path) -> str:
    """``nginx -t`` on a written configuration; its output (raises with it on failure)."""
    cmd = [nginx_binary(), "-t", "-p", str(main_conf.parent), "-c", str(main_conf), "-e", "stderr"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"nginx -t failed:\n{done.stderr}")
    return done.stderr


class Proxy:
    """A private nginx started from a written configuration, awaited by its ready line."""

    def __init__(self, cfg: ProxyConfig, prefix: Path) -> None:
        self.cfg = cfg
        self.prefix = prefix
        self.access_log = prefix / "access.log"
        self.main_conf = write_config(prefix, cfg.values(self.access_log), cfg.workers)
        cmd = [nginx_binary(), "-p", str(prefix), "-c", str(self.main_conf), "-e", "stderr"]
        self.child = Child(cmd, prefix / "nginx.log", READY_LINE, dict(os.environ))

    def start(self) -> Proxy:
        check(self.main_conf)
        self.child.start(15)
        return self

    def stop(self) -> None:
        self.child.stop()
