"""Settings: one pydantic-settings class, every field overridable with a ``LOCATOR_`` variable."""

from __future__ import annotations

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
    log_level: str = Field(default="INFO")

    @property
    def pg_data_dir(self) -> Path:
        """Data folder of the embedded cluster."""
        return self.state_dir / "pgdata"
