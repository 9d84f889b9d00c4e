"""notifier's settings (environment variables `STAX_NOTIFIER_*` plus the shared `STAX_*`)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings

# Svix's schedule (product brief §5): immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
SVIX_SCHEDULE = [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]


class NotifierSettings(ServiceSettings):
    notifier_port: int = Field(default=8003, description="HTTP port of notifier")
    notifier_retry_schedule: list[float] = Field(
        default=SVIX_SCHEDULE,
        min_length=1,
        description="Seconds before each attempt (JSON list); the first is usually 0",
    )
    notifier_timeout_seconds: float = Field(
        default=15.0, gt=0, description="Webhook request timeout"
    )
    notifier_workers: int = Field(
        default=8, ge=1, description="Concurrent deliveries per notifier process"
    )
    notifier_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often idle workers look for due work"
    )
