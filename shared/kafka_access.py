"""How a client proves who it is to Kafka: TLS + SASL/SCRAM-SHA-512 (product brief §7.1).

One value, `KafkaAccess`, says where the broker is and as whom to connect; it renders itself for
each client library STAX uses (aiokafka, FastStream, librdkafka), so no caller assembles security
settings by hand. `PLAINTEXT` exists only for benchmarks that measure what security costs.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka.helpers import create_ssl_context
from faststream.security import BaseSecurity, SASLScram512

Protocol = Literal["SASL_SSL", "PLAINTEXT"]
MECHANISM = "SCRAM-SHA-512"


@dataclass(frozen=True)
class KafkaAccess:
    """Bootstrap servers plus the principal a client connects as."""

    bootstrap_servers: str
    protocol: Protocol = "SASL_SSL"
    username: str = ""
    password: str = ""
    cafile: str | None = None

    def __post_init__(self) -> None:
        if self.protocol == "SASL_SSL" and not (self.username and self.password):
            raise ValueError(
                "Kafka access over SASL_SSL needs a username and password "
                "(STAX_KAFKA_SASL_USERNAME / STAX_KAFKA_SASL_PASSWORD)"
            )

    @property
    def secure(self) -> bool:
        return self.protocol == "SASL_SSL"

    def as_user(self, username: str, password: str) -> KafkaAccess:
        """The same broker and trust anchor, another principal."""
        return KafkaAccess(self.bootstrap_servers, self.protocol, username, password, self.cafile)

    def with_bootstrap(self, bootstrap_servers: str) -> KafkaAccess:
        return KafkaAccess(
            bootstrap_servers, self.protocol, self.username, self.password, self.cafile
        )

    def ssl_context(self) -> ssl.SSLContext:
        # create_ssl_context verifies the certificate chain and the host name by default.
        context: ssl.SSLContext = create_ssl_context(cafile=self.cafile)
        return context

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer / AIOKafkaConsumer / AIOKafkaAdminClient."""
        if not self.secure:
            return {"bootstrap_servers": self.bootstrap_servers}
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": MECHANISM,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
            "ssl_context": self.ssl_context(),
        }

    def faststream(self) -> BaseSecurity | None:
        """FastStream's security object (an ssl_context makes it SASL_SSL, not SASL_PLAINTEXT)."""
        if not self.secure:
            return None
        return SASLScram512(
            username=self.username, password=self.password, ssl_context=self.ssl_context()
        )

    def librdkafka(self) -> dict[str, str]:
        """librdkafka client properties (confluent-kafka, kcat, the JSON `stax kafka` prints)."""
        conf = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.protocol}
        if self.secure:
            conf |= {
                "sasl.mechanism": MECHANISM,
                "sasl.username": self.username,
                "sasl.password": self.password,
            }
            if self.cafile:
                conf["ssl.ca.location"] = self.cafile
        return conf
