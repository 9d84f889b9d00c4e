"""Talking to a running matcher over the real Kafka, for matcher's service tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from aiokafka import AIOKafkaProducer

from shared import topics
from shared.envelope import OutgoingRecord, build_record
from shared.events import Event
from shared.kafka_access import KafkaAccess
from tests.kafka_helpers import Record, collect, data_of, header
from tests.matcher.helpers import Emitted


def record(event: Event, subject: UUID | str) -> OutgoingRecord:
    return build_record(event, source="/tests", subject=str(subject))


async def publish(kafka: KafkaAccess, records: Sequence[OutgoingRecord]) -> None:
    producer = AIOKafkaProducer(**kafka.aiokafka(), enable_idempotence=True)
    await producer.start()
    try:
        for r in records:
            await producer.send_and_wait(
                r.topic, r.value, key=r.key, headers=[(k, v.encode()) for k, v in r.headers.items()]
            )
    finally:
        await producer.stop()


def _emitted(r: Record) -> Emitted:
    return Emitted(header(r, "ce_type") or "", data_of(r))


async def wait_for(
    kafka: KafkaAccess,
    request_ids: set[str],
    until: Callable[[list[Emitted]], bool],
    *,
    topic: str = topics.ASSIGNMENTS,
    wait: float = 45.0,
) -> list[Emitted]:
    """Events about `request_ids` on `topic`, read until `until` holds (or `wait` passes)."""
    keys = {r.encode() for r in request_ids}
    found = await collect(
        kafka,
        topic,
        until=lambda rs: until(_distinct(rs)),
        matching=lambda r: r.key in keys,
        wait=wait,
    )
    return _distinct(found)


def _distinct(records: list[Record]) -> list[Emitted]:
    """One per ce_id: after a crash the outbox may publish an event again (same ce_id)."""
    seen: dict[str | None, Emitted] = {}
    for r in records:
        seen.setdefault(header(r, "ce_id"), _emitted(r))
    return list(seen.values())


def count(events: list[Emitted], ce_type: str) -> int:
    return sum(e.type == ce_type for e in events)


def data(events: list[Emitted], ce_type: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == ce_type]
