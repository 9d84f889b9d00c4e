"""matcher's settings (environment variables `STAX_MATCHER_*` plus the shared `STAX_*`)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from shared.http_limits import DEFAULT_MAX_BODY_BYTES, DEFAULT_RATE_LIMIT, RateLimitText
from shared.settings import ServiceSettings


class MatcherSettings(ServiceSettings):
    matcher_port: int = Field(default=8002, description="HTTP port of matcher")
    matcher_max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, ge=1, description="Largest accepted body"
    )
    rate_limit: RateLimitText = Field(
        default=DEFAULT_RATE_LIMIT,
        description="Requests per API key (and failed ones per client address), e.g. 100/second",
    )
    matcher_respond_days: float = Field(
        default=5.0, gt=0, description="Days a partner has to answer an offer"
    )
    matcher_respond_seconds: float | None = Field(
        default=None, gt=0, description="Seconds to answer; overrides the days when set (tests)"
    )
    matcher_max_offers: int = Field(
        default=3, ge=1, le=20, description="Most partners asked at once per request"
    )
    matcher_min_offers: int = Field(
        default=2, ge=1, le=20, description="A lead plus supports up to this many, when possible"
    )
    matcher_expiry_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How often the worker looks for overdue offers and waiting requests to serve",
    )
    matcher_max_wait_days: float = Field(
        default=30.0,
        gt=0,
        description="Days a request may wait for a full partner's capacity before it is unmatched",
    )
    matcher_max_wait_seconds: float | None = Field(
        default=None, gt=0, description="Seconds it may wait; overrides the days when set (tests)"
    )

    @property
    def respond_within(self) -> timedelta:
        if self.matcher_respond_seconds is not None:
            return timedelta(seconds=self.matcher_respond_seconds)
        return timedelta(days=self.matcher_respond_days)

    @property
    def max_wait(self) -> timedelta:
        if self.matcher_max_wait_seconds is not None:
            return timedelta(seconds=self.matcher_max_wait_seconds)
        return timedelta(days=self.matcher_max_wait_days)
