"""matcher's settings (environment variables `STAX_MATCHER_*` plus the shared `STAX_*`)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class MatcherSettings(ServiceSettings):
    matcher_port: int = Field(default=8002, description="HTTP port of matcher")
    matcher_respond_days: float = Field(
        default=5.0, gt=0, description="Days a partner has to answer an offer"
    )
