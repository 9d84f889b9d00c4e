"""shared.consuming on the real PostgreSQL and Kafka: redelivery, poison, transient errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY

from deploy.local.harness import Outages
from services.matcher.domain import MatchPolicy
from services.matcher.handlers import requests as matcher_requests
from services.matcher.handlers.catalog import Catalog
from services.matcher.handlers.saga import Matching
from services.matcher.unit_of_work import MatcherUnitOfWork, pg_units
from shared import topics
from shared.consuming import (
    Fetching,
    Outcome,
    ReliableConsumer,
    RetryPolicy,
    Route,
    subscribe_reliably,
)
from shared.envelope import Envelope, PoisonRecord, build_record
from shared.events import AssignmentResponse, Contact, Eligibility, RequestAccepted
from shared.kafka import DeadLetters, ensure_topics, make_broker
from shared.kafka_access import KafkaAccess
from shared.offsets import PacedCommits
from shared.uow import PgUnitOfWork
from tests.kafka_helpers import collect, header

FAST = RetryPolicy(base_seconds=0.01, max_seconds=0.05, max_failures=2)

# Several tests count the offers the real matcher makes: partners must have room. The offers
# are not relayed, and are marked published when the module ends (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("idle_partners")


def _accepted(request_id: UUID) -> RequestAccepted:
    return RequestAccepted(
        external_ref="ref",
        party="SEN",
        title="t",
        description="d",
        topics=["PCB"],
        assistance_types=["training"],
        languages=["fr"],
        contact=Contact(name="n", email="n@example.org", organisation="o"),
        request_id=request_id,
        submitter="test",
        region="AFR",
        eligibility=Eligibility(developing=True, economy_in_transition=False, ldc=True, sids=False),
        accepted_at=datetime.now(UTC),
    )


def _consumer_record(
    topic: str, offset: int, key: bytes, headers: dict[str, str], value: bytes
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        topic=topic,
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=value,
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=len(value),
        headers=tuple((k, v.encode()) for k, v in headers.items()),
    )


class NoDeadLetters:
    async def send(self, record: object, reason: str, error: str) -> None:
        raise AssertionError(f"unexpected dead letter: {reason}: {error}")


def _matcher_consumer(pool: asyncpg.Pool, name: str) -> ReliableConsumer[MatcherUnitOfWork]:
    catalog = Catalog.from_data_files()

    async def apply(uow: MatcherUnitOfWork, envelope: Envelope, event: RequestAccepted) -> None:
        await matcher_requests.on_request_accepted(
            uow,
            envelope,
            event,
            matching=Matching(
                catalog, MatchPolicy(), lambda: datetime.now(UTC), timedelta(days=5), timedelta(30)
            ),
        )

    return ReliableConsumer(
        name=name,
        unit_of_work=pg_units(pool),
        routes={RequestAccepted.ce_type: Route(RequestAccepted, apply)},
        dead_letters=NoDeadLetters(),
        retry=FAST,
    )


async def test_a_redelivered_event_changes_nothing(pool: asyncpg.Pool, unique: str) -> None:
    request_id = uuid4()
    out = build_record(_accepted(request_id), source="/stax/intake", subject=str(request_id))
    record = _consumer_record(topics.REQUESTS, 1, out.key, out.headers, out.value)
    consumer = _matcher_consumer(pool, f"test.{unique}")

    assert await consumer.process(record) is Outcome.APPLIED
    assert await consumer.process(record) is Outcome.DUPLICATE

    offers = await pool.fetchval(
        "SELECT count(*) FROM matcher.assignments WHERE request_id = $1", request_id
    )
    queued = await pool.fetchval(
        "SELECT count(*) FROM matcher.outbox WHERE key = $1", str(request_id).encode()
    )
    assert offers >= 1 and queued == offers  # one event per offer; the redelivery added none


async def test_a_transient_failure_is_retried_never_dead_lettered(
    pool: asyncpg.Pool, unique: str
) -> None:
    attempts: list[int] = []

    async def flaky(uow: PgUnitOfWork, envelope: Envelope, event: AssignmentResponse) -> None:
        attempts.append(1)
        if len(attempts) <= 4:  # more than max_failures: transient errors are not counted
            raise asyncpg.exceptions.ConnectionDoesNotExistError("database went away")

    consumer = ReliableConsumer(
        name=f"test.{unique}",
        unit_of_work=lambda: PgUnitOfWork(pool, "matcher"),
        dead_letters=NoDeadLetters(),
        routes={AssignmentResponse.ce_type: Route(AssignmentResponse, flaky)},
        retry=FAST,
    )
    event = AssignmentResponse(assignment_id=uuid4(), partner_id="p", decision="accept")
    out = build_record(event, source="/test", subject="r")
    record = _consumer_record("t", 7, out.key, out.headers, out.value)

    outcomes = [await consumer.process(record) for _ in range(5)]
    assert outcomes == [Outcome.RETRY] * 4 + [Outcome.APPLIED]


async def test_a_handler_that_keeps_failing_is_dead_lettered_after_the_limit(
    pool: asyncpg.Pool, unique: str
) -> None:
    sent: list[str] = []

    class Recorder:
        async def send(self, record: object, reason: str, error: str) -> None:
            sent.append(reason)

    async def buggy(uow: PgUnitOfWork, envelope: Envelope, event: AssignmentResponse) -> None:
        raise KeyError("a bug")

    consumer = ReliableConsumer(
        name=f"test.{unique}",
        unit_of_work=lambda: PgUnitOfWork(pool, "matcher"),
        dead_letters=Recorder(),
        routes={AssignmentResponse.ce_type: Route(AssignmentResponse, buggy)},
        retry=FAST,
    )
    out = build_record(
        AssignmentResponse(assignment_id=uuid4(), partner_id="p", decision="accept"),
        source="/test",
        subject="r",
    )
    record = _consumer_record("t", 3, out.key, out.headers, out.value)
    outcomes = [await consumer.process(record) for _ in range(3)]
    assert outcomes == [Outcome.RETRY, Outcome.RETRY, Outcome.DEAD_LETTERED]
    assert sent == ["processing_failed"]


async def test_in_a_batch_a_refused_record_undoes_only_its_own_savepoint(
    pool: asyncpg.Pool, unique: str
) -> None:
    """One transaction for the batch on the real PostgreSQL: the refused record's outbox row
    goes with its savepoint, its neighbours' rows are committed."""
    dead: list[str] = []

    class Recorder:
        async def send(self, record: object, reason: str, error: str) -> None:
            dead.append(reason)

    async def queue_then_decide(
        uow: PgUnitOfWork, envelope: Envelope, event: AssignmentResponse
    ) -> None:
        await uow.emit(
            [build_record(event, source="/test", subject=f"{unique}-{event.partner_id}")]
        )
        if event.partner_id == "refused":
            raise PoisonRecord("refused", "no")

    consumer = ReliableConsumer(
        name=f"test.{unique}",
        unit_of_work=lambda: PgUnitOfWork(pool, "matcher"),
        dead_letters=Recorder(),
        routes={AssignmentResponse.ce_type: Route(AssignmentResponse, queue_then_decide)},
        retry=FAST,
    )
    batch = []
    for offset, partner in enumerate(["a", "refused", "b"]):
        out = build_record(
            AssignmentResponse(assignment_id=uuid4(), partner_id=partner, decision="accept"),
            source="/test",
            subject="r",
        )
        batch.append(_consumer_record("t", offset, out.key, out.headers, out.value))

    outcomes = await consumer.process_batch(batch)

    assert outcomes == [Outcome.APPLIED, Outcome.DEAD_LETTERED, Outcome.APPLIED]
    keys = await pool.fetch(
        "SELECT convert_from(key, 'UTF8') AS k FROM matcher.outbox WHERE key LIKE $1 ORDER BY id",
        f"{unique}-%".encode(),
    )
    assert [r["k"] for r in keys] == [f"{unique}-a", f"{unique}-b"]
    assert dead == ["refused"]


