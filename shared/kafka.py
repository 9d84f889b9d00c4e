"""Kafka plumbing on FastStream: the broker, topic provisioning and the dead-letter publisher."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from aiokafka import ConsumerRecord
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    TopicAlreadyExistsError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from aiokafka.structs import RecordMetadata
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry, Counter

from shared import telemetry, topics
from shared.bounds import DLQ_MAX_HEADER_CHARS, DLQ_MAX_HEADERS, DLQ_MAX_VALUE_BYTES
from shared.kafka_access import KafkaAccess

log = logging.getLogger(__name__)

# Reasons are codes our code names (PoisonRecord's, "processing_failed", "outbox_quarantined"),
# never text from a record, so the label stays a short list.
DEAD_LETTERED = Counter(
    "stax_dead_lettered_total",
    "Records sent to the dead-letter topic, by the service that sent them and why",
    ["service", "reason"],
)

# How often clients refresh topic metadata: pattern subscriptions (tenant topics) see a newly
# granted tenant's topic within this time. aiokafka's default is 5 minutes.
TENANT_DISCOVERY_MS = 10_000


def make_broker(
    access: KafkaAccess,
    *,
    service: str,
    registry: CollectorRegistry | None = None,
    discovery_ms: int = TENANT_DISCOVERY_MS,
) -> KafkaBroker:
    """A broker whose producer is idempotent (acks=all) and which never creates topics itself;
    its clients look for new topics (a newly granted tenant's) every `discovery_ms`."""
    middlewares: tuple[Any, ...] = telemetry.kafka_middlewares()
    if registry is not None:
        middlewares += (KafkaPrometheusMiddleware(registry=registry, app_name=service),)
    return KafkaBroker(
        access.bootstrap_servers,
        security=access.faststream(),
        metadata_max_age_ms=discovery_ms,
        client_id=f"stax-{service}",
        enable_idempotence=True,
        # Offsets are committed by our consumers only after their Postgres transaction commits
        # (shared.consuming); FastStream's Kafka default, ACK_FIRST, would be at-most-once.
        ack_policy=AckPolicy.MANUAL,
        allow_auto_create_topics=False,
        middlewares=middlewares,
        logger=logging.getLogger(f"stax.{service}.kafka"),
        # FastStream logs a line per message received and processed at this level; at INFO that
        # was two log lines per record on every busy consumer. Kept for debugging, off by default.
        log_level=logging.DEBUG,
    )


async def ensure_topics(
    access: KafkaAccess, wanted: Mapping[str, int] = topics.PARTITIONS
) -> list[str]:
    """Create the contract's topics that are missing; returns the names created (needs a
    principal allowed to create topics: the admin)."""
    admin = AIOKafkaAdminClient(**access.aiokafka())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, n, 1) for name, n in wanted.items() if name not in existing]
        if missing:
            # Another launcher may win the race; the topic is there either way.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
        return [t.name for t in missing]
    finally:
        await admin.close()


