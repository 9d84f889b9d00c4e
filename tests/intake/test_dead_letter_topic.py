"""intake's Kafka adapter of ta.deadletter.v1 on the real broker, as intake's principal: pages
that chain back without gaps or overlaps, concurrent reads that do not disturb one another, and
a broker that does not answer reported as unavailable, in bounded time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from deploy.local.stack import StackSettings
from services.intake.adapters.dead_letters import KafkaDeadLetterTopic
from services.intake.domain.dead_letters import Replay
from services.intake.domain.errors import DeadLettersUnavailable
from shared import topics
from shared.kafka_access import KafkaAccess
from shared.kafka_acls import service_principal


@pytest.fixture
async def adapter(infra: StackSettings) -> AsyncIterator[KafkaDeadLetterTopic]:
    async with KafkaDeadLetterTopic(infra.kafka_access(service_principal("intake"))) as made:
        yield made


async def _write(kafka: KafkaAccess, keys: list[bytes]) -> None:
    producer = AIOKafkaProducer(**kafka.aiokafka(), acks="all")
    await producer.start()
    try:
        for key in keys:
            await producer.send_and_wait(topics.DEADLETTER, b"v-" + key, key=key)
    finally:
        await producer.stop()


async def test_pages_chain_back_newest_first_and_agree_with_one_reads(
    adapter: KafkaDeadLetterTopic, kafka: KafkaAccess, unique: str
) -> None:
    keys = [f"page-{unique}-{n}".encode() for n in range(5)]
    await _write(kafka, keys)
    newest = await adapter.newest(before=None, limit=2)
    seen = [letter.key for letter in newest.letters]
    before = newest.next_before
    while not set(keys) <= set(seen) and before is not None:
        page = await adapter.newest(before=before, limit=2)
        assert [x.offset for x in page.letters] == sorted(x.offset for x in page.letters)[::-1]
        assert all(x.offset < before for x in page.letters)
        seen += [letter.key for letter in page.letters]
        before = page.next_before
    assert [k for k in seen if k in keys] == keys[::-1]  # each once, newest first
    top = newest.letters[0]
    again = await adapter.at(top.offset)
    assert again == top and again.whole and again.value == b"v-" + keys[-1]


async def test_concurrent_reads_each_get_what_they_asked_for(
    adapter: KafkaDeadLetterTopic, kafka: KafkaAccess, unique: str
) -> None:
    await _write(kafka, [f"both-{unique}-{n}".encode() for n in range(3)])
    page = await adapter.newest(before=None, limit=3)
    offsets = [x.offset for x in page.letters]
    ones, again = await asyncio.gather(
        asyncio.gather(*(adapter.at(o) for o in offsets)), adapter.newest(before=None, limit=3)
    )
    assert [x.offset if x else None for x in ones] == offsets
    assert again == page


async def test_a_broker_that_does_not_answer_is_unavailable_in_bounded_time() -> None:
    nowhere = KafkaAccess("127.0.0.1:1", "PLAINTEXT")
    async with KafkaDeadLetterTopic(nowhere, wait_seconds=2) as adapter:
        started = time.monotonic()
        with pytest.raises(DeadLettersUnavailable):
            await adapter.newest(before=None, limit=10)
        with pytest.raises(DeadLettersUnavailable):
            await adapter.at(0)
        with pytest.raises(DeadLettersUnavailable):
            await adapter.send(Replay(topics.REQUESTS, 0, b"k", b"v", ()))
        assert time.monotonic() - started < 10
