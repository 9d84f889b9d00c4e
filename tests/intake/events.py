"""Publishing other services' events to the real Kafka, as matcher and notifier would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from uuid import UUID, uuid4

from aiokafka import AIOKafkaProducer

from shared.envelope import build_record
from shared.events import AssignmentOffered, Event, Role
from shared.kafka_access import KafkaAccess

T = TypeVar("T")


async def publish(kafka: KafkaAccess, *events: tuple[Event, str]) -> None:
    """Send (event, subject) pairs in order, as binary-mode CloudEvents."""
    producer = AIOKafkaProducer(**kafka.aiokafka(), acks="all")
    await producer.start()
    try:
        for event, subject in events:
            record = build_record(event, source="/stax/test", subject=subject)
            await producer.send_and_wait(
                record.topic,
                record.value,
                key=record.key,
                headers=[(k, v.encode()) for k, v in record.headers.items()],
            )
    finally:
        await producer.stop()


def offer(request_id: UUID, partner_id: str, role: Role = Role.LEAD) -> AssignmentOffered:
    return AssignmentOffered(
        assignment_id=uuid4(),
        request_id=request_id,
        partner_id=partner_id,
        partner_name=f"Partner {partner_id}",
        role=role,
        score=0.8,
        reasons=["covers PCB"],
        covers_topics=["PCB"],
        respond_by=datetime.now(UTC) + timedelta(days=5),
    )


async def eventually(
    probe: Callable[[], Awaitable[T]], holds: Callable[[T], bool], wait: float = 30.0
) -> T:
    """Re-run `probe` until its result satisfies `holds` (or `wait` seconds pass); return it."""
    deadline = time.monotonic() + wait
    while True:
        result = await probe()
        if holds(result) or time.monotonic() > deadline:
            return result
        await asyncio.sleep(0.1)
