"""Reliable consumption: parse → inbox + state change + outbox in one transaction → commit offset.

Every subscriber of every service goes through `ReliableConsumer`, so the rules of product brief §4
hold in one place:
- the offset is committed only after the Postgres transaction committed (or the record was
  dead-lettered), never before;
- a record that cannot be parsed or validated is dead-lettered with the reason, then committed;
- a transient failure (database or broker unavailable) is retried with back-off, never
  dead-lettered; the record is re-read from Kafka (seek back), so nothing after it is committed;
- any other failure is retried a few times, then dead-lettered, so a bug cannot stall a partition.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker, KafkaMessage
from prometheus_client import Counter
from pydantic import BaseModel, ValidationError

from shared import topics
from shared.db import is_transient_db_error
from shared.envelope import Envelope, PoisonRecord, parse_record
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

RECORDS = Counter(
    "stax_consumed_records_total", "Records handled by outcome", ["consumer", "outcome"]
)

U = TypeVar("U", bound=UnitOfWork)
U_contra = TypeVar("U_contra", bound=UnitOfWork, contravariant=True)


class Apply(Protocol[U_contra]):
    """Applies one event inside the consumer's unit of work (inbox row already claimed)."""

    def __call__(self, uow: U_contra, envelope: Envelope, data: Any, /) -> Awaitable[None]: ...


