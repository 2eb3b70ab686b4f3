"""Settings: one pydantic-settings class, every field overridable with a ``LOCATOR_`` variable."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def project_root() -> Path:
    """The source checkout this package runs from, or the working directory when installed."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


class Settings(BaseSettings):
    """Settings of the locator.

    Every field reads the environment variable ``LOCATOR_<FIELD>`` (for example
    ``LOCATOR_DATABASE_URL``); the defaults suit a developer machine.
    """

    model_config = SettingsConfigDict(env_prefix="LOCATOR_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of an external PostGIS database. When unset, the project "
        "starts and uses its own private PostgreSQL cluster.",
    )
    state_dir: Path = Field(
        default_factory=lambda: project_root() / ".locator",
        description="Folder of the project's own state: the embedded cluster's data, its "
        "password and port, server logs.",
    )
    pg_bin_dir: Path | None = Field(
        default=None,
        description="Folder holding initdb/pg_ctl/postgres; found under /usr/lib/postgresql "
        "when unset.",
    )
    pg_start_timeout_s: float = Field(default=60.0, gt=0)
    sample_dir: Path = Field(
        default_factory=lambda: project_root() / "data" / "beijing",
        description="Folder of the Beijing sample loaded by `locator load sample`.",
    )
    host: str = Field(default="127.0.0.1", description="Address `locator serve` binds to.")
    port: int = Field(default=8000, ge=1, le=65535, description="Port of `locator serve`.")
    page_size_max: int = Field(default=1000, ge=1, description="Largest page the API returns.")
    walk_speed_kmh: float = Field(default=5.0, gt=0, description="Walking speed for ETAs.")
    ebike_speed_kmh: float = Field(default=15.0, gt=0, description="E-bike speed for ETAs.")
    stale_seat_min: float = Field(
        default=30.0, gt=0, description="A seat count older than this is served as unknown."
    )
    stale_bed_min: float = Field(
        default=180.0, gt=0, description="A bed count older than this is served as unknown."
    )
    stale_charger_min: float = Field(
        default=30.0, gt=0, description="A charger count older than this is served as unknown."
    )
    tile_url: str = Field(
        default="",
        description="XYZ tile URL template for the courier page's base map; empty: district "
        "outlines only (works offline).",
    )
    hold_minutes: float = Field(
        default=90.0, gt=0, le=1440, description="How long a bed hold lasts unless confirmed."
    )
    hold_sweep_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How often the service expires holds whose time has run out (seconds).",
    )
    workers: int = Field(
        default_factory=lambda: max(1, min(os.cpu_count() or 1, 8)),
        ge=1,
        le=64,
        description="Worker processes of `locator serve` (default: one per core, at most 8).",
    )
    db_pool_size: int = Field(
        default=16,
        ge=1,
        le=200,
        description="Database connections per service process; it also bounds the requests one "
        "process works on at once, so that no request waits for, or opens, a connection.",
    )
    writes_per_minute: float = Field(
        default=120.0, gt=0, description="Capacity writes allowed per API key and minute."
    )
    privacy_k: int = Field(
        default=10,
        ge=1,
        description="Coverage figures of an area with fewer workers than this are suppressed, "
        "so that no output shows a single home.",
    )
    plan_time_limit_max_s: float = Field(
        default=120.0,
        gt=0,
        le=3600,
        description="Longest solver time a POST /v1/plans may ask for (the plan is solved "
        "within the request).",
    )
    log_level: str = Field(default="INFO")

    def stale_after(self) -> dict[str, float]:
        """Staleness limit in minutes per capacity unit."""
        return {
            "seat": self.stale_seat_min,
            "bed": self.stale_bed_min,
            "charger": self.stale_charger_min,
        }

    def speed_kmh(self) -> dict[str, float]:
        """Travel speed per mode, for arrival times."""
        return {"walk": self.walk_speed_kmh, "ebike": self.ebike_speed_kmh}
