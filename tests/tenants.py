"""Kafka tenants as outsiders see them: librdkafka (confluent-kafka) clients built from the JSON
that `stax kafka grant` prints, the way a partner's or an upstream system's own code connects."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from deploy.local.stack import StackSettings
from deploy.operations.kafka_admin import KafkaAdmin
from shared.envelope import OutgoingRecord
from shared.kafka_acls import TenantKind

Conf = dict[str, str]


def grant(infra: StackSettings, kind: TenantKind, tenant: str) -> Conf:
    """`stax kafka grant KIND TENANT`: the client properties it prints."""
    return KafkaAdmin(infra.kafka_access()).grant(kind, tenant).client


def revoke(infra: StackSettings, kind: TenantKind, tenant: str) -> int:
    return KafkaAdmin(infra.kafka_access()).revoke(kind, tenant)


def read_error(conf: Conf, topic: str, group: str, wait: float = 20.0) -> str | None:
    """Consume `topic` in `group`: None once a record arrives, else the first error's name."""
    consumer = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            return None if error is None else str(error.name())
        return "no record and no error"
    finally:
        consumer.close()


def produce(conf: Conf, record: OutgoingRecord, topic: str | None = None) -> str | None:
    """Produce one record (idempotently, acks=all); None when the broker took it, else the
    delivery error's name."""
    producer = Producer({**conf, "enable.idempotence": True})
    outcome: list[KafkaError | None] = []
    producer.produce(
        topic or record.topic,
        record.value,
        key=record.key,
        headers=list(record.headers.items()),
        on_delivery=lambda err, _msg: outcome.append(err),
    )
    producer.flush(30)
    if not outcome:
        return "not delivered within 30 s"
    return None if outcome[0] is None else str(outcome[0].name())


def admin_error(conf: Conf, call: str, *args: Any) -> str | None:
    """Call one AdminClient method that returns futures; None if all succeeded, else the error."""
    admin = AdminClient(dict(conf))
    futures: Mapping[Any, Any] = getattr(admin, call)(*args)
    for future in futures.values():
        try:
            future.result(timeout=20)
        except KafkaException as exc:
            return str(exc.args[0].name())
    return None


def connects(conf: Conf, within: float = 8.0) -> bool:
    """Whether the client can fetch metadata at all (authentication, TLS, protocol). A refusal
    reaches `error_cb` as soon as the handshake fails, so the answer comes then, not after the
    whole `within` (four refusals a test, 8 s each, were most of the boundary tests' time)."""
    errors: list[KafkaError] = []
    # confluent-kafka's stubs allow only scalars as values; callbacks are what it takes too.
    config: dict[str, Any] = {**conf, "error_cb": errors.append}
    admin = AdminClient(config)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=0.5)
        except KafkaException:
            admin.poll(0)  # serves error_cb
            if errors:
                return False
            continue
        return not errors
    return False


def group(tenant_kind: str, tenant: str) -> str:
    """A consumer group name the tenant's grant allows (prefix `<kind>.<tenant>.`)."""
    return f"{tenant_kind}.{tenant}.{uuid.uuid4().hex[:8]}"