# ------------------------------------------------------------------ through the real broker


@pytest.fixture
async def running(
    pool: asyncpg.Pool, kafka: KafkaAccess, unique: str
) -> AsyncIterator[tuple[KafkaBroker, str, str]]:
    """A FastStream broker with matcher's request handling on a fresh topic and group."""
    topic = f"test.requests.{unique}"
    await ensure_topics(kafka, {topic: 1})
    broker = make_broker(kafka, service="test-consumer")
    consumer = _matcher_consumer(pool, f"test.{unique}")
    consumer._dead_letters = DeadLetters(broker, "test-consumer")
    subscribe_reliably(broker, consumer, topic, group_id=f"test-{unique}", description="test")
    await broker.start()
    yield broker, topic, unique
    await broker.stop()


def _dead_lettered(reason: str) -> float:
    labels = {"service": "test-consumer", "reason": reason}
    return REGISTRY.get_sample_value("stax_dead_lettered_total", labels) or 0.0


async def test_garbage_records_are_dead_lettered_and_the_next_good_one_still_processed(
    pool: asyncpg.Pool, kafka: KafkaAccess, running: tuple[KafkaBroker, str, str]
) -> None:
    _, topic, unique = running
    counted_before = {r: _dead_lettered(r) for r in ("not_json", "bad_encoding")}
    request_id = uuid4()
    good = build_record(_accepted(request_id), source="/stax/intake", subject=str(request_id))
    good_headers = [(k, v.encode()) for k, v in good.headers.items()]
    producer = AIOKafkaProducer(**kafka.aiokafka(), enable_idempotence=True)
    await producer.start()
    try:  # a foreign producer: raw bytes, not our envelope
        await producer.send_and_wait(  # an envelope around a value that is not JSON
            topic, b"\x00 definitely not an event", key=b"garbage", headers=good_headers
        )
        await producer.send_and_wait(  # no CloudEvents headers at all
            topic, b"{}", key=b"bare", headers=[("content-type", b"application/json")]
        )
        await producer.send_and_wait(
            topic, good.value, key=b"bad-header", headers=[*good_headers, ("x-origin", b"\xff\xfe")]
        )
        await producer.send_and_wait(topic, good.value, key=good.key, headers=good_headers)
    finally:
        await producer.stop()

    dead = await collect(
        kafka,
        topics.DEADLETTER,
        until=lambda rs: len(rs) >= 3,
        matching=lambda r: header(r, "x-dlq-topic") == topic,
        wait=30,
    )
    assert [(d.key, header(d, "x-dlq-reason"), header(d, "x-dlq-offset")) for d in dead] == [
        (b"garbage", "not_json", "0"),
        (b"bare", "not_a_cloudevent", "1"),
        (b"bad-header", "bad_encoding", "2"),
    ]
    assert dead[0].value == b"\x00 definitely not an event"
    assert all(header(d, "x-dlq-partition") == "0" for d in dead)
    assert all(header(d, "x-dlq-service") == "test-consumer" for d in dead)
    assert all(header(d, "x-dlq-error") for d in dead)

    for _ in range(100):
        if await pool.fetchval(
            "SELECT count(*) FROM matcher.assignments WHERE request_id = $1", request_id
        ):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the good record after the garbage ones was never processed")
    # Counted by the service that sent them and why; and the partition read to its end (the
    # offset is committed after the record's transaction, so the lag may lag a little).
    assert {r: _dead_lettered(r) - n for r, n in counted_before.items()} == {
        "not_json": 1,
        "bad_encoding": 1,
    }
    lag = {"group": f"test-{unique}", "topic": topic, "partition": "0"}
    for _ in range(50):
        if REGISTRY.get_sample_value("stax_consumer_lag", lag) == 0:
            break
        await asyncio.sleep(0.1)
    assert REGISTRY.get_sample_value("stax_consumer_lag", lag) == 0


