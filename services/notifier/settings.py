"""notifier's settings (environment variables `STAX_NOTIFIER_*` plus the shared `STAX_*`)."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from shared.http_limits import DEFAULT_MAX_BODY_BYTES, DEFAULT_RATE_LIMIT, RateLimitText
from shared.settings import ServiceSettings

# Svix's schedule (product brief §5): immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
SVIX_SCHEDULE = [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


class NotifierSettings(ServiceSettings):
    notifier_port: int = Field(default=8003, description="HTTP port of notifier")
    notifier_max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, ge=1, description="Largest accepted body"
    )
    rate_limit: RateLimitText = Field(
        default=DEFAULT_RATE_LIMIT,
        description="Requests per API key (and failed ones per client address), e.g. 100/second",
    )
    notifier_retry_schedule: list[float] = Field(
        default=SVIX_SCHEDULE,
        min_length=1,
        description="Seconds before each attempt (JSON list); the first is usually 0",
    )
    notifier_timeout_seconds: float = Field(
        default=15.0, gt=0, description="Webhook request timeout (whole request)"
    )
    notifier_overload_penalty_seconds: float = Field(
        default=60.0, ge=0, description="Least wait after a timeout or a 429"
    )
    notifier_max_retry_after_seconds: float = Field(
        default=86_400.0, ge=0, description="Longest Retry-After honoured"
    )
    notifier_lease_seconds: float = Field(
        default=60.0,
        gt=0,
        description="How long a worker owns a delivery it sends; must exceed the timeout",
    )
    notifier_workers: int = Field(
        default=8,
        ge=1,
        description="Delivery loops per notifier process, each sending a batch at a time",
    )
    notifier_delivery_batch: int = Field(
        default=8,
        ge=1,
        le=100,
        description="Due deliveries a worker leases at once and sends concurrently",
    )
    notifier_max_in_flight_per_endpoint: int = Field(
        default=2, ge=1, description="Leases one endpoint may hold at once (per cluster)"
    )
    notifier_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        description="How often idle workers look for due work besides being woken (retries)",
    )
    notifier_disable_after_days: float = Field(
        default=5.0, gt=0, description="Disable an endpoint whose attempts all failed this long"
    )
    notifier_secret_overlap_seconds: float = Field(
        default=86_400.0, ge=0, description="After a rotation, how long the old secret also signs"
    )
    notifier_max_endpoints_per_partner: int = Field(
        default=10, ge=1, description="Webhook endpoints one partner may have (not deleted)"
    )
    notifier_max_contacts_per_partner: int = Field(
        default=20, ge=1, description="E-mail contacts one partner may have (not deleted)"
    )
    notifier_allow_subnets: list[str] = Field(
        default_factory=list,
        description='Subnets webhooks may reach despite the SSRF guard (JSON, ["127.0.0.1/32"])',
    )
    notifier_smtp_host: str = Field(default="127.0.0.1", description="SMTP server")
    notifier_smtp_port: int = Field(default=25, description="SMTP port")
    notifier_smtp_from: str = Field(default="stax@localhost", description="From address")
    notifier_smtp_username: str | None = Field(default=None, description="SMTP user, if any")
    notifier_smtp_password: str | None = Field(default=None, description="SMTP password")
    notifier_smtp_starttls: bool | None = Field(
        default=None, description="true: require STARTTLS; false: never; unset: if offered"
    )
    notifier_smtp_timeout_seconds: float = Field(default=30.0, gt=0, description="SMTP timeout")
    notifier_smtp_connections: int = Field(
        default=4,
        ge=1,
        le=64,
        description="SMTP connections kept open per process, each sending one message at a time",
    )
    notifier_secretariat_email: str | None = Field(
        default=None,
        description="Also a contact of partner 'secretariat' (unmatched requests, failures)",
    )

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> Self:
        # A lease shorter than a send would let a second worker re-send while the first is
        # still waiting for the answer: a duplicate that no crash caused.
        longest = max(self.notifier_timeout_seconds, self.notifier_smtp_timeout_seconds)
        if self.notifier_lease_seconds <= longest:
            raise ValueError(
                f"STAX_NOTIFIER_LEASE_SECONDS ({self.notifier_lease_seconds}) must exceed the "
                f"webhook and SMTP timeouts ({longest})"
            )
        return self
