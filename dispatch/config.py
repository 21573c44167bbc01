"""One Settings object, from environment variables; passed into create_app."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
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
    log_level: str = "INFO"
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