async def test_records_wait_out_a_database_restart_and_are_not_dead_lettered(
    pool: asyncpg.Pool,
    kafka: KafkaAccess,
    outages: Outages,
    running: tuple[KafkaBroker, str, str],
) -> None:
    broker, topic, unique = running
    request_id = uuid4()
    good = build_record(_accepted(request_id), source="/stax/intake", subject=str(request_id))

    lag = {"group": f"test-{unique}", "topic": topic, "partition": "0"}
    await asyncio.to_thread(outages.stop_postgres)
    try:
        await broker.publish(good.value, topic=topic, key=good.key, headers=good.headers)
        await asyncio.sleep(2.0)  # the consumer meets a dead database, backs off, retries
        for _ in range(100):  # rewound to the record each time: one record behind the log end
            if REGISTRY.get_sample_value("stax_consumer_lag", lag) == 1:
                break
            await asyncio.sleep(0.1)
        assert REGISTRY.get_sample_value("stax_consumer_lag", lag) == 1
    finally:
        await asyncio.to_thread(outages.start_postgres)

    for _ in range(300):
        with contextlib.suppress(asyncpg.PostgresConnectionError, OSError):
            if await pool.fetchval(
                "SELECT count(*) FROM matcher.assignments WHERE request_id = $1", request_id
            ):
                break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the record was not processed after the database came back")
    dead = await collect(
        kafka,
        topics.DEADLETTER,
        until=lambda rs: False,
        matching=lambda r: header(r, "x-dlq-topic") == topic,
        wait=2,
    )
    assert dead == []
    retries = REGISTRY.get_sample_value(
        "stax_consumed_records_total", {"consumer": f"test.{unique}", "outcome": "retry"}
    )
    assert retries is not None and retries > 0  # it really met the outage


