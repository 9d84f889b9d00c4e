"""shared.consuming's batches, on the in-memory unit of work: one unit per batch, a savepoint per
record, partitions held behind a record to retry, and where each partition is read again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, TypeAlias
from uuid import uuid4

import asyncpg
import fast_depends.utils
import pytest
from aiokafka import ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker, TestKafkaBroker

from shared.consuming import (
    AT_ONCE,
    GATHER_BYTES,
    Apply,
    Fetching,
    Outcome,
    ReliableConsumer,
    RetryPolicy,
    Route,
    SharedSubscription,
    committed_positions,
    rewind_points,
    subscribe_reliably,
)
from shared.envelope import Envelope, PoisonRecord, build_record
from shared.events import AssignmentResponse
from shared.uow import FakeStore, FakeUnitOfWork
from tests.fuzz.strategies import Raw, consumer_record

FAST = RetryPolicy(base_seconds=0.001, max_seconds=0.002, max_failures=2)
Record: TypeAlias = "ConsumerRecord[bytes, bytes]"


def _record(partition: int, offset: int, partner: str, topic: str = "t") -> Record:
    """An AssignmentResponse whose partner id tells the test's use case what to do."""
    event = AssignmentResponse(assignment_id=uuid4(), partner_id=partner, decision="accept")
    out = build_record(event, source="/test", subject=partner)
    headers = [(k, v.encode()) for k, v in out.headers.items()]
    return consumer_record(Raw(out.value, out.key, list(headers), "test"), topic, offset, partition)


def _garbage(partition: int, offset: int) -> Record:
    return consumer_record(Raw(b"\x00 not json", b"k", [], "garbage"), "t", offset, partition)


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []
        self.down = False

    async def send(self, record: Record, reason: str, error: str) -> None:
        if self.down:
            raise ConnectionError("broker down")
        self.sent.append((record.offset, reason))


