"""Settings only the operations commands read (environment variables `STAX_*`).

Kafka and PostgreSQL are reached with the services' own settings (`shared.settings`): the admin
principal's STAX_KAFKA_* and STAX_DATABASE_URL, so one environment serves `stax` and the services.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.kafka_acls import SERVICES, service_principal


class OperationsError(RuntimeError):
    """Something the operator must fix; the message says what."""


class OperationsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STAX_", extra="ignore")

    kafka_password_intake: SecretStr | None = Field(
        default=None, description="`stax init` on an external broker: intake principal's password"
    )
    kafka_password_matcher: SecretStr | None = Field(
        default=None, description="`stax init` on an external broker: matcher principal's password"
    )
    kafka_password_notifier: SecretStr | None = Field(
        default=None, description="`stax init` on an external broker: notifier principal's password"
    )
    intake_url: str = Field(
        default="http://127.0.0.1:8001", description="`stax requests …`: intake's base URL"
    )
    operator_key: SecretStr | None = Field(
        default=None, description="`stax requests …`: an operator API key to call intake with"
    )

    def service_passwords(self) -> dict[str, str] | None:
        """The services' SCRAM passwords `stax init` sets (compose gives them); None when another
        tool manages the principals (Strimzi's KafkaUsers)."""
        given = {s: getattr(self, f"kafka_password_{s}") for s in SERVICES}
        missing = [s for s, v in given.items() if v is None]
        if len(missing) == len(SERVICES):
            return None
        if missing:  # half a configuration is a mistake, not a choice
            names = ", ".join(f"STAX_KAFKA_PASSWORD_{s.upper()}" for s in missing)
            raise OperationsError(f"set all three service passwords or none; missing: {names}")
        return {service_principal(s): v.get_secret_value() for s, v in given.items()}
