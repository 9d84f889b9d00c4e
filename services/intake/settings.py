"""intake's settings (environment variables `STAX_INTAKE_*` plus the shared `STAX_*`)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    intake_port: int = Field(default=8001, description="HTTP port of intake")
    intake_max_body_bytes: int = Field(default=64 * 1024, description="Largest accepted body")