async def test_batches_share_a_paced_commit_and_the_last_is_committed_when_none_follows(
    pool: asyncpg.Pool, kafka: KafkaAccess, unique: str
) -> None:
    """shared.offsets: a batch settled soon after a commit waits for the interval (committed
    after its transaction, never before), and a timer commits it when no batch follows."""
    topic, group_id = f"test.paced.{unique}", f"test-{unique}"
    await ensure_topics(kafka, {topic: 1})
    broker = make_broker(kafka, service="test-consumer")
    consumer = _matcher_consumer(pool, f"test.{unique}")
    paced = PacedCommits(interval_s=3.0)
    subscribe_reliably(broker, consumer, topic, group_id=group_id, description="t", commits=paced)
    group = AIOKafkaConsumer(**kafka.aiokafka(), group_id=group_id)
    partition = TopicPartition(topic, 0)

    async def send_and_apply(*request_ids: UUID) -> None:
        for rid in request_ids:
            made = build_record(_accepted(rid), source="/stax/intake", subject=str(rid))
            await broker.publish(made.value, topic=topic, key=made.key, headers=made.headers)
        await _applied(pool, request_ids)

    async def committed_within(seconds: float, offset: int) -> bool:
        for _ in range(int(seconds * 10)):
            if await group.committed(partition) == offset:
                return True
            await asyncio.sleep(0.1)
        return False

    await broker.start()
    await group.start()
    try:
        await send_and_apply(uuid4())
        assert await committed_within(2.0, 1)  # the first batch: committed at once
        await send_and_apply(uuid4(), uuid4())
        assert await group.committed(partition) == 1  # applied, its commit not due yet
        assert await committed_within(6.0, 3)  # the timer's commit, with no batch after
    finally:
        await group.stop()
        await broker.stop()


async def _applied(pool: asyncpg.Pool, request_ids: Sequence[UUID]) -> None:
    for _ in range(100):
        if await pool.fetchval(
            "SELECT count(DISTINCT request_id) FROM matcher.assignments WHERE request_id = ANY($1)",
            list(request_ids),
        ) == len(request_ids):
            return
        await asyncio.sleep(0.1)
    pytest.fail("the records were not applied")


async def test_a_gathering_subscription_takes_a_burst_in_few_batches_and_a_lone_record_too(
    pool: asyncpg.Pool, kafka: KafkaAccess, unique: str
) -> None:
    """Fetching.gathering: Kafka holds the fetch, so a burst published one record at a time
    arrives in one or two batches (answered at once, it comes a record or two a batch); and a
    record alone, far below the bytes that end the wait early, is still taken after the wait."""
    topic = f"test.gathering.{unique}"
    await ensure_topics(kafka, {topic: 1})
    broker = make_broker(kafka, service="test-consumer")
    consumer = _matcher_consumer(pool, f"test.{unique}")
    sizes: list[int] = []
    process = consumer.process_batch

    async def counted(records: Sequence[ConsumerRecord[bytes, bytes]]) -> list[Outcome]:
        sizes.append(len(records))
        return await process(records)

    consumer.process_batch = counted  # type: ignore[method-assign]
    subscribe_reliably(
        broker,
        consumer,
        topic,
        group_id=f"test-{unique}",
        description="t",
        fetching=Fetching.gathering(400),
    )

    async def send(request_ids: Sequence[UUID]) -> None:
        for rid in request_ids:  # one at a time, each acknowledged before the next
            made = build_record(_accepted(rid), source="/stax/intake", subject=str(rid))
            await broker.publish(made.value, topic=topic, key=made.key, headers=made.headers)

    await broker.start()
    try:
        lone = [uuid4()]
        await send(lone)
        await _applied(pool, lone)
        assert sizes == [1]
        burst = [uuid4() for _ in range(12)]
        await send(burst)
        await _applied(pool, burst)
        assert sum(sizes[1:]) == 12
        assert len(sizes[1:]) <= 2, sizes
    finally:
        await broker.stop()
