"""Settings every service shares; each service extends `ServiceSettings` with its own fields.

All come from environment variables prefixed `STAX_` (pydantic-settings), documented in the README.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STAX_", extra="ignore")

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated"
    )
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/stax", description="PostgreSQL URL (asyncpg)"
    )
    db_pool_size: int = Field(default=10, ge=1, description="Max connections per service process")
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to")
    outbox_poll_seconds: float = Field(
        default=1.0, gt=0, description="Outbox relay's fallback poll interval"
    )
    migrate_on_start: bool = Field(
        default=True, description="Apply this service's migrations at start"
    )
    log_level: str = Field(default="INFO", description="Python log level")
