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
    matcher_url: str = Field(
        default="http://127.0.0.1:8002",
        description="matcher's HTTP API, as the operator console calls it",
    )
    notifier_url: str = Field(
        default="http://127.0.0.1:8003",
        description="notifier's HTTP API, as the operator console calls it",
    )
    # Half the batches a request makes, and nothing a request waits on: the one reader that
    # does wait, a partner's answer sent as soon as the offer's webhook came, waits for the
    # offer to be recorded here (intake_offer_wait_ms). At 200 ms: 0.88 of the CPU a request
    # (docs/benchmarks.md, "gathering").
    intake_timeline_fetch_wait_ms: int = Field(
        default=200,
        ge=0,
        le=5000,
        description="STAX_KAFKA_FETCH_WAIT_MS for the events that build the status timelines",
    )
    intake_offer_wait_ms: int = Field(
        default=3000,
        ge=0,
        le=30000,
        description=(
            "How long an answer to an offer intake has not read yet waits for it before 404"
        ),
    )
    rate_limit: RateLimitText = Field(
        default=DEFAULT_RATE_LIMIT,
        description="Requests per API key (and failed ones per client address), e.g. 100/second",
    )
