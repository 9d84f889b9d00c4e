"""Reading topics from tests with a plain aiokafka consumer (no group, from the beginning)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any, TypeAlias

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from shared.kafka_access import KafkaAccess

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


def header(record: Record, name: str) -> str | None:
    """A header as text; tolerant, since the fuzz tests put garbage on the shared topics on
    purpose (a non-UTF-8 ce_type must not fail a test that is looking for something else)."""
    for key, value in record.headers:
        if key == name:
            return (value or b"").decode(errors="replace")
    return None


async def collect(
    kafka: KafkaAccess,
    topic: str,
    *,
    until: Callable[[list[Record]], bool],
    wait: float = 30.0,
    matching: Callable[[Record], bool] = lambda r: True,
) -> list[Record]:
    """Read `topic` from the start until `until(records)` holds or `wait` seconds pass."""
    consumer = AIOKafkaConsumer(
        topic, **kafka.aiokafka(), auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[Record] = []
    deadline = time.monotonic() + wait
    try:
        while not until(found) and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            found += [r for rs in batch.values() for r in rs if matching(r)]
    finally:
        await consumer.stop()
    return found


async def settle(seconds: float = 1.0) -> None:
    """Give asynchronous work a moment before asserting that something did NOT happen."""
    await asyncio.sleep(seconds)


def data_of(record: Record) -> dict[str, Any]:
    """A record's JSON object, or {} for anything else: shared topics also carry the garbage the
    fuzz tests publish on purpose, which a reader looking for its own records must step over."""
    try:
        loaded = json.loads(record.value or b"")
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}
