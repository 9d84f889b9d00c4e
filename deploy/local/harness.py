"""A private stack for a test session or a benchmark: Kafka and PostgreSQL on ports of its own
in a temporary folder, with the same launcher code as `stax-local stack up`, so a development
stack is never disturbed.

Ports from `port_base`: Kafka +92 (controller +93), PostgreSQL +32, intake +1, matcher +2,
notifier +3. The folder goes when the block ends well; after a failure it stays, for its logs.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from deploy.local import kafka, postgres, stack


def settings(
    home: Path, port_base: int, *, secure: bool = True, external: bool = False
) -> stack.StackSettings:
    """The stack's settings. `external=True` honours STAX_KAFKA_BOOTSTRAP_SERVERS and
    STAX_DATABASE_URL from the environment; otherwise the stack always starts its own."""
    cfg = stack.StackSettings(
        home=home,
        # Never a developer's STAX_KAFKA_HOME: a change of mode reformats the broker's data.
        kafka_home=home / "kafka",
        kafka_secure=secure,
        kafka_port=port_base + 92,
        kafka_controller_port=port_base + 93,
        postgres_port=port_base + 32,
        intake_port=port_base + 1,
        matcher_port=port_base + 2,
        notifier_port=port_base + 3,
    )
    if external:
        return cfg
    return cfg.model_copy(update={"kafka_bootstrap_servers": None, "database_url": None})


@contextmanager
def private_stack(
    port_base: int,
    *,
    name: str,
    secure: bool = True,
    external: bool = False,
    log: stack.Log = print,
) -> Iterator[stack.StackSettings]:
    """Kafka + PostgreSQL up, topics created, every migration applied; everything it started
    is stopped at the end. `secure=False` (PLAINTEXT, no authorizer) only to measure what
    security costs; `name` prefixes the temporary folder."""
    home = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    cfg = settings(home, port_base, secure=secure, external=external)
    failed = True
    try:
        stack.start_infrastructure(cfg, log)
        yield cfg
        failed = False
    finally:
        stack.down(cfg, log)
        if failed:  # the services' and the broker's logs are the post-mortem
            log(f"kept {cfg.home} for its logs")
        else:
            shutil.rmtree(cfg.home, ignore_errors=True)


class Outages(Protocol):
    """Stopping and starting the stack's Kafka and PostgreSQL, whatever runs them (processes
    here, containers in deploy.containers.fixtures): the tests of outages use only this."""

    def stop_kafka(self) -> None: ...
    def start_kafka(self) -> None: ...  # returns once the broker serves again
    def stop_postgres(self) -> None: ...
    def start_postgres(self) -> None: ...


@dataclass(frozen=True)
class ProcessOutages:
    """Outages of a private stack's processes."""

    cfg: stack.StackSettings

    def stop_kafka(self) -> None:
        kafka.stop(self.cfg.kafka)

    def start_kafka(self) -> None:
        kafka.wait_ready(self.cfg.kafka, kafka.start(self.cfg.kafka))

    def stop_postgres(self) -> None:
        postgres.stop(self.cfg.postgres)

    def start_postgres(self) -> None:
        postgres.start(self.cfg.postgres)