class Units:
    """A factory of fake units; `failing_commits` makes that many commits raise."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.opened = 0
        self.savepoints = 0
        self.failing_commits = 0

    def __call__(self) -> FakeUnitOfWork:
        self.opened += 1
        units = self

        class Unit(FakeUnitOfWork):
            @asynccontextmanager
            async def savepoint(self) -> AsyncIterator[None]:
                units.savepoints += 1
                async with super().savepoint():
                    yield

            async def __aexit__(
                self,
                exc_type: type[BaseException] | None,
                exc: BaseException | None,
                tb: TracebackType | None,
            ) -> None:
                if exc_type is None and units.failing_commits:
                    units.failing_commits -= 1
                    await super().__aexit__(RuntimeError, RuntimeError("commit"), None)
                    raise RuntimeError("the commit failed")
                await super().__aexit__(exc_type, exc, tb)

        return Unit(self.store)


async def _use_case(uow: FakeUnitOfWork, envelope: Envelope, event: AssignmentResponse) -> None:
    """Queues an event, then does what the partner id says: the queued event must vanish with
    the record whenever the record fails."""
    await uow.emit([build_record(event, source="/test", subject=event.partner_id)])
    if event.partner_id == "refused":
        raise PoisonRecord("refused", "the use case refused it")
    if event.partner_id == "buggy":
        raise KeyError("a bug")
    if event.partner_id == "db-down":
        raise asyncpg.exceptions.ConnectionDoesNotExistError("database went away")


def _counting(counted: list[str]) -> Apply[FakeUnitOfWork]:
    """The use case above, which first asks to count its record once its unit commits."""

    async def use_case(uow: FakeUnitOfWork, envelope: Envelope, event: AssignmentResponse) -> None:
        uow.after_commit(lambda: counted.append(event.partner_id))
        await _use_case(uow, envelope, event)

    return use_case


def _consumer(
    units: Units,
    dead: DeadLetters,
    name: str = "test.batch",
    use_case: Apply[FakeUnitOfWork] = _use_case,
) -> ReliableConsumer[FakeUnitOfWork]:
    return ReliableConsumer(
        name=name,
        unit_of_work=units,
        routes={AssignmentResponse.ce_type: Route(AssignmentResponse, use_case)},
        dead_letters=dead,
        retry=FAST,
    )


def _queued(store: FakeStore) -> list[bytes]:
    return [r.key for r in store.outbox]


async def test_one_unit_per_batch_and_a_refused_record_undoes_only_itself() -> None:
    store, dead = FakeStore(), DeadLetters()
    units = Units(store)
    batch = [_record(0, 1, "a"), _garbage(0, 2), _record(0, 3, "refused"), _record(1, 9, "b")]

    outcomes = await _consumer(units, dead).process_batch(batch)

    assert outcomes == [
        Outcome.APPLIED,
        Outcome.DEAD_LETTERED,
        Outcome.DEAD_LETTERED,
        Outcome.APPLIED,
    ]
    # Optimistic first (no savepoints), rolled back at the refusal, then a savepoint a record.
    assert (units.opened, store.rollbacks, store.commits, units.savepoints) == (2, 1, 1, 3)
    assert _queued(store) == [b"a", b"b"]  # the refused record's event went with its savepoint
    assert dead.sent == [(2, "not_a_cloudevent"), (3, "refused")]
    assert rewind_points(batch, outcomes) == {}


async def test_a_batch_that_fails_nowhere_is_one_unit_without_savepoints() -> None:
    store, dead = FakeStore(), DeadLetters()
    units = Units(store)
    batch = [_record(0, 1, "a"), _record(1, 1, "b"), _record(0, 2, "c")]

    assert await _consumer(units, dead).process_batch(batch) == [Outcome.APPLIED] * 3
    assert (units.opened, store.commits, units.savepoints) == (1, 1, 0)
    assert _queued(store) == [b"a", b"b", b"c"]


async def test_a_record_to_retry_holds_its_partition_and_no_other() -> None:
    store, dead = FakeStore(), DeadLetters()
    consumer = _consumer(Units(store), dead)
    batch = [_record(0, 5, "a"), _record(0, 6, "buggy"), _record(0, 7, "c"), _record(1, 2, "d")]

    outcomes = await consumer.process_batch(batch)

    assert outcomes == [Outcome.APPLIED, Outcome.RETRY, Outcome.RETRY, Outcome.APPLIED]
    assert _queued(store) == [b"a", b"d"]  # "c" waits behind the buggy record, in order
    assert rewind_points(batch, outcomes) == {TopicPartition("t", 0): 6}
    # What the lag is measured from: the rewind on partition 0, past the last record on 1.
    positions = committed_positions(batch, rewind_points(batch, outcomes))
    assert positions == {TopicPartition("t", 0): 6, TopicPartition("t", 1): 3}

    # Read again from the rewind point: retried until the limit, then dead-lettered, and the
    # record behind it is applied at last. The inbox makes re-reading "a" harmless anyway.
    again = batch[1:]
    assert await consumer.process_batch(again) == [Outcome.RETRY, Outcome.RETRY, Outcome.DUPLICATE]
    assert await consumer.process_batch(again) == [
        Outcome.DEAD_LETTERED,
        Outcome.APPLIED,
        Outcome.DUPLICATE,
    ]
    assert dead.sent == [(6, "processing_failed")]
    assert _queued(store) == [b"a", b"d", b"c"]


async def test_a_transient_failure_retries_the_whole_batch_and_keeps_nothing() -> None:
    store, dead = FakeStore(), DeadLetters()
    batch = [_record(0, 1, "a"), _record(1, 4, "db-down"), _record(1, 5, "b")]

    outcomes = await _consumer(Units(store), dead).process_batch(batch)

    assert outcomes == [Outcome.RETRY] * 3
    assert store.outbox == [] and store.inbox == set() and store.rollbacks == 1
    assert dead.sent == []  # never dead-lettered, however often
    assert rewind_points(batch, outcomes) == {
        TopicPartition("t", 0): 1,
        TopicPartition("t", 1): 4,
    }


async def test_a_batch_whose_commit_fails_is_replayed_one_record_at_a_time() -> None:
    store, dead = FakeStore(), DeadLetters()
    units = Units(store)
    units.failing_commits = 1
    batch = [_record(0, 1, "a"), _record(0, 2, "b"), _record(1, 3, "c")]

    outcomes = await _consumer(units, dead).process_batch(batch)

    assert outcomes == [Outcome.APPLIED] * 3
    assert units.opened == 1 + 3  # the failed batch, then a unit per record
    assert sorted(_queued(store)) == [b"a", b"b", b"c"]


async def test_a_dead_letter_that_cannot_be_sent_is_retried_not_lost() -> None:
    store, dead = FakeStore(), DeadLetters()
    dead.down = True
    consumer = _consumer(Units(store), dead)
    batch = [_garbage(0, 1), _record(0, 2, "a")]

    outcomes = await consumer.process_batch(batch)
    assert outcomes == [Outcome.RETRY, Outcome.APPLIED]
    assert rewind_points(batch, outcomes) == {TopicPartition("t", 0): 1}

    dead.down = False
    assert await consumer.process_batch(batch) == [Outcome.DEAD_LETTERED, Outcome.DUPLICATE]
    assert dead.sent == [(1, "not_a_cloudevent")]


async def test_a_shared_subscription_hands_each_topic_to_its_consumer_in_order() -> None:
    store, dead = FakeStore(), DeadLetters()
    units = Units(store)
    shared = SharedSubscription(
        {"a": _consumer(units, dead, "test.a"), "b": _consumer(units, dead, "test.b")}
    )
    batch = [
        _record(0, 1, "a1", topic="a"),
        _record(0, 1, "b1", topic="b"),
        _record(0, 2, "buggy", topic="a"),
        _record(0, 2, "b2", topic="b"),
    ]

    outcomes = await shared.process_batch(batch)

    assert outcomes == [Outcome.APPLIED, Outcome.APPLIED, Outcome.RETRY, Outcome.APPLIED]
    assert units.opened == 3  # a unit per topic's share, and "a" again, isolated, after the bug
    assert {name for name, _ in store.inbox} == {"test.a", "test.b"}
    assert rewind_points(batch, outcomes) == {TopicPartition("a", 0): 2}


async def test_what_a_batch_counts_is_counted_once_after_its_commit_however_often_applied() -> None:
    store, dead, counted = FakeStore(), DeadLetters(), list[str]()
    consumer = _consumer(Units(store), dead, use_case=_counting(counted))
    batch = [_record(0, 1, "a"), _record(0, 2, "refused"), _record(1, 1, "b")]

    # Applied optimistically (rolled back at the refusal), then a savepoint a record: the
    # refused record's count went with its savepoint, the first pass's with its unit.
    await consumer.process_batch(batch)
    assert counted == ["a", "b"]

    await consumer.process_batch(batch)  # read again: inbox duplicates count nothing
    assert counted == ["a", "b"]


async def test_a_batch_whose_commit_fails_counts_only_the_units_that_commit() -> None:
    store, dead, counted = FakeStore(), DeadLetters(), list[str]()
    units = Units(store)
    units.failing_commits = 1
    batch = [_record(0, 1, "a"), _record(1, 1, "b")]

    outcomes = await _consumer(units, dead, use_case=_counting(counted)).process_batch(batch)

    assert outcomes == [Outcome.APPLIED] * 2
    assert sorted(counted) == ["a", "b"]  # once each, by the units of the record-by-record replay


async def test_faststream_hands_a_batch_over_without_a_worker_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The handler reads its message from FastStream's context itself: a handler parameter for
    it would be resolved in a worker thread, for every batch (fast_depends' run_in_threadpool,
    150 µs of CPU a batch). FastStream's in-memory broker is enough to see that wiring."""
    threaded: list[object] = []
    real = fast_depends.utils.run_in_threadpool

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        threaded.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(fast_depends.utils, "run_in_threadpool", counted)
    store = FakeStore()
    broker = KafkaBroker()
    subscribe_reliably(
        broker, _consumer(Units(store), DeadLetters()), "t", group_id="g", description="test"
    )
    event = AssignmentResponse(assignment_id=uuid4(), partner_id="p1", decision="accept")
    out = build_record(event, source="/test", subject="p1")
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(out.value, topic="t", key=out.key, headers=out.headers)
    assert _queued(store) == [b"p1"]  # applied: the use case queued its event
    assert threaded == []


def test_gathering_waits_for_more_bytes_than_a_batch_holds_and_zero_does_not_gather() -> None:
    assert Fetching.gathering(20) == Fetching(max_wait_ms=20, min_bytes=GATHER_BYTES)
    assert GATHER_BYTES >= 64 * 1024  # so under load the wait, not the bytes, ends a fetch
    assert Fetching.gathering(0) == AT_ONCE == Fetching(max_wait_ms=500, min_bytes=1)
