"""ta.deadletter.v1 through aiokafka, for the operators' dead-letter API.

Reading: a consumer assigned the topic's one partition that seeks to what it is asked for. It
has no group, so it commits nothing and disturbs no other reader; it is paused between reads,
so an idle intake does not poll the topic. Writing a replay back: an idempotent acks=all
producer, as the services' own. Both connect as intake's principal on first use and are kept;
one that failed is dropped and made again by the next request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError, UnknownTopicOrPartitionError

from services.intake.domain.dead_letters import (
    PREVIEW_BYTES,
    DeadLetter,
    DeadLetterPage,
    Refusal,
    Replay,
)
from services.intake.domain.errors import DeadLettersUnavailable, NotReplayable
from shared import topics
from shared.kafka_access import KafkaAccess

CLIENT_ID = "stax-intake-dead-letters"
# How long one read may take, connecting included, before the caller hears "unavailable".
WAIT_SECONDS = 10.0
# Bounds each produce attempt: a replay is answered within about this much, delivered or not.
REQUEST_TIMEOUT_MS = 10_000


class KafkaDeadLetterTopic:
    """The `DeadLetterTopic` of handlers.dead_letters, on Kafka. Use it as an async context
    manager (app.py's lifespan): leaving closes its clients."""

    def __init__(self, access: KafkaAccess, *, wait_seconds: float = WAIT_SECONDS) -> None:
        self._access = access
        self._wait = wait_seconds
        self._partition = TopicPartition(topics.DEADLETTER, 0)  # the topic has one partition
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        # One read at a time: a read is a seek and a few fetches on the one consumer.
        self._reading_lock = asyncio.Lock()
        self._producer_lock = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._drop_consumer()
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def newest(self, *, before: int | None, limit: int) -> DeadLetterPage:
        async with self._reading() as consumer:
            low, high = await self._bounds(consumer)
            stop = high if before is None else min(before, high)
            start = max(low, stop - limit)
            records = await self._read(consumer, start, stop) if start < stop else []
        letters = [_letter(r, keep=PREVIEW_BYTES) for r in reversed(records)]
        return DeadLetterPage(letters, start if low < start < stop else None)

    async def at(self, offset: int) -> DeadLetter | None:
        async with self._reading() as consumer:
            low, high = await self._bounds(consumer)
            if not low <= offset < high:
                return None
            records = await self._read(consumer, offset, offset + 1)
        return next((_letter(r, keep=None) for r in records if r.offset == offset), None)

    async def send(self, replay: Replay) -> None:
        producer = await self._started_producer()
        await self._check_partition(producer, replay)
        try:
            # Not under a timeout of ours: cancelling a send does not recall a record already
            # on its way. The producer's own request timeout bounds it, and its error is final.
            await producer.send_and_wait(
                replay.topic,
                replay.value,
                key=replay.key,
                partition=replay.partition,
                headers=list(replay.headers),
            )
        except TopicAuthorizationFailedError as exc:
            raise NotReplayable(_not_permitted(replay.topic)) from exc
        except KafkaError as exc:
            raise DeadLettersUnavailable(f"{replay.topic}: {exc!r}") from exc

    # ------------------------------------------------------------------ reading

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[AIOKafkaConsumer]:
        async with self._reading_lock:
            try:
                async with asyncio.timeout(self._wait):
                    yield await self._started_consumer()
            except (KafkaError, TimeoutError) as exc:
                # Whatever state an interrupted read left the consumer in, the next starts anew.
                await self._drop_consumer()
                raise DeadLettersUnavailable(f"{topics.DEADLETTER}: {exc!r}") from exc

    async def _started_consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                **self._access.aiokafka(),
                client_id=CLIENT_ID,
                group_id=None,
                enable_auto_commit=False,
            )
            await _start(consumer)
            consumer.assign([self._partition])
            consumer.pause(self._partition)
            self._consumer = consumer
        return self._consumer

    async def _drop_consumer(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def _bounds(self, consumer: AIOKafkaConsumer) -> tuple[int, int]:
        """The oldest offset still kept and the next one to be written."""
        low = await consumer.beginning_offsets([self._partition])
        high = await consumer.end_offsets([self._partition])
        return low[self._partition], high[self._partition]

    async def _read(
        self, consumer: AIOKafkaConsumer, start: int, stop: int
    ) -> list[ConsumerRecord[bytes, bytes]]:
        """The records of offsets start … stop-1 (offsets may skip: Kafka's control records)."""
        partition = self._partition
        consumer.seek(partition, start)
        consumer.resume(partition)
        try:
            found: list[ConsumerRecord[bytes, bytes]] = []
            while await consumer.position(partition) < stop:
                batch = await consumer.getmany(
                    partition, timeout_ms=500, max_records=max(stop - start, 1)
                )
                found += [r for r in batch.get(partition, []) if start <= r.offset < stop]
            return found
        finally:
            consumer.pause(partition)

    # ------------------------------------------------------------------ writing

    async def _started_producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    **self._access.aiokafka(),
                    client_id=CLIENT_ID,
                    enable_idempotence=True,
                    acks="all",
                    request_timeout_ms=REQUEST_TIMEOUT_MS,
                )
                try:
                    async with asyncio.timeout(self._wait):
                        await _start(producer)
                except (KafkaError, TimeoutError) as exc:
                    raise DeadLettersUnavailable(f"producer: {exc!r}") from exc
                self._producer = producer
            return self._producer

    async def _check_partition(self, producer: AIOKafkaProducer, replay: Replay) -> None:
        """The record goes back to its own partition; a topic or partition gone (a tenant's
        topic deleted) or not writable is refused for good, before anything is sent."""
        try:
            async with asyncio.timeout(self._wait):
                partitions = await producer.partitions_for(replay.topic)
        except UnknownTopicOrPartitionError as exc:
            raise NotReplayable(_gone(replay, "topic")) from exc
        except TopicAuthorizationFailedError as exc:
            raise NotReplayable(_not_permitted(replay.topic)) from exc
        except (KafkaError, TimeoutError) as exc:
            raise DeadLettersUnavailable(f"{replay.topic}: {exc!r}") from exc
        if replay.partition not in partitions:
            raise NotReplayable(_gone(replay, "partition"))


async def _start(client: AIOKafkaConsumer | AIOKafkaProducer) -> None:
    try:
        await client.start()
    except BaseException:
        await client.stop()  # a half-started client still holds its connections
        raise


def _letter(record: ConsumerRecord[bytes, bytes], *, keep: int | None) -> DeadLetter:
    value = record.value or b""
    return DeadLetter(
        offset=record.offset,
        timestamp=datetime.fromtimestamp(record.timestamp / 1000, UTC),
        key=record.key,
        value=value if keep is None else value[:keep],
        size=len(value),
        headers=tuple((name, raw or b"") for name, raw in record.headers),
    )


def _gone(replay: Replay, what: str) -> Refusal:
    if what == "topic":
        return Refusal("gone", f"{replay.topic} does not exist (any more)")
    return Refusal("gone", f"{replay.topic} has no partition {replay.partition} (any more)")


def _not_permitted(topic: str) -> Refusal:
    return Refusal(
        "not_permitted",
        f"intake may not write {topic} (Kafka ACLs): a tenant granted before dead-letter replay "
        "existed lacks intake's WRITE on its topic (shared.kafka_acls.tenant_acls); granting "
        "it again adds it, and rotates the tenant's password",
    )
