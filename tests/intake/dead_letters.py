"""Dead letters for the tests, made the way the services make them: an original record through
shared.kafka.DeadLetters, its publication captured instead of sent, with the headers FastStream
adds of its own and encoded as FastStream encodes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast
from uuid import uuid4

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from services.intake.domain.dead_letters import DeadLetter, DeadLetterPage, Replay
from shared.kafka import DeadLetters

AT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def original(
    topic: str,
    *,
    key: bytes | None = b"c19a2179-5b7e-4f0e-9d7a-2f1f3c1b8e42",
    value: bytes | None = b'{"request_id": "c19a2179-5b7e-4f0e-9d7a-2f1f3c1b8e42"}',
    headers: Sequence[tuple[str, bytes]] = (("ce_type", b"ta.request.matched"),),
    partition: int = 2,
    offset: int = 41,
) -> ConsumerRecord[bytes, bytes]:
    """A record as a consumer received it, before it was found to be poison."""
    return ConsumerRecord(
        topic=topic,
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key or b""),
        serialized_value_size=len(value or b""),
        headers=tuple(headers),
    )


@dataclass
class _Capture:
    """Stands in for the broker DeadLetters publishes through."""

    published: list[dict[str, Any]] = field(default_factory=list)

    async def publish(self, value: bytes, *, headers: dict[str, str], **options: Any) -> None:
        # As faststream.kafka's producer merges them: its own first, then the caller's over them.
        merged = {"content-type": "", "correlation_id": str(uuid4())} | headers
        self.published.append({"value": value, "headers": merged, **options})


async def dead_lettered(
    record: ConsumerRecord[bytes, bytes],
    *,
    offset: int = 7,
    service: str = "matcher",
    reason: str = "invalid_data",
) -> DeadLetter:
    """What ta.deadletter.v1 holds at `offset` once `service` dead-lettered `record`."""
    capture = _Capture()
    await DeadLetters(cast(KafkaBroker, capture), service).send(record, reason, "it broke")
    [sent] = capture.published
    headers: dict[str, str] = sent["headers"]
    return DeadLetter(
        offset=offset,
        timestamp=AT,
        key=sent["key"],
        value=sent["value"],
        size=len(sent["value"]),
        # FastStream encodes each header value as UTF-8 (faststream.kafka's producer).
        headers=tuple((k, v.encode()) for k, v in headers.items()),
    )


def hand_made(headers: dict[str, str], *, offset: int = 9, value: bytes = b"{}") -> DeadLetter:
    """A dead letter with exactly these headers: what a hostile or broken writer could leave."""
    return DeadLetter(
        offset=offset,
        timestamp=AT,
        key=b"k",
        value=value,
        size=len(value),
        headers=tuple((k, v.encode()) for k, v in headers.items()),
    )


@dataclass
class FakeDeadLetterTopic:
    """ta.deadletter.v1 in memory: the offsets given, a page as Kafka's adapter pages it."""

    letters: dict[int, DeadLetter] = field(default_factory=dict)
    sent: list[Replay] = field(default_factory=list)
    failure: Exception | None = None  # what the next send raises, once

    async def newest(self, *, before: int | None, limit: int) -> DeadLetterPage:
        below = sorted((o for o in self.letters if before is None or o < before), reverse=True)
        page = below[:limit]
        return DeadLetterPage([self.letters[o] for o in page], page[-1] if below[limit:] else None)

    async def at(self, offset: int) -> DeadLetter | None:
        return self.letters.get(offset)

    async def send(self, replay: Replay) -> None:
        failure, self.failure = self.failure, None
        if failure is not None:
            raise failure
        self.sent.append(replay)