class Outcome(enum.Enum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead_lettered"
    RETRY = "retry"


@dataclass(frozen=True)
class Route(Generic[U]):
    """How one ce_type is handled: the data model to validate, and the use case to apply."""

    model: type[BaseModel]
    apply: Apply[U]


class DeadLetterSink(Protocol):
    async def send(self, record: ConsumerRecord[bytes, bytes], reason: str, error: str) -> None: ...


def is_transient(exc: BaseException) -> bool:
    return is_transient_db_error(exc) or isinstance(exc, KafkaError)


@dataclass
class RetryPolicy:
    base_seconds: float = 0.2
    max_seconds: float = 30.0
    max_failures: int = 3  # for non-transient errors, before the record is dead-lettered

    def delay(self, attempt: int) -> float:
        return float(min(self.max_seconds, self.base_seconds * 2 ** (attempt - 1)))


class ReliableConsumer(Generic[U]):
    """Processes records of one consumer group; see the module docstring for the rules."""

    def __init__(
        self,
        *,
        name: str,
        unit_of_work: Callable[[], U],
        routes: Mapping[str, Route[U]],
        dead_letters: DeadLetterSink,
        retry: RetryPolicy | None = None,
        unknown_types_are_poison: bool = False,
        tenant_pattern: str | None = None,
    ) -> None:
        self.name = name
        self._unit_of_work = unit_of_work
        self._routes = routes
        self._dead_letters = dead_letters
        self._retry = retry or RetryPolicy()
        self._unknown_is_poison = unknown_types_are_poison
        # Tenant topics (brief §7.1): the tenant is read from the topic name, never the record.
        self._tenant_pattern = tenant_pattern
        # Failures per (topic, partition, offset); only records being retried are kept.
        self._failures: dict[tuple[str, int, int], int] = {}

    @property
    def handled_types(self) -> list[str]:
        return sorted(self._routes)

    async def on_message(self, msg: KafkaMessage) -> None:
        """FastStream entry point (AckPolicy.MANUAL): ack after success, seek back to retry."""
        outcome = await self.process(msg.raw_message)
        if outcome is Outcome.RETRY:
            await msg.nack()
        else:
            await msg.ack()

    async def process(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        outcome = await self._process(record)
        RECORDS.labels(self.name, outcome.value).inc()
        return outcome

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        position = (record.topic, record.partition, record.offset)
        try:
            outcome = await self._parse_and_apply(record)
        except Exception as exc:  # noqa: BLE001 - sorted into transient / poison / bug below
            outcome = await self._on_failure(record, position, exc)
        if outcome is not Outcome.RETRY:
            self._failures.pop(position, None)  # done with this record, one way or another
        return outcome

    async def _parse_and_apply(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        try:
            envelope = self._identify(
                record.topic, parse_record(record.headers, record.key, record.value)
            )
            route = self._routes.get(envelope.type)
            if route is None:
                if self._unknown_is_poison:
                    raise PoisonRecord("unknown_type", f"{envelope.type!r} is not handled here")
                return Outcome.IGNORED
            data = route.model.model_validate(envelope.data)
        except PoisonRecord as poison:
            return await self._dead_letter(record, poison.reason, poison.error)
        except ValidationError as exc:
            return await self._dead_letter(record, "invalid_data", _brief(exc))
        try:
            return await self._apply(route, envelope, data)
        except PoisonRecord as refused:  # the use case refused it: rolled back, nothing changed
            return await self._dead_letter(record, refused.reason, refused.error)

    def _identify(self, topic: str, envelope: Envelope) -> Envelope:
        if self._tenant_pattern is None:
            return envelope
        tenant = topics.tenant_of(topic, self._tenant_pattern)
        if tenant is None:
            raise PoisonRecord("unknown_tenant", f"{topic!r} is not a tenant topic")
        return dataclasses.replace(envelope, tenant=tenant)

    async def _apply(self, route: Route[U], envelope: Envelope, data: Any) -> Outcome:
        async with self._unit_of_work() as uow:
            if not await uow.claim(self.name, envelope.id):
                return Outcome.DUPLICATE
            await route.apply(uow, envelope, data)
        return Outcome.APPLIED

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], reason: str, error: str
    ) -> Outcome:
        await self._dead_letters.send(record, reason, error)
        return Outcome.DEAD_LETTERED

    async def _on_failure(
        self, record: ConsumerRecord[bytes, bytes], position: tuple[str, int, int], exc: Exception
    ) -> Outcome:
        failures = self._failures.get(position, 0) + 1
        self._failures[position] = failures
        if not is_transient(exc) and failures > self._retry.max_failures:
            log.exception(
                "%s: giving up on %s after %d failures", self.name, position, failures, exc_info=exc
            )
            try:
                return await self._dead_letter(record, "processing_failed", repr(exc))
            except Exception as dlq_exc:  # noqa: BLE001 - the broker is down: retry it all later
                exc = dlq_exc
        delay = self._retry.delay(failures)
        log.warning(
            "%s: %s failed (%r), retry %d in %.1fs", self.name, position, exc, failures, delay
        )
        await asyncio.sleep(delay)
        return Outcome.RETRY


def subscribe_reliably(
    broker: KafkaBroker,
    consumer: ReliableConsumer[Any],
    topic: str | None = None,
    *,
    pattern: str | None = None,
    group_id: str,
    description: str,
) -> None:
    """Subscribe `consumer` to a topic (or to every topic matching `pattern`, found as they are
    created) with manual acks and with FastStream's own decoding disarmed."""
    broker.subscriber(
        *([topic] if topic else []),
        pattern=pattern,
        group_id=group_id,
        auto_offset_reset="earliest",
        parser=_tolerant_parser,
        decoder=_raw_body,
        title=consumer.name,
        description=f"{description}. Handles: {', '.join(consumer.handled_types)}",
    )(consumer.on_message)


async def _raw_body(msg: KafkaMessage, _original: Any) -> bytes:
    # FastStream JSON-decodes every body before calling the handler; on garbage that raises
    # outside our code and the record would be skipped without a trace. ReliableConsumer parses
    # the raw record itself and dead-letters what it cannot read.
    return bytes(msg.body)


async def _tolerant_parser(
    record: ConsumerRecord[bytes, bytes],
    original: Callable[[ConsumerRecord[bytes, bytes]], Awaitable[KafkaMessage]],
) -> KafkaMessage:
    """FastStream decodes header values strictly; a foreign producer's non-UTF-8 (or null)
    header would raise before our code runs. Parse a cleaned copy, but hand our consumer the
    original record, which it then dead-letters with its real bytes."""
    try:
        return await original(record)
    except (UnicodeDecodeError, AttributeError):
        cleaned = dataclasses.replace(
            record,
            headers=tuple(
                (k, (v or b"").decode("utf-8", "replace").encode()) for k, v in record.headers
            ),
        )
        message = await original(cleaned)
        message.raw_message = record
        return message


def _brief(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())[:2000]
