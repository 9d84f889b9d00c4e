"""Settings every service shares; each service extends `ServiceSettings` with its own fields.

All come from environment variables prefixed `STAX_` (pydantic-settings), documented in the README.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.kafka import TENANT_DISCOVERY_MS
from shared.kafka_access import KafkaAccess
from shared.retention import RetentionPolicy


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STAX_", extra="ignore")

    kafka_bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated"
    )
    kafka_security_protocol: Literal["SASL_SSL", "PLAINTEXT"] = Field(
        default="SASL_SSL",
        description="SASL_SSL (TLS + SCRAM-SHA-512); PLAINTEXT only for benchmarks",
    )
    kafka_sasl_username: str = Field(default="", description="This service's Kafka principal")
    kafka_sasl_password: SecretStr = Field(
        default=SecretStr(""), description="Its SCRAM-SHA-512 password"
    )
    kafka_ssl_cafile: str | None = Field(
        default=None, description="CA file the broker's certificate is checked against"
    )
    # Fuller batches cost less a record: a transaction, a fetch and a relay's send are shared
    # by more records. The price is latency on every hop, and an idle consumer fetching more
    # often; at 20 ms, matcher and notifier spent no less CPU a request (docs/benchmarks.md,
    # "gathering"), so by default only intake's timeline events gather.
    kafka_fetch_wait_ms: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="How long Kafka may hold a consumer's fetch to gather records (0: not at all)",
    )
    kafka_tenant_discovery_ms: int = Field(
        default=TENANT_DISCOVERY_MS,
        ge=500,
        le=300_000,
        description="How often Kafka clients refresh topic metadata: a newly granted tenant's "
        "topic is read within this",
    )
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/stax", description="PostgreSQL URL (asyncpg)"
    )
    db_pool_size: int = Field(default=10, ge=1, description="Max connections per service process")
    http_host: str = Field(default="127.0.0.1", description="Address the HTTP server binds to")
    # Replicas sharing one network namespace (compose `--scale` with host networking) cannot
    # share a port: each takes the first free one of a span and says which in a file.
    http_port_tries: int = Field(
        default=1, ge=1, le=100, description="Serve on the first free port of port … port+N-1"
    )
    http_port_file: str | None = Field(
        default=None, description="Write the HTTP port actually served on into this file"
    )
    outbox_poll_seconds: float = Field(
        default=1.0, gt=0, description="Outbox relay's fallback poll interval"
    )
    migrate_on_start: bool = Field(
        default=True, description="Apply this service's migrations at start"
    )
    log_level: str = Field(default="INFO", description="Python log level")
    log_format: Literal["json", "text"] = Field(
        default="json", description="json: one JSON object a line; text: for a terminal"
    )
    outbox_retention_days: float = Field(
        default=30, gt=0, description="Published (or quarantined) outbox rows older than this go"
    )
    # Must stay above the Kafka topics' retention: see shared.retention.
    inbox_retention_days: float = Field(
        default=30, gt=0, description="Inbox rows (applied events) older than this go"
    )
    retention_poll_seconds: float = Field(
        default=3600, gt=0, description="How often each service prunes its outbox and inbox"
    )
    # intake verifies what notifier signs: both must be given the same secret.
    answer_link_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Signs the Accept / Decline links of offer e-mails; empty: no links",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8001",
        description="Where people reach intake's pages; answer links are built on it",
    )

    @property
    def retention(self) -> RetentionPolicy:
        return RetentionPolicy(
            outbox_age=timedelta(days=self.outbox_retention_days),
            inbox_age=timedelta(days=self.inbox_retention_days),
        )

    @property
    def kafka(self) -> KafkaAccess:
        return KafkaAccess(
            self.kafka_bootstrap_servers,
            self.kafka_security_protocol,
            self.kafka_sasl_username,
            self.kafka_sasl_password.get_secret_value(),
            self.kafka_ssl_cafile,
        )
