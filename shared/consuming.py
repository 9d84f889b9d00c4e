"""Reliable consumption: parse → inbox + state change + outbox in one transaction → commit offset.

Every subscriber of every service goes through `ReliableConsumer`, so the rules of product brief §4
hold in one place:
- the offset is committed only after the Postgres transaction committed (or the record was
  dead-lettered), never before;
- a record that cannot be parsed or validated is dead-lettered with the reason, then committed;
- a transient failure (database or broker unavailable) is retried with back-off, never
  dead-lettered; the record is re-read from Kafka (seek back), so nothing after it is committed;
- any other failure is retried a few times, then dead-lettered, so a bug cannot stall a partition.

Records arrive in batches (up to `BATCH_RECORDS` from one fetch): one transaction per batch, a
savepoint per record (one record's failure undoes only that record), the dead letters sent after
the commit, and the batch's offsets committed after that, paced (shared.offsets: at most a few
commits a second, each covering every batch settled since). While no record fails, the batch's
inbox rows are claimed in one statement and its outbox rows written in one (shared.uow).

A partition whose record must be retried is rewound to that record; the records behind it on
that partition wait for it, in order, while other partitions' records go on. A batch whose
transaction fails as a whole for a reason that is not transient is replayed one record at a
time, which finds its poison and applies its neighbours.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeAlias, TypeVar
from uuid import UUID

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker, KafkaMessage
from prometheus_client import Counter, Gauge
from pydantic import BaseModel, ValidationError

from shared import telemetry, topics
from shared.db import is_transient_db_error
from shared.envelope import Envelope, PoisonRecord, parse_record
from shared.logs import log_context
from shared.offsets import PacedCommits
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

RECORDS = Counter(
    "stax_consumed_records_total", "Records handled by outcome", ["consumer", "outcome"]
)
# Measured in-process after each batch, so it needs no exporter with rights to describe groups;
# a partition that has not had a batch since this process was assigned it is not reported yet.
CONSUMER_LAG = Gauge(
    "stax_consumer_lag",
    "Records behind the log end on a partition this process holds, after its last batch there",
    ["group", "topic", "partition"],
)

# Records per batch: enough to spread a transaction and an offset commit over many records under
# load; a batch is one transaction, so it also bounds how long row locks are held.
BATCH_RECORDS = 100
# How long a poll waits for records. FastStream sleeps as long again after an empty poll, so an
# idle consumer picks up a new record after at most about twice this.
BATCH_WAIT_MS = 10
# How often a consumer tells its group it is alive (aiokafka's default: 3 s). A member hears of a
# rebalance only in a heartbeat's answer, so when an instance starts, stops or dies, every other
# member of its group goes on until its next one, and the rebalance (a pause for all of them)
# waits for the last: 1 s, a tenth of the session timeout, keeps that wait to a second, for one
# small request a second per consumer.
HEARTBEAT_MS = 1000


@dataclass(frozen=True)
class Fetching:
    """How long Kafka may hold a subscription's fetch to gather records: until `min_bytes` are
    there or `max_wait_ms` has passed (the consumer's fetch.min.bytes and fetch.max.wait.ms).

    A batch pays a fetch, a dispatch, a transaction with its inbox claim and outbox write, and
    the relay's send, whatever it holds: a few milliseconds of CPU across the stack
    (docs/benchmarks.md). Gathering makes batches fuller, so each record pays less, at the
    price of up to `max_wait_ms` more latency a hop; by default (the settings) only
    subscriptions nobody waits on gather. The default here is Kafka's: a fetch answers as soon
    as one record is there."""

    max_wait_ms: int = 500
    min_bytes: int = 1

    @classmethod
    def gathering(cls, wait_ms: int) -> Fetching:
        """Gather for up to `wait_ms` (0: not at all). Enough bytes to end the wait early are
        more than a batch's records under this system's loads, so under load each fetch
        waits about `wait_ms`, and batches hold what arrived meanwhile."""
        return cls(max_wait_ms=wait_ms, min_bytes=GATHER_BYTES) if wait_ms > 0 else AT_ONCE


AT_ONCE = Fetching()
# About 64 records as this system writes them, against at most BATCH_RECORDS in a batch.
GATHER_BYTES = 64 * 1024


Record: TypeAlias = "ConsumerRecord[bytes, bytes]"

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


class _Isolate(Exception):  # noqa: N818 - a signal, not an error anyone sees
    """A record of an optimistic batch failed: apply the batch again, a savepoint per record."""


@dataclass(frozen=True)
class _Reject:
    """A record to dead-letter, and why."""

    reason: str
    error: str


@dataclass(frozen=True)
class _Parsed:
    """A record ready to apply."""

    route: Route[Any]
    envelope: Envelope
    data: Any
    record: Record


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

    async def process_batch(self, records: Sequence[Record]) -> list[Outcome]:
        """Handle a batch; one outcome per record, in the same order."""
        outcomes = await self._process_batch(records)
        for outcome in outcomes:
            RECORDS.labels(self.name, outcome.value).inc()
        return outcomes

    async def _process_batch(self, records: Sequence[Record]) -> list[Outcome]:
        parsed = [self._parse(record) for record in records]
        try:
            outcomes, rejects = await self._apply_batch(records, parsed)
        except Exception as exc:  # noqa: BLE001 - the batch's transaction failed as a whole
            if not is_transient(exc):
                log.warning("%s: a batch failed (%r); one record at a time", self.name, exc)
                return await self._one_by_one(records)
            return await self._retry_all(records, exc)
        for i, reject in rejects.items():
            outcomes[i] = await self._dead_letter_or_retry(records[i], reject)
        if Outcome.RETRY in outcomes:
            await asyncio.sleep(self._retry.delay(self._most_failures(records)))
        for record, outcome in zip(records, outcomes, strict=True):
            if outcome is not Outcome.RETRY:
                self._failures.pop(_position(record), None)
        return outcomes

    def _parse(self, record: Record) -> _Parsed | _Reject | Outcome:
        try:
            envelope = self._identify(
                record.topic, parse_record(record.headers, record.key, record.value)
            )
            route = self._routes.get(envelope.type)
            if route is None:
                if self._unknown_is_poison:
                    raise PoisonRecord("unknown_type", f"{envelope.type!r} is not handled here")
                return Outcome.IGNORED
            return _Parsed(route, envelope, route.model.model_validate(envelope.data), record)
        except PoisonRecord as poison:
            return _Reject(poison.reason, poison.error)
        except ValidationError as exc:
            return _Reject("invalid_data", _brief(exc))

    async def _apply_batch(
        self, records: Sequence[Record], parsed: Sequence[_Parsed | _Reject | Outcome]
    ) -> tuple[list[Outcome], dict[int, _Reject]]:
        """Apply the batch in one unit of work, optimistically: without savepoints (two round
        trips a record) while every record succeeds. When one fails, that unit is rolled back
        and the batch applied again with a savepoint per record, so the failure undoes only
        its own record."""
        try:
            return await self._apply_all(records, parsed, isolated=False)
        except _Isolate:
            return await self._apply_all(records, parsed, isolated=True)

    async def _apply_all(
        self,
        records: Sequence[Record],
        parsed: Sequence[_Parsed | _Reject | Outcome],
        *,
        isolated: bool,
    ) -> tuple[list[Outcome], dict[int, _Reject]]:
        """Outcomes start as RETRY: a record skipped because an earlier one on its partition
        must be retried stays so."""
        outcomes = [Outcome.RETRY] * len(records)
        rejects: dict[int, _Reject] = {}
        held: set[tuple[str, int]] = set()  # partitions waiting on a record to retry
        async with self._unit_of_work() as uow:
            # Optimistically every record is applied or none is (see _apply_plain), so the
            # whole batch's inbox rows can be claimed in one round trip.
            fresh = None if isolated else await self._claim_batch(uow, parsed)
            for i, (record, item) in enumerate(zip(records, parsed, strict=True)):
                if (record.topic, record.partition) in held:
                    continue
                if not isinstance(item, _Parsed):
                    result = item
                elif fresh is None:
                    result = await self._apply_isolated(uow, record, item)
                else:
                    result = await self._apply_plain(uow, item, fresh)
                if isinstance(result, _Reject):
                    rejects[i], result = result, Outcome.DEAD_LETTERED
                elif result is Outcome.RETRY:
                    held.add((record.topic, record.partition))
                outcomes[i] = result
        return outcomes, rejects

    async def _claim_batch(
        self, uow: U, parsed: Sequence[_Parsed | _Reject | Outcome]
    ) -> set[UUID]:
        """The inbox claims of every record to apply: the ids seen for the first time."""
        return await uow.claim_all(
            self.name, [item.envelope.id for item in parsed if isinstance(item, _Parsed)]
        )

    async def _apply_plain(self, uow: U, item: _Parsed, fresh: set[UUID]) -> Outcome:
        """One record, no savepoint, its inbox row claimed with the batch's (`fresh`): any
        failure but a transient one (which fails the batch anyway) sends the whole batch to be
        applied again, isolated."""
        try:
            return await self._claim_and_apply(uow, item, fresh)
        except Exception as exc:
            if is_transient(exc):
                raise
            raise _Isolate from exc

    async def _apply_isolated(self, uow: U, record: Record, item: _Parsed) -> Outcome | _Reject:
        """One record under its own savepoint. A transient failure propagates: the batch's
        transaction is lost with it, and the whole batch is retried."""
        try:
            async with uow.savepoint():
                return await self._claim_and_apply(uow, item)
        except PoisonRecord as refused:  # the use case refused it: its savepoint undone
            return _Reject(refused.reason, refused.error)
        except Exception as exc:
            if is_transient(exc):
                raise
            return self._count_failure(record, exc)

    def _count_failure(self, record: Record, exc: Exception) -> Outcome | _Reject:
        position = _position(record)
        failures = self._fail(position)
        if failures > self._retry.max_failures:
            log.error(
                "%s: giving up on %s after %d failures", self.name, position, failures, exc_info=exc
            )
            return _Reject("processing_failed", repr(exc))
        log.warning("%s: %s failed (%r), retry %d", self.name, position, exc, failures)
        return Outcome.RETRY

    async def _dead_letter_or_retry(self, record: Record, reject: _Reject) -> Outcome:
        try:
            return await self._dead_letter(record, reject.reason, reject.error)
        except Exception as exc:  # noqa: BLE001 - the broker is down: read it again later
            log.warning("%s: dead-lettering %s failed (%r)", self.name, _position(record), exc)
            self._fail(_position(record))
            return Outcome.RETRY

    async def _retry_all(self, records: Sequence[Record], exc: Exception) -> list[Outcome]:
        first = _position(records[0])
        failures = self._fail(first)
        delay = self._retry.delay(failures)
        log.warning("%s: batch at %s failed (%r), retry in %.1fs", self.name, first, exc, delay)
        await asyncio.sleep(delay)
        return [Outcome.RETRY] * len(records)

    async def _one_by_one(self, records: Sequence[Record]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        held: set[tuple[str, int]] = set()
        for record in records:
            partition = (record.topic, record.partition)
            outcome = Outcome.RETRY if partition in held else await self._process(record)
            if outcome is Outcome.RETRY:
                held.add(partition)
            outcomes.append(outcome)
        return outcomes

    def _most_failures(self, records: Sequence[Record]) -> int:
        return max((self._failures.get(_position(r), 1) for r in records), default=1)

    async def process(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        """Handle one record in a unit of its own (a batch's fallback, and tests)."""
        outcome = await self._process(record)
        RECORDS.labels(self.name, outcome.value).inc()
        return outcome

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        position = _position(record)
        try:
            outcome = await self._parse_and_apply(record)
        except Exception as exc:  # noqa: BLE001 - sorted into transient / poison / bug below
            outcome = await self._on_failure(record, position, exc)
        if outcome is not Outcome.RETRY:
            self._failures.pop(position, None)  # done with this record, one way or another
        return outcome

    async def _parse_and_apply(self, record: ConsumerRecord[bytes, bytes]) -> Outcome:
        item = self._parse(record)
        if isinstance(item, Outcome):
            return item
        if isinstance(item, _Reject):
            return await self._dead_letter(record, item.reason, item.error)
        try:
            async with self._unit_of_work() as uow:
                return await self._claim_and_apply(uow, item)
        except PoisonRecord as refused:  # the use case refused it: rolled back, nothing changed
            return await self._dead_letter(record, refused.reason, refused.error)

    def _identify(self, topic: str, envelope: Envelope) -> Envelope:
        if self._tenant_pattern is None:
            return envelope
        tenant = topics.tenant_of(topic, self._tenant_pattern)
        if tenant is None:
            raise PoisonRecord("unknown_tenant", f"{topic!r} is not a tenant topic")
        return dataclasses.replace(envelope, tenant=tenant)

    async def _claim_and_apply(
        self, uow: U, item: _Parsed, fresh: set[UUID] | None = None
    ) -> Outcome:
        """Apply the record unless the inbox has it: claimed here, or, given `fresh` (the
        batch's claims), found there; taken out of it, so an id twice in a batch is applied
        once."""
        # The record's span, child of the context it carries: what the use case writes to the
        # outbox carries this span's context on (shared.telemetry). Its log lines name it.
        with (
            self._span(item),
            log_context(ce_id=str(item.envelope.id), request_id=item.envelope.subject),
        ):
            if fresh is None:
                claimed = await uow.claim(self.name, item.envelope.id)
            else:
                claimed = item.envelope.id in fresh
                fresh.discard(item.envelope.id)
            if not claimed:
                return Outcome.DUPLICATE
            await item.route.apply(uow, item.envelope, item.data)
            return Outcome.APPLIED

    def _span(self, item: _Parsed) -> contextlib.AbstractContextManager[None]:
        if not telemetry.active():
            return contextlib.nullcontext()
        record = item.record
        attributes: dict[str, str | int] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "messaging.message.id": str(item.envelope.id),
            "cloudevents.event_type": item.envelope.type,
            "stax.consumer": self.name,
        }
        return telemetry.consuming(record.headers, topic=record.topic, attributes=attributes)

    def _fail(self, position: tuple[str, int, int]) -> int:
        """Count one more failure of the record at `position`; how many it has had."""
        failures = self._failures[position] = self._failures.get(position, 0) + 1
        return failures

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], reason: str, error: str
    ) -> Outcome:
        await self._dead_letters.send(record, reason, error)
        return Outcome.DEAD_LETTERED

    async def _on_failure(
        self, record: ConsumerRecord[bytes, bytes], position: tuple[str, int, int], exc: Exception
    ) -> Outcome:
        failures = self._fail(position)
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
    commits: PacedCommits | None = None,
    fetching: Fetching = AT_ONCE,
) -> None:
    """Subscribe `consumer` to a topic (or to every topic matching `pattern`, found as they are
    created) with manual acks and with FastStream's own decoding disarmed; its offsets are
    committed by `commits` (by default, paced at shared.offsets.COMMIT_INTERVAL_S)."""
    commits = commits or PacedCommits()
    _batch_subscriber(
        broker,
        [topic] if topic else [],
        pattern=pattern,
        group_id=group_id,
        title=consumer.name,
        description=f"{description}. Handles: {', '.join(consumer.handled_types)}",
        commits=commits,
        fetching=fetching,
    )(_batch_handler(broker, group_id, consumer.process_batch, commits))