async def visible_topics(access: KafkaAccess) -> set[str]:
    """The topics `access`'s principal may see: the broker hides the ones it has no ACL for."""
    admin = AIOKafkaAdminClient(**access.aiokafka())
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def _text_headers(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    # Kafka headers are bytes; FastStream publishes str. Undecodable bytes are kept readable
    # rather than dropped, because the dead-letter record is for a person to inspect.
    return {
        k[:DLQ_MAX_HEADER_CHARS]: (v or b"")[: DLQ_MAX_HEADER_CHARS * 4].decode(
            "utf-8", "backslashreplace"
        )[:DLQ_MAX_HEADER_CHARS]
        for k, v in record.headers[:DLQ_MAX_HEADERS]
    }


def _dead_letter_value(record: ConsumerRecord[bytes, bytes]) -> tuple[bytes, dict[str, str]]:
    """The original value, or nothing when it is too large; the original stays readable at
    x-dlq-topic / x-dlq-partition / x-dlq-offset until the topic's retention ends."""
    value = record.value or b""
    if len(value) <= DLQ_MAX_VALUE_BYTES:
        return value, {}
    return b"", {"x-dlq-value-dropped": f"{len(value)} bytes"}


def _altered(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    """Says what the dead letter does not keep as it was (a dropped value says so itself), so
    that nobody replays a record other than the one that failed (intake's dead-letter replay)."""
    altered = [
        part
        for part, kept in (
            ("key", len(record.key or b"") <= DLQ_MAX_HEADER_CHARS),
            ("headers", _headers_kept(record.headers)),
        )
        if not kept
    ]
    return {"x-dlq-altered": ", ".join(altered)} if altered else {}


# What FastStream's publish adds to a record when it is not given (faststream.kafka's producer).
PUBLISHER_HEADERS = ("content-type", "correlation_id")


def _added(record: ConsumerRecord[bytes, bytes]) -> dict[str, str]:
    """Names the headers the dead letter will carry that the original did not: FastStream adds
    them on publishing, and a replay must leave them out again."""
    names = {name for name, _ in record.headers}
    added = [name for name in PUBLISHER_HEADERS if name not in names]
    return {"x-dlq-added": ", ".join(added)} if added else {}


def _headers_kept(headers: Sequence[tuple[str, bytes]]) -> bool:
    """Whether _text_headers keeps every header as it was: not cut, not merged with a namesake,
    not escaped, and not mistaken for one of the dead letter's own x-dlq-* headers."""
    names = [name for name, _ in headers]
    if len(headers) > DLQ_MAX_HEADERS or len(set(names)) < len(names):
        return False
    for name, value in headers:
        try:
            text = (value or b"").decode("utf-8")
        except UnicodeDecodeError:
            return False
        if name.startswith("x-dlq-") or max(len(name), len(text)) > DLQ_MAX_HEADER_CHARS:
            return False
    return True


class DeadLetters:
    """Moves a record that can never be processed to `ta.deadletter.v1`, with the reason."""

    def __init__(self, broker: KafkaBroker, service: str) -> None:
        self._broker = broker
        self._service = service

    async def send(self, record: ConsumerRecord[bytes, bytes], reason: str, error: str) -> None:
        value, dropped = _dead_letter_value(record)
        headers = (
            _text_headers(record)
            | dropped
            | _altered(record)
            | _added(record)
            | {
                "x-dlq-reason": reason,
                "x-dlq-error": error[:2000],
                "x-dlq-topic": record.topic,
                "x-dlq-partition": str(record.partition),
                "x-dlq-offset": str(record.offset),
                "x-dlq-service": self._service,
            }
        )
        # Awaited to the broker's ack: only then may the caller commit the original offset.
        key = (record.key or b"")[:DLQ_MAX_HEADER_CHARS] or None
        await self._broker.publish(value, topic=topics.DEADLETTER, key=key, headers=headers)
        DEAD_LETTERED.labels(self._service, reason).inc()
        # The reason code only: the error may quote the record (a value that is not JSON, a
        # field's input), which can be a person's data. It is in the dead letter, for operators.
        log.warning(
            "dead-lettered %s[%s]@%s: %s", record.topic, record.partition, record.offset, reason
        )


class TopicRefusedError(Exception):
    """Kafka refused one topic, not every record: this principal may not write it (an ACL
    missing, a tenant's topic whose grant was withdrawn) or it does not exist. Records for other
    topics can still go; see shared.outbox, which holds that topic's rows back."""

    def __init__(self, topic: str, cause: Exception) -> None:
        super().__init__(f"{topic}: {cause!r}")
        self.topic = topic


# The producer's answers about a topic rather than the broker: raised while it waits for the
# topic's metadata, before the record is queued. (An unknown topic is reported only when the
# producer's request timeout has run out.)
_REFUSED_TOPIC = (TopicAuthorizationFailedError, UnknownTopicOrPartitionError)


async def publish_all(
    broker: KafkaBroker, records: Iterable[tuple[str, bytes, dict[str, str], bytes]]
) -> None:
    """Send records in order and wait until Kafka acknowledged all of them. Raises
    `TopicRefusedError` at the first record whose topic Kafka refused, once the records queued
    before it have been answered."""
    pending: list[asyncio.Future[RecordMetadata]] = []
    for topic, key, headers, value in records:
        # Under the context stored with the record (an outbox row's): its trace goes on.
        with telemetry.restored(headers):
            try:
                sent = await broker.publish(
                    value, topic=topic, key=key, headers=headers, no_confirm=True
                )
            except _REFUSED_TOPIC as exc:
                # Those already queued are answered first: none is left unawaited, and a
                # failure among them (the broker, not the topic) is the one reported.
                await asyncio.gather(*pending)
                raise TopicRefusedError(topic, exc) from exc
            pending.append(sent)
    await asyncio.gather(*pending)
