"""The one Settings object, read from the environment and `.env`."""

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_DIR / "data"


class Settings(BaseSettings):
    """Service configuration; every field can be set by an upper-case env var."""

    model_config = SettingsConfigDict(env_file=PROJECT_DIR / ".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    app_instance: str = "api"
    app_port: int = 0

    database_url: str = f"sqlite:///{DATA_DIR / 'app.db'}"
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    db_pool_size: int = Field(default=5, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    db_pool_timeout_seconds: float = Field(default=10, gt=0)
    db_pool_recycle_seconds: int = Field(default=1800, ge=-1)
    read_cache_entries: int = Field(default=4096, ge=0)  # SQLite item/page cache per process; 0 turns it off

    jwt_secret: str = Field(default="", repr=False)
    jwt_secret_file: Path = DATA_DIR / "jwt_secret"
    jwt_algorithm: Literal["HS256", "HS384", "HS512", "RS256", "EdDSA"] = "HS256"
    jwt_private_key_file: Path | None = None
    jwt_key_id: str = ""
    jwt_public_keys_dir: Path = DATA_DIR / "jwt_keys"
    jwt_issuer: str = "fastapi-pm2-service"
    jwt_audience: str = "fastapi-pm2-service"
    jwt_leeway_seconds: int = Field(default=10, ge=0, le=300)
    access_token_expire_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)

    login_max_failures: int = Field(default=5, ge=1)
    login_window_seconds: int = Field(default=300, ge=1)

    otel_enabled: bool = False  # FastAPI's native OpenTelemetry, for a process with OTel providers set up
    metrics_enabled: bool = False
    metrics_allow_ips: str = "127.0.0.1,::1"  # comma-separated; "*" for any

    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["plain", "json"] = "plain"
    slow_request_ms: int = Field(default=1000, ge=1)
    gc_threshold: int = Field(default=10_000, ge=0)  # GC's first threshold once started; 0: untouched

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _case_insensitive(cls, value: str) -> str:
        return value.upper() if value.lower() in ("debug", "info", "warning", "error") else value.lower()


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
