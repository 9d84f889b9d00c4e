"""A batch's inbox claims and a unit's outbox rows each in one statement, on the real PostgreSQL:
the round trips saved must not change what is applied, written, or rolled back."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
import pytest
from aiokafka import ConsumerRecord
from opentelemetry.sdk.trace import TracerProvider

from services.intake.domain.model import Note, TimelineEntry
from services.intake.unit_of_work import PgIntakeUnitOfWork
from shared import telemetry
from shared.consuming import Outcome, ReliableConsumer, Route
from shared.envelope import Envelope, OutgoingRecord, build_record
from shared.events import AssignmentResponse, NotificationFailed
from shared.uow import PgUnitOfWork
from tests.integration.test_reliable_consumer import FAST, NoDeadLetters, _consumer_record

SCHEMA = "matcher"

# The rows these tests queue in matcher.outbox are ta.assignment.response events on
# ta.assignments.responses.v1, a topic matcher's principal may not write: left unpublished, a
# later module's matcher relay would hold them back (shared.outbox) and log the refusal. They are
# marked published when the module ends (tests/conftest.py, _forget_unrelayed).


def _response(unique: str, partner: str) -> OutgoingRecord:
    event = AssignmentResponse(assignment_id=uuid4(), partner_id=partner, decision="accept")
    return build_record(event, source="/test", subject=f"{unique}-{partner}")


def _as_consumed(out: OutgoingRecord, offset: int) -> ConsumerRecord[bytes, bytes]:
    return _consumer_record("t", offset, out.key, out.headers, out.value)


def _units(pool: asyncpg.Pool) -> PgUnitOfWork:
    return PgUnitOfWork(pool, SCHEMA)


async def _queued(pool: asyncpg.Pool, unique: str) -> list[str]:
    rows = await pool.fetch(
        f"SELECT convert_from(key, 'UTF8') AS k FROM {SCHEMA}.outbox WHERE key LIKE $1 ORDER BY id",
        f"{unique}-%".encode(),
    )
    return [r["k"] for r in rows]


async def test_a_batch_claims_its_inbox_rows_at_once_and_applies_each_event_once(
    pool: asyncpg.Pool, unique: str
) -> None:
    """An event applied earlier, and an event twice in the batch (a relay's re-send), are
    duplicates; every other record is applied exactly once, in order."""
    applied: list[str] = []

    async def apply(uow: PgUnitOfWork, envelope: Envelope, event: AssignmentResponse) -> None:
        applied.append(event.partner_id)

    consumer = ReliableConsumer(
        name=f"test.{unique}",
        unit_of_work=lambda: _units(pool),
        routes={AssignmentResponse.ce_type: Route(AssignmentResponse, apply)},
        dead_letters=NoDeadLetters(),
        retry=FAST,
    )
    seen, a, b = (_response(unique, p) for p in ("seen", "a", "b"))
    assert await consumer.process(_as_consumed(seen, 0)) is Outcome.APPLIED
    batch = [_as_consumed(r, n) for n, r in enumerate([a, seen, b, a], start=1)]

    outcomes = await consumer.process_batch(batch)

    assert outcomes == [Outcome.APPLIED, Outcome.DUPLICATE, Outcome.APPLIED, Outcome.DUPLICATE]
    assert applied == ["seen", "a", "b"]
    claimed = await pool.fetchval(
        f"SELECT count(*) FROM {SCHEMA}.inbox WHERE consumer = $1", f"test.{unique}"
    )
    assert claimed == 3


async def test_a_units_rows_are_written_in_emit_order_with_one_notice_on_commit(
    pool: asyncpg.Pool, unique: str
) -> None:
    notices: asyncio.Queue[str] = asyncio.Queue()
    listener = await pool.acquire()

    def ring(*_args: object) -> None:
        notices.put_nowait("rang")

    await listener.add_listener(f"stax_outbox_{SCHEMA}", ring)
    try:
        async with _units(pool) as uow:
            await uow.emit([_response(unique, "1"), _response(unique, "2")])
            await uow.emit([_response(unique, "3")])
        await asyncio.wait_for(notices.get(), 5)
        await asyncio.sleep(0.2)  # a second notice for the same unit would have come by now
        assert notices.empty()
    finally:
        await listener.remove_listener(f"stax_outbox_{SCHEMA}", ring)
        await pool.release(listener)
    assert await _queued(pool, unique) == [f"{unique}-1", f"{unique}-2", f"{unique}-3"]


async def test_rows_emitted_in_a_unit_that_fails_are_never_written(
    pool: asyncpg.Pool, unique: str
) -> None:
    with pytest.raises(RuntimeError):
        async with _units(pool) as uow:
            await uow.emit([_response(unique, "lost")])
            raise RuntimeError("the use case failed after emitting")
    assert await _queued(pool, unique) == []


async def test_an_outbox_row_refused_at_commit_fails_the_unit_and_commits_nothing(
    pool: asyncpg.Pool, unique: str
) -> None:
    """Written at the end, a row the table refuses (here a ce_id already queued) must still
    take the unit's other changes down with it, and leave the connection fit for reuse."""
    first = _response(unique, "first")
    async with _units(pool) as uow:
        await uow.emit([first])
    ce_id: UUID = uuid4()

    with pytest.raises(asyncpg.UniqueViolationError):
        async with _units(pool) as uow:
            assert await uow.claim(f"test.{unique}", ce_id)
            await uow.emit([first])

    async with _units(pool) as uow:  # the claim was rolled back: claimed afresh now
        assert await uow.claim(f"test.{unique}", ce_id)
    assert await _queued(pool, unique) == [f"{unique}-first"]


async def test_an_erasure_in_the_unit_that_emitted_the_row_redacts_it(
    pool: asyncpg.Pool, unique: str
) -> None:
    request_id = uuid4()
    out = build_record(
        AssignmentResponse(
            assignment_id=uuid4(), partner_id="p", decision="decline", reason="personal words"
        ),
        source="/test",
        subject=str(request_id),
    )
    async with _units(pool) as uow:
        await uow.emit([out])
        await uow.redact_outbox(request_id, [AssignmentResponse.ce_type], ["reason"])
    value = await pool.fetchval(f"SELECT value FROM {SCHEMA}.outbox WHERE ce_id = $1", out.ce_id)
    assert "reason" not in json.loads(value)
    assert json.loads(value)["partner_id"] == "p"


async def test_a_row_carries_the_trace_it_was_emitted_in_not_the_one_it_is_written_in(
    pool: asyncpg.Pool, unique: str
) -> None:
    """Rows are written when the unit ends, a batch's after its records' spans have ended:
    each must still carry the span its use case emitted it in (the relay publishes under it)."""
    provider = TracerProvider()
    saved, telemetry._State.provider = telemetry._State.provider, provider
    tracer = provider.get_tracer("test")
    try:
        async with _units(pool) as uow:
            with tracer.start_as_current_span("record 1") as first:
                await uow.emit([_response(unique, "1")])
            with tracer.start_as_current_span("record 2") as second:
                await uow.emit([_response(unique, "2")])
    finally:
        telemetry._State.provider = saved
    rows = await pool.fetch(
        f"SELECT headers->>'traceparent' AS tp FROM {SCHEMA}.outbox WHERE key LIKE $1 ORDER BY id",
        f"{unique}-%".encode(),
    )
    assert [r["tp"].split("-")[2] for r in rows] == [
        format(span.get_span_context().span_id, "016x") for span in (first, second)
    ]


async def test_timeline_entries_noted_in_the_unit_are_redacted_by_an_erasure_in_it(
    pool: asyncpg.Pool,
) -> None:
    """Entries are gathered until the unit ends: an erasure later in the same unit (a batch
    with the failure and the erasure) must still find the failure's entry and blank its why."""
    request_id, ce_id = uuid4(), uuid4()
    entry = TimelineEntry(
        datetime.now(UTC), NotificationFailed.ce_type, "p1", "notifying p1 failed: a@b.example"
    )
    async with PgIntakeUnitOfWork(pool) as uow:
        await uow.timeline.add(Note(ce_id, request_id, entry))
        await uow.timeline.redact_notification_errors(request_id)
    summary = await pool.fetchval("SELECT summary FROM intake.timeline WHERE ce_id = $1", ce_id)
    assert summary == "notifying p1 failed: (erased)"
