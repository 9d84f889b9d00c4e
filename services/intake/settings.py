"""intake's settings (environment variables `STAX_INTAKE_*` plus the shared `STAX_*`)."""

from __future__ import annotations

from pydantic import Field

from shared.http_limits import DEFAULT_MAX_BODY_BYTES, DEFAULT_RATE_LIMIT, RateLimitText
from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    intake_port: int = Field(default=8001, description="HTTP port of intake")
    intake_max_body_bytes: int = Field(
        default=DEFAULT_MAX_BODY_BYTES, ge=1, description="Largest accepted body"
    )
    rate_limit: RateLimitText = Field(
        default=DEFAULT_RATE_LIMIT,
        description="Requests per API key (and failed ones per client address), e.g. 100/second",
    )