class SharedSubscription:
    """Several topics read by one Kafka consumer: one fetch and one offset commit serve them
    all, and each topic's records go to its own ReliableConsumer (its own inbox name, routes and
    transaction). Fewer consumers mean fewer requests for the broker to serve, and a smaller
    group to rebalance; the price is that the topics share one loop."""

    def __init__(self, consumers: Mapping[str, ReliableConsumer[Any]]) -> None:
        self._consumers = dict(consumers)

    async def process_batch(self, records: Sequence[Record]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        by_topic: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            by_topic.setdefault(record.topic, []).append(i)
        for topic, indexes in by_topic.items():
            done = await self._consumers[topic].process_batch([records[i] for i in indexes])
            outcomes.update(zip(indexes, done, strict=True))
        return [outcomes[i] for i in range(len(records))]


def subscribe_together(
    broker: KafkaBroker,
    consumers: Mapping[str, ReliableConsumer[Any]],
    *,
    group_id: str,
    description: str,
    fetching: Fetching = AT_ONCE,
) -> None:
    """Subscribe one Kafka consumer to every topic of `consumers` (topic → its consumer), as
    `subscribe_reliably` does for one."""
    handled = sorted({t for c in consumers.values() for t in c.handled_types})
    _batch_subscriber(
        broker,
        list(consumers),
        pattern=None,
        group_id=group_id,
        title=" + ".join(c.name for c in consumers.values()),
        description=f"{description}. Handles: {', '.join(handled)}",
        commits=(commits := PacedCommits()),
        fetching=fetching,
    )(_batch_handler(broker, group_id, SharedSubscription(consumers).process_batch, commits))


def _batch_subscriber(
    broker: KafkaBroker,
    topics: Sequence[str],
    *,
    pattern: str | None,
    group_id: str,
    title: str,
    description: str,
    commits: PacedCommits,
    fetching: Fetching,
) -> Callable[[Callable[[], Awaitable[None]]], Any]:
    """A batch subscriber with manual acks, read from the earliest offset when the group is
    new, and with FastStream's own decoding disarmed (the consumers parse the raw records)."""
    return broker.subscriber(
        *topics,
        pattern=pattern,
        group_id=group_id,
        auto_offset_reset="earliest",
        batch=True,
        max_records=BATCH_RECORDS,
        batch_timeout_ms=BATCH_WAIT_MS,
        fetch_max_wait_ms=fetching.max_wait_ms,
        fetch_min_bytes=fetching.min_bytes,
        heartbeat_interval_ms=HEARTBEAT_MS,
        parser=_tolerant_parser,
        decoder=_raw_body,
        title=title,
        description=description,
        listener=_OnRebalance(group_id, commits),
    )


ProcessBatch = Callable[[Sequence[Record]], Awaitable[list[Outcome]]]


def _batch_handler(
    broker: KafkaBroker, group: str, process: ProcessBatch, commits: PacedCommits
) -> Callable[[], Awaitable[None]]:
    """FastStream's entry point for one subscription of consumer group `group`."""

    async def on_batch() -> None:
        """A batch subscriber, AckPolicy.MANUAL: partitions with a record to retry are rewound
        to it, then the consumer's positions are committed (paced)."""
        # The message from FastStream's context, not as a parameter: FastStream resolves such a
        # parameter in a worker thread, for every batch (150 µs of CPU a batch, measured).
        msg: KafkaMessage | None = broker.context.get_local("message")
        if msg is None:
            raise RuntimeError("FastStream called the batch handler without its message")
        records: tuple[Record, ...] = msg.raw_message
        await _settle(msg, records, await process(records), group, commits)

    return on_batch


async def _settle(
    msg: KafkaMessage,
    records: Sequence[Record],
    outcomes: list[Outcome],
    group: str,
    commits: PacedCommits,
) -> None:
    """Rewind each partition with a record to retry to that record, then commit the batch's
    positions, past it or at the rewind: at once after a rewind, else paced."""
    rewinds = rewind_points(records, outcomes)
    for partition, offset in rewinds.items():
        msg.consumer.seek(partition, offset)
    positions = committed_positions(records, rewinds)
    if isinstance(msg.consumer, AIOKafkaConsumer):
        await commits.settled(msg.consumer, positions, now=bool(rewinds))
    else:
        await msg.ack()  # FastStream's stand-in consumer (a test broker) commits as it knows
    _measure_lag(msg.consumer, group, positions)


def committed_positions(
    records: Sequence[Record], rewinds: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """Where `_settle` leaves each partition of the batch: at its rewind, else past its last
    record (a position is the offset of the next record to read)."""
    positions: dict[TopicPartition, int] = {}
    for record in records:
        partition = TopicPartition(record.topic, record.partition)
        positions[partition] = max(positions.get(partition, 0), record.offset + 1)
    return positions | dict(rewinds)


def _measure_lag(consumer: object, group: str, positions: Mapping[TopicPartition, int]) -> None:
    """Lag = the log end (the latest high-water mark the consumer's fetches brought) minus the
    position just committed, for each partition of the batch this consumer still holds."""
    if not isinstance(consumer, AIOKafkaConsumer):
        return  # FastStream's stand-in consumer (a test broker) knows no log end
    held = consumer.assignment()
    for partition, position in positions.items():
        end = consumer.highwater(partition) if partition in held else None
        if end is not None:
            lag = CONSUMER_LAG.labels(group, partition.topic, str(partition.partition))
            lag.set(max(0, end - position))


class _OnRebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Partitions taken away: what was settled on them is committed first, so their next owner
    starts after it; and they are that owner's to report: left here, their last lag would stay
    on as if they were still behind (or not) in this process."""

    def __init__(self, group: str, commits: PacedCommits) -> None:
        self._group = group
        self._commits = commits

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._commits.revoked(revoked)
        for partition in revoked:
            CONSUMER_LAG.remove(self._group, partition.topic, str(partition.partition))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Nothing to report before a partition's first batch."""


def rewind_points(
    records: Sequence[Record], outcomes: Sequence[Outcome]
) -> dict[TopicPartition, int]:
    """Where each partition with a record to retry must be read again: its first such record."""
    points: dict[TopicPartition, int] = {}
    for record, outcome in zip(records, outcomes, strict=True):
        partition = TopicPartition(record.topic, record.partition)
        if outcome is Outcome.RETRY and record.offset < points.get(partition, record.offset + 1):
            points[partition] = record.offset
    return points


def _position(record: Record) -> tuple[str, int, int]:
    return (record.topic, record.partition, record.offset)


async def _raw_body(msg: KafkaMessage, _original: Any) -> bytes:
    # FastStream JSON-decodes every body before calling the handler; on garbage that raises
    # outside our code and the record would be skipped without a trace. ReliableConsumer parses
    # the raw records itself and dead-letters what it cannot read.
    return b""


async def _tolerant_parser(
    records: tuple[Record, ...],
    original: Callable[[tuple[Record, ...]], Awaitable[KafkaMessage]],
) -> KafkaMessage:
    """FastStream decodes header values strictly; a foreign producer's non-UTF-8 (or null)
    header would raise before our code runs. Parse cleaned copies, but hand our consumer the
    original records, which it then dead-letters with their real bytes."""
    try:
        return await original(records)
    except (UnicodeDecodeError, AttributeError):
        cleaned = tuple(
            dataclasses.replace(
                r,
                headers=tuple(
                    (k, (v or b"").decode("utf-8", "replace").encode()) for k, v in r.headers
                ),
            )
            for r in records
        )
        message = await original(cleaned)
        message.raw_message = records
        return message


def _brief(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())[:2000]
