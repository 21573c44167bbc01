"""What the pages need from the server besides the API: their settings and the offline shell.

Plain functions of the settings, the grid and the files under ``web/`` (no framework), so the
router stays thin.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from dispatch.config import Settings
from geo import Grid

#: the app pages: URL path -> (folder under static/js/ and name, title, stylesheet, extra head)
APP_PAGES = {
    "/report": (
        "report",
        "网格员上报",
        "mobile",
        '<link rel="manifest" href="/static/report.webmanifest">',
    ),
    "/team": ("team", "执法队任务", "mobile", ""),
    "/command": ("command", "指挥中心", "command", ""),
}


def page_html(web_dir: Path, path: str) -> str:
    """One page: web/pages/shell.html filled in (each page is one ES module)."""
    page, title, css, head = APP_PAGES[path]
    shell = (web_dir / "pages" / "shell.html").read_text(encoding="utf-8")
    head = head + "\n" if head else ""
    return shell.format(page=page, title=title, css=css, head=head)


#: what the worker's service worker stores on install, so /report opens with no network
#: (globs under web/static/, plus the page itself); icons and photos are cached as used
SHELL_GLOBS = (
    "css/*.css",
    "js/lib/*.js",
    "js/report/*.js",
    "vendor/leaflet/leaflet-src.esm.js",
    "vendor/leaflet/leaflet.css",
    "vendor/idb/index.js",
    "vendor/icons/sprite.svg",
    "report.webmanifest",
    "img/*.svg",
)


def page_config(settings: Settings, grid: Grid, version: str) -> dict[str, Any]:
    """The pages' settings: city, map tiles (optional, with their CRS) and time zone."""
    minx, miny, maxx, maxy = grid.bounds
    tiles = None
    if settings.tile_url:
        tiles = {
            "url": settings.tile_url,
            "crs": settings.tile_crs,
            "attribution": settings.tile_attribution,
            "max_zoom": settings.tile_max_zoom,
        }
    return {
        "version": version,
        "city": {
            "name_zh": settings.city_name_zh,
            "name_en": settings.city_name_en,
            "bounds": [minx, miny, maxx, maxy],
            "center": [(minx + maxx) / 2, (miny + maxy) / 2],
        },
        "tiles": tiles,
        "timezone": "Asia/Shanghai",
        "photo": {"max_side": 1600, "quality": 0.82, "max_count": 9},
    }


def shell_files(web_dir: Path) -> list[Path]:
    static = web_dir / "static"
    found = {p for pattern in SHELL_GLOBS for p in static.glob(pattern) if p.is_file()}
    return sorted(found)


def service_worker(web_dir: Path) -> str:
    """web/sw-report.js with its precache list and a version that changes with the shell.

    A new version makes the browser install the new worker, which replaces the old cache.
    """
    static = web_dir / "static"
    files = shell_files(web_dir)
    digest = hashlib.sha256()
    for p in [web_dir / "pages" / "shell.html", web_dir / "sw-report.js", *files]:
        st = p.stat()
        digest.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns}".encode())
    urls = ["/report", *("/static/" + p.relative_to(static).as_posix() for p in files)]
    template = (web_dir / "sw-report.js").read_text(encoding="utf-8")
    return template.replace('"__VERSION__"', json.dumps(digest.hexdigest()[:16])).replace(
        '["__SHELL__"]', json.dumps(urls, indent=2)
    )
