"""An outbox row that can never be published is set aside, and never blocks the rows behind it;
rows for a topic Kafka refuses wait without holding up other topics' (real PostgreSQL, real
Kafka)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import uuid4

import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError
from faststream.kafka import KafkaBroker
from prometheus_client import REGISTRY

from deploy.local import stack
from shared import topics
from shared.envelope import OutgoingRecord, build_record
from shared.events import AssignmentResponse
from shared.kafka import ensure_topics, make_broker, publish_all
from shared.kafka_access import KafkaAccess
from shared.kafka_acls import service_principal
from shared.outbox import KafkaRecord, Outbox, OutboxRelay
from shared.sampling import OutboxBacklog
from tests.kafka_helpers import Record, collect, header

ONE_AND_A_HALF_MB = 1_500_000


@pytest.fixture
async def outbox(pool: asyncpg.Pool, unique: str) -> Outbox:
    """A private outbox table shaped exactly like the services' (after their migrations)."""
    schema = f"quarantine_{unique}"
    async with pool.acquire() as conn:
        await conn.execute(f"CREATE SCHEMA {schema}")
        await conn.execute(f"CREATE TABLE {schema}.outbox (LIKE intake.outbox INCLUDING ALL)")
    return Outbox(schema)


@pytest.fixture
async def topic(kafka: KafkaAccess, unique: str) -> str:
    name = f"test.quarantine.{unique}"
    await ensure_topics(kafka, {name: 1})
    return name


def _record(topic: str, key: bytes, size: int = 0) -> OutgoingRecord:
    event = AssignmentResponse(assignment_id=uuid4(), partner_id="p", decision="decline")
    made = build_record(event, source="/test", subject=key.decode())
    # A reason far beyond the event's own bound: only a bug (or a row written by hand) could
    # queue such a record, which is what the quarantine is for.
    value = made.value.replace(b'"reason": ""', b'"reason": "' + b"r" * size + b'"')
    return OutgoingRecord(made.ce_id, topic, key, made.headers, value)


async def _queue(pool: asyncpg.Pool, outbox: Outbox, records: Sequence[OutgoingRecord]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, records)


