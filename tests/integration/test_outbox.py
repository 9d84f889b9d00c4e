"""The transactional outbox on the real PostgreSQL and the real Kafka."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import asyncpg
import pytest
from faststream.kafka import KafkaBroker

from shared.envelope import OutgoingRecord, build_record
from shared.events import AssignmentResponse
from shared.kafka import ensure_topics, publish_all
from shared.kafka_access import KafkaAccess
from shared.outbox import Outbox, OutboxRelay
from tests.kafka_helpers import collect, header, settle

# A schema of the tests' own, shaped like every service's: a running intake (the session's
# in-process app) relays `intake.outbox` as its own principal, which may not write test topics.
OUTBOX = Outbox("outbox_test")


@pytest.fixture(scope="module", autouse=True)
async def _outbox_schema(pool: asyncpg.Pool) -> None:
    await pool.execute(
        "CREATE SCHEMA IF NOT EXISTS outbox_test; "
        "CREATE TABLE IF NOT EXISTS outbox_test.outbox (LIKE intake.outbox INCLUDING ALL)"
    )


@pytest.fixture
async def topic(kafka: KafkaAccess, unique: str) -> str:
    name = f"test.outbox.{unique}"
    await ensure_topics(kafka, {name: 3})
    return name


def _record(topic: str) -> OutgoingRecord:
    event = AssignmentResponse(assignment_id=uuid4(), partner_id="p", decision="accept")
    made = build_record(event, source="/test", subject=str(uuid4()))
    return OutgoingRecord(made.ce_id, topic, made.key, made.headers, made.value)


async def _relay_until_idle(pool: asyncpg.Pool, broker: KafkaBroker) -> None:
    relay = OutboxRelay(pool, OUTBOX, lambda rs: publish_all(broker, rs), batch_size=50)
    async with pool.acquire() as conn:
        while await relay.relay_batch(conn):
            pass


async def test_rolled_back_transaction_publishes_nothing_committed_one_exactly_once(
    pool: asyncpg.Pool, broker: KafkaBroker, kafka: KafkaAccess, topic: str
) -> None:
    kept, dropped = _record(topic), _record(topic)
    async with pool.acquire() as conn:
        async with conn.transaction():
            await OUTBOX.add(conn, [kept])
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await OUTBOX.add(conn, [dropped])
                raise RuntimeError("the state change failed")

    await _relay_until_idle(pool, broker)
    await _relay_until_idle(pool, broker)  # a second pass must not publish again

    records = await collect(kafka, topic, until=lambda rs: False, wait=4)
    ids = [header(r, "ce_id") for r in records]
    assert ids == [str(kept.ce_id)]
    assert records[0].key == kept.key


async def test_background_relay_is_woken_by_commit_and_keeps_order(
    pool: asyncpg.Pool, broker: KafkaBroker, kafka: KafkaAccess, topic: str
) -> None:
    relay = OutboxRelay(pool, OUTBOX, lambda rs: publish_all(broker, rs), poll_seconds=30)
    task = asyncio.create_task(relay.run())
    try:
        await settle(0.5)  # the relay is listening; with a 30 s poll only NOTIFY can wake it
        subject = str(uuid4()).encode()
        sent = [_record(topic) for _ in range(20)]
        sent = [OutgoingRecord(r.ce_id, r.topic, subject, r.headers, r.value) for r in sent]
        async with pool.acquire() as conn, conn.transaction():
            await OUTBOX.add(conn, sent)
        records = await collect(kafka, topic, until=lambda rs: len(rs) >= 20, wait=10)
    finally:
        task.cancel()
    assert [header(r, "ce_id") for r in records] == [str(r.ce_id) for r in sent]


async def test_only_one_relay_per_schema_leads(pool: asyncpg.Pool, broker: KafkaBroker) -> None:
    async def publish(records: object) -> None:
        return None

    first = OutboxRelay(pool, OUTBOX, publish, poll_seconds=0.1)
    second = OutboxRelay(pool, OUTBOX, publish, poll_seconds=0.1)
    leader = asyncio.create_task(first.run())
    await settle(0.5)
    try:
        async with pool.acquire() as conn:
            # The leader holds the schema's advisory lock, so a second relay backs off.
            held = await conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtext('stax.outbox.outbox_test'))"
            )
            assert held is False
        await asyncio.wait_for(second._lead(), timeout=2)  # returns at once: not the leader
    finally:
        leader.cancel()
