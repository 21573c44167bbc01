"""One Settings object, from environment variables; passed into create_app."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from dispatch.stats.figures import DEFAULT_WEIGHTS

ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Every setting has a safe embedded default: SQLite, in-process bus, the demo city."""

    model_config = SettingsConfigDict(env_prefix="GRIDDISPATCH_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{ROOT / 'var' / 'griddispatch.sqlite'}",
        validation_alias=AliasChoices("DATABASE_URL", "GRIDDISPATCH_DATABASE_URL"),
    )
    redis_url: str | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "GRIDDISPATCH_REDIS_URL")
    )
    #: prefix of every Redis key and channel, so deployments and tests never collide
    redis_prefix: str = "griddispatch"
    city_dir: Path = ROOT / "grid_data" / "nanning"
    photo_dir: Path = ROOT / "var" / "photos"
    #: demo accounts' password; a random one is printed when unset
    demo_password: str | None = None
    create_demo_accounts: bool = True
    token_ttl_minutes: int = 12 * 60  # one shift
    snap_tolerance_m: float = 30.0
    duplicate_radius_m: float = 50.0
    duplicate_window_hours: float = 24.0
    #: register and dispatch at intake (立案 and 派遣 by the system) when routing is clear
    auto_dispatch: bool = True
    escalation_interval_s: float = 30.0
    max_photo_bytes: int = 10 * 1024 * 1024
    max_photo_pixels: int = 40_000_000
    photo_max_side: int = 2560
    #: page size cap for list endpoints
    max_page_size: int = 500
    #: intake groups concurrent reports into one transaction of at most this many
    intake_batch_max: int = 64
    #: after start-up, move everything built so far out of the garbage collector's sight
    #: (gc.freeze): on for ``griddispatch serve``, whose process lives as long as the app
    gc_freeze: bool = False
    log_level: str = "INFO"
    # --- operations (docs/operations.md, "Health, metrics and logs") ---
    #: json (one object per line), text (for a terminal) or auto: text on a terminal, else json
    log_format: Literal["auto", "json", "text"] = "auto"
    #: one line per request (route template, status, duration, request id; never bodies)
    access_log: bool = True
    #: PostgreSQL: give up a connection attempt, a statement (0 = never), a wait for a pooled
    #: connection after this many seconds; the request then answers 503 with Retry-After
    db_connect_timeout_s: float = Field(default=5.0, ge=2)
    db_statement_timeout_s: float = Field(default=30.0, ge=0)
    db_pool_timeout_s: float = Field(default=10.0, gt=0)
    #: /readyz: each check gives up after this long
    ready_timeout_s: float = Field(default=2.0, gt=0)
    #: /readyz answers 503 while Redis is away (false: it reports Redis, answers 200)
    ready_requires_redis: bool = True
    #: /metrics: unset = open (keep it off the public side of the proxy); set = the scraper
    #: must send "Authorization: Bearer <token>"
    metrics_token: SecretStr | None = None
    #: the figures read from the database (cases, overdue tickets, feed head) at most this
    #: often per process, however often /metrics is scraped
    metrics_cache_s: float = Field(default=10.0, ge=0)
    #: each process writes its feed figures for multi-worker scrapes this often
    metrics_sample_s: float = Field(default=5.0, gt=0)
    #: the front ends' files (pages, static assets, the vendored npm dependencies)
    web_dir: Path = ROOT / "web"
    #: the city's name on the pages
    city_name_zh: str = "南宁市"
    city_name_en: str = "Nanning"
    #: optional raster tile layer under the city's own vector map, e.g. an intranet server:
    #: "http://tiles.intranet/{z}/{x}/{y}.png"; unset = vector data only, nothing else fetched
    tile_url: str | None = None
    #: the tiles' coordinate system; with gcj02 every marker and outline is shifted to match
    tile_crs: Literal["wgs84", "gcj02"] = "wgs84"
    tile_attribution: str = ""
    tile_max_zoom: int = Field(default=18, ge=1, le=22)
    # --- live feed (dispatch.feed) ---
    #: browser origins allowed to open the feed besides the app's own host (JSON list;
    #: ["*"] allows any); clients that send no Origin (not browsers) are always allowed
    feed_origins: list[str] = []
    #: events a socket may have waiting; a client that falls this far behind is dropped
    feed_queue_max: int = 1000
    #: bytes a live socket may have unsent (written, not yet taken by the client); past
    #: this it is dropped like a full queue
    feed_backlog_max: int = 2 * 2**20
    #: the most events a reconnecting client is replayed; further behind → resync
    feed_replay_max: int = 100_000
    feed_heartbeat_s: float = 15.0
    feed_auth_timeout_s: float = 10.0
    #: the log is read at least this often, and this often while Redis is away
    feed_poll_s: float = 5.0
    feed_degraded_poll_s: float = 0.25
    #: on SQLite without Redis, how often a process looks for other processes' commits to
    #: the file (feed/bus.py SqliteBus)
    feed_watch_s: float = Field(default=0.005, gt=0, le=5)
    #: connected sockets' tokens are re-checked this often (revoked, expired, user disabled)
    feed_revalidate_s: float = 30.0
    #: permessage-deflate on websockets: a quarter of the bytes, but compressed per socket
    #: and per message, so CPU grows with clients × events (docs/benchmarks.md)
    ws_deflate: bool = False
    #: Open311 (docs/open311.md): the jurisdiction served, the contact and the endpoint type
    #: shown in discovery, and the window in which an identical POST returns the same request
    open311_jurisdiction_id: str = "nanning.gov.cn"
    open311_contact: str = (
        "griddispatch demo deployment for Nanning (南宁); the operator sets "
        "GRIDDISPATCH_OPEN311_CONTACT"
    )
    open311_endpoint_type: Literal["production", "test"] = "production"
    open311_repeat_window_minutes: int = Field(default=15, ge=1, le=24 * 60)
    #: evaluation figures (dispatch/stats): how often the rollup refreshes today's figures
    stats_interval_s: float = 60.0
    #: a day's figures are final this long after the day ends (late commits land first)
    stats_seal_grace_s: float = 600.0
    #: 立案 + 派遣 time limits behind 按时派遣率 (DOMAIN.md: 30 min normal, 10 min urgent)
    stats_dispatch_limit_min: float = 30.0
    stats_dispatch_limit_urgent_min: float = 10.0
    #: composite score weights per rate (JSON in the environment); see docs/evaluation.md
    stats_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