async def _relay_until_idle(relay: OutboxRelay, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        for _ in range(10):  # bounded: a relay that keeps finding work is itself a failure
            if not await relay.relay_batch(conn):
                return
    raise AssertionError("the outbox never emptied")


def _quarantined(outbox: Outbox) -> float:
    value = REGISTRY.get_sample_value("stax_outbox_quarantined_total", {"schema": outbox.schema})
    return value or 0.0


def _sample(name: str, labels: dict[str, str]) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def _dead_letters_about(kafka: KafkaAccess, ce_id: str) -> list[Record]:
    return await collect(
        kafka,
        topics.DEADLETTER,
        matching=lambda r: header(r, "ce_id") == ce_id,
        until=lambda rs: len(rs) >= 1,
        wait=10,
    )


async def _rows(pool: asyncpg.Pool, outbox: Outbox) -> dict[str, asyncpg.Record]:
    rows = await pool.fetch(
        f"SELECT ce_id, published_at, quarantined_at, quarantine_reason FROM {outbox.schema}.outbox"
    )
    return {str(r["ce_id"]): r for r in rows}


async def _assert_sent_in_order_and_bad_one_set_aside(
    pool: asyncpg.Pool,
    kafka: KafkaAccess,
    outbox: Outbox,
    topic: str,
    sent: list[OutgoingRecord],
    bad: OutgoingRecord,
    reason: str,
) -> None:
    good = [r for r in sent if r is not bad]
    records = await collect(kafka, topic, until=lambda rs: False, wait=4)
    # Rows of the same request behind the bad one still go out, in their order. (Finding the bad
    # row may send a row twice: the same ce_id, which consumers' inboxes absorb.)
    first_seen = list(dict.fromkeys(header(r, "ce_id") for r in records))
    assert first_seen == [str(r.ce_id) for r in good]
    rows = await _rows(pool, outbox)
    assert rows[str(bad.ce_id)]["published_at"] is None
    assert rows[str(bad.ce_id)]["quarantined_at"] is not None
    assert reason in rows[str(bad.ce_id)]["quarantine_reason"]
    assert all(rows[str(r.ce_id)]["published_at"] is not None for r in good)

    [dead] = await _dead_letters_about(kafka, str(bad.ce_id))
    assert header(dead, "x-dlq-reason") == "outbox_quarantined"
    assert header(dead, "x-dlq-topic") == topic
    assert header(dead, "x-dlq-service") == outbox.schema
    assert reason in (header(dead, "x-dlq-error") or "")
    assert len(dead.value or b"") < 1024  # a report about the row, not its (huge) body


async def test_a_record_too_large_for_kafka_is_quarantined_and_the_rows_behind_it_go_out(
    pool: asyncpg.Pool, broker: KafkaBroker, kafka: KafkaAccess, outbox: Outbox, topic: str
) -> None:
    key = str(uuid4()).encode()
    huge = _record(topic, key, size=ONE_AND_A_HALF_MB)
    sent = [_record(topic, key), huge, _record(topic, key), _record(topic, key)]
    await _queue(pool, outbox, sent)
    relay = OutboxRelay(pool, outbox, lambda rs: publish_all(broker, rs), batch_size=50)

    await _relay_until_idle(relay, pool)
    await _relay_until_idle(relay, pool)  # set aside once: not retried, not reported again

    await _assert_sent_in_order_and_bad_one_set_aside(
        pool, kafka, outbox, topic, sent, huge, "over the 1048576"
    )
    assert _quarantined(outbox) == 1


async def test_the_backlog_is_sampled_and_each_settled_batch_is_told_once_committed(
    pool: asyncpg.Pool, broker: KafkaBroker, outbox: Outbox, topic: str
) -> None:
    key = str(uuid4()).encode()
    huge = _record(topic, key, size=ONE_AND_A_HALF_MB)
    sent = [_record(topic, key), huge, _record(topic, key)]
    await _queue(pool, outbox, sent)
    await pool.execute(f"UPDATE {outbox.schema}.outbox SET created_at = now() - interval '90 s'")
    backlog = OutboxBacklog(pool, outbox, service=outbox.schema)
    told: list[tuple[list[str], list[str]]] = []

    def heard(relayed: Sequence[KafkaRecord], set_aside: Sequence[KafkaRecord]) -> None:
        told.append(
            ([h["ce_id"] for _, _, h, _ in relayed], [h["ce_id"] for _, _, h, _ in set_aside])
        )

    await backlog.sample()
    labels = {"service": outbox.schema}
    assert _sample("stax_outbox_backlog", labels) == 3
    assert 90 <= (_sample("stax_outbox_oldest_age_seconds", labels) or 0) < 300

    relay = OutboxRelay(pool, outbox, lambda rs: publish_all(broker, rs), on_relayed=heard)
    await _relay_until_idle(relay, pool)
    await backlog.sample()

    assert _sample("stax_outbox_backlog", labels) == 0  # published or set aside: none waits
    assert _sample("stax_outbox_oldest_age_seconds", labels) == 0
    assert told == [([str(sent[0].ce_id), str(sent[2].ce_id)], [str(huge.ce_id)])]
    reported = {"service": outbox.schema, "reason": "outbox_quarantined"}
    assert _sample("stax_dead_lettered_total", reported) == 1


async def test_a_record_the_producer_refuses_is_found_by_publishing_one_at_a_time(
    pool: asyncpg.Pool, broker: KafkaBroker, kafka: KafkaAccess, outbox: Outbox, topic: str
) -> None:
    # A limit set above the producer's own (1 MiB): the size check lets the record through, the
    # producer refuses it in the middle of a batch, and the relay must find which row it was.
    key = str(uuid4()).encode()
    huge = _record(topic, key, size=ONE_AND_A_HALF_MB)
    sent = [_record(topic, key), _record(topic, key), huge, _record(topic, key)]
    await _queue(pool, outbox, sent)
    relay = OutboxRelay(
        pool, outbox, lambda rs: publish_all(broker, rs), max_record_bytes=10 * 2**20
    )

    await _relay_until_idle(relay, pool)

    await _assert_sent_in_order_and_bad_one_set_aside(
        pool, kafka, outbox, topic, sent, huge, "MessageSizeTooLargeError"
    )
    assert _quarantined(outbox) == 1


async def test_a_broker_outage_quarantines_nothing_and_the_batch_is_retried(
    pool: asyncpg.Pool, broker: KafkaBroker, kafka: KafkaAccess, outbox: Outbox, topic: str
) -> None:
    key = str(uuid4()).encode()
    sent = [_record(topic, key) for _ in range(3)]
    await _queue(pool, outbox, sent)

    async def broker_down(_records: Sequence[KafkaRecord]) -> None:
        raise KafkaConnectionError("no broker reachable")

    down = OutboxRelay(pool, outbox, broker_down)
    async with pool.acquire() as conn:
        with pytest.raises(KafkaConnectionError):
            await down.relay_batch(conn)
    rows = await _rows(pool, outbox)
    assert all(r["published_at"] is None and r["quarantined_at"] is None for r in rows.values())

    await _relay_until_idle(OutboxRelay(pool, outbox, lambda rs: publish_all(broker, rs)), pool)
    records = await collect(kafka, topic, until=lambda rs: len(rs) >= 3, wait=10)
    assert [header(r, "ce_id") for r in records] == [str(r.ce_id) for r in sent]
    assert _quarantined(outbox) == 0


async def test_rows_for_a_topic_kafka_refuses_wait_in_order_and_the_other_topics_go_on(
    pool: asyncpg.Pool,
    infra: stack.StackSettings,
    broker: KafkaBroker,
    kafka: KafkaAccess,
    outbox: Outbox,
    topic: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # matcher's principal may write ta.assignments.v1 but not the test's topic: a tenant's
    # topic whose grant was withdrawn, or an ACL an operator forgot, looks the same to a relay.
    key = str(uuid4()).encode()
    allowed = [_record(topics.ASSIGNMENTS, key) for _ in range(3)]
    refused = [_record(topic, key) for _ in range(2)]
    sent = [allowed[0], refused[0], allowed[1], refused[1], allowed[2]]
    await _queue(pool, outbox, sent)
    as_matcher = make_broker(infra.kafka_access(service_principal("matcher")), service="test")
    await as_matcher.connect()
    publisher = {"broker": as_matcher}
    relay = OutboxRelay(
        pool, outbox, lambda rs: publish_all(publisher["broker"], rs), first_hold_seconds=0.5
    )
    try:
        # Idle means a batch found nothing: the refused rows, though unpublished, are left out
        # of the batches until their hold runs out (not asked about every batch).
        await _relay_until_idle(relay, pool)
        await asyncio.sleep(0.6)  # the hold runs out; refused again, held twice as long
        await _relay_until_idle(relay, pool)
    finally:
        await as_matcher.stop()
    holds = [r.getMessage() for r in caplog.records if "Kafka refused topic" in r.getMessage()]
    assert [h.split("tried again in ")[1].split(" s;")[0] for h in holds] == ["0.5", "1"]

    ours = {str(r.ce_id) for r in allowed}
    out = await collect(
        kafka,
        topics.ASSIGNMENTS,
        matching=lambda r: header(r, "ce_id") in ours,
        until=lambda rs: len(rs) >= 3,
        wait=10,
    )
    # In order; the row sent before the refusal went out again (the same ce_id, absorbed).
    assert list(dict.fromkeys(header(r, "ce_id") for r in out)) == [str(r.ce_id) for r in allowed]
    rows = await _rows(pool, outbox)
    waiting = [rows[str(r.ce_id)] for r in refused]
    assert all(r["published_at"] is None and r["quarantined_at"] is None for r in waiting)
    assert _quarantined(outbox) == 0  # an operator can mend it: nothing is set aside

    publisher["broker"] = broker  # the grant is mended: the admin may write any topic
    await asyncio.sleep(1.1)  # the hold runs out
    await _relay_until_idle(relay, pool)
    late = await collect(kafka, topic, until=lambda rs: len(rs) >= 2, wait=10)
    assert [header(r, "ce_id") for r in late] == [str(r.ce_id) for r in refused]
    rows = await _rows(pool, outbox)
    assert all(rows[str(r.ce_id)]["published_at"] is not None for r in sent)
