"""intake's submission use cases (HTTP and Kafka); dependencies arrive as arguments (app.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from pydantic import BaseModel, ConfigDict

from services.intake import domain, repository
from shared.db import Conn
from shared.envelope import (
    Envelope,
    OutgoingRecord,
    PoisonRecord,
    as_envelope,
    build_record,
    mirror_record,
)
from shared.events import FieldError, RequestRejected, RequestSubmission
from shared.outbox import Outbox
from shared.topics import submitter_outcomes_topic

SOURCE = "/stax/intake"
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class IntakeDeps:
    pool: asyncpg.Pool
    outbox: Outbox
    reference: domain.Reference
    clock: Clock


class IdempotencyConflict(Exception):  # noqa: N818 - a domain outcome, reported as HTTP 409
    """The idempotency key (header or external_ref) was used before with a different body."""


class InvalidSubmission(Exception):  # noqa: N818 - a domain outcome, reported as HTTP 422
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__(f"{len(errors)} invalid field(s)")
        self.errors = errors


class _KeyRace(Exception):  # noqa: N818 - internal: a twin took the Idempotency-Key; retry once
    pass


@dataclass(frozen=True)
class Submitted:
    request_id: UUID
    status: str
    created: bool


class AnySubmission(BaseModel):
    """Kafka route model that accepts any JSON object: intake validates it itself, so that
    invalid data is answered with ta.request.rejected instead of being dead-lettered."""

    model_config = ConfigDict(extra="allow")


async def submit_request(
    deps: IntakeDeps, submission: RequestSubmission, *, submitter: str, idempotency_key: str | None
) -> Submitted:
    """HTTP: validate, record and queue `ta.request.accepted`, once per idempotency key."""
    checked = domain.validate(submission.model_dump(mode="json"), deps.reference, _today(deps))
    if isinstance(checked, list):
        raise InvalidSubmission(checked)
    for attempt in range(2):
        try:
            async with deps.pool.acquire() as conn, conn.transaction():
                origin = Origin(submitter, outcomes_topic=None)
                return await _record(deps, conn, checked, origin, idempotency_key)
        except _KeyRace:
            if attempt:
                raise
    raise AssertionError("unreachable")


async def on_submitted(
    deps: IntakeDeps, conn: Conn, envelope: Envelope, _data: AnySubmission
) -> None:
    """Kafka, from a trusted in-cluster producer (`ta.requests.submitted.v1`, which only STAX's
    principals may write): the submitter is the record's ce_source. Runs in the consumer's
    transaction, so the inbox row, the request and the outbox row commit together."""
    await _on_submission(deps, conn, envelope, Origin(envelope.source, outcomes_topic=None))


async def on_tenant_submitted(
    deps: IntakeDeps, conn: Conn, envelope: Envelope, data: AnySubmission
) -> None:
    """Kafka, from an upstream system's own topic (brief §7.1): the submitter is the topic's
    tenant, whatever ce_source says; a payload naming another submitter is refused whole. Its
    outcomes, rejections included, are copied to its outcomes topic."""
    tenant = envelope.tenant
    claimed = (data.model_extra or {}).get("submitter")
    if tenant is None or claimed not in (None, tenant):
        raise PoisonRecord(
            "identity_mismatch", f"a submission on {tenant}'s topic names submitter {claimed!r}"
        )
    await _on_submission(deps, conn, envelope, Origin(tenant, submitter_outcomes_topic(tenant)))


@dataclass(frozen=True)
class Origin:
    """Who submitted a request, and where its outcomes go besides the public topics."""

    submitter: str
    outcomes_topic: str | None


async def _on_submission(deps: IntakeDeps, conn: Conn, envelope: Envelope, origin: Origin) -> None:
    checked = domain.validate(envelope.data, deps.reference, _today(deps))
    if isinstance(checked, list):
        await _reject(deps, conn, envelope, origin, checked)
        return
    try:
        await _record(deps, conn, checked, origin, idempotency_key=None)
    except IdempotencyConflict:
        # Nothing was written yet (no header key on Kafka), so the transaction stays usable.
        conflict = FieldError(
            field="external_ref",
            code="conflict",
            message="this external_ref was already submitted with a different body",
        )
        await _reject(deps, conn, envelope, origin, [conflict])


async def _record(
    deps: IntakeDeps,
    conn: Conn,
    submission: RequestSubmission,
    origin: Origin,
    idempotency_key: str | None,
) -> Submitted:
    submitter = origin.submitter
    fingerprint = domain.body_hash(submission)
    if idempotency_key is not None:
        known = await repository.find_by_idempotency_key(conn, submitter, idempotency_key)
        if known is not None:
            return _replay(known, fingerprint)
    submitted = await _insert_or_replay(deps, conn, submission, origin, fingerprint)
    if idempotency_key is not None and not await repository.insert_idempotency_key(
        conn, submitter, idempotency_key, submitted.request_id, fingerprint
    ):
        raise _KeyRace  # roll back; the retry finds the twin's key row and answers from it
    return submitted


async def _insert_or_replay(
    deps: IntakeDeps, conn: Conn, submission: RequestSubmission, origin: Origin, fingerprint: str
) -> Submitted:
    submitter = origin.submitter
    event = domain.accept(
        submission,
        request_id=uuid4(),
        submitter=submitter,
        reference=deps.reference,
        now=deps.clock(),
    )
    record = build_record(
        event, source=SOURCE, subject=str(event.request_id), time=event.accepted_at
    )
    summary = f"accepted from {submitter}: {event.party} ({event.region})"
    if not await repository.insert_request(
        conn,
        event,
        fingerprint,
        ce_id=record.ce_id,
        summary=summary,
        outcomes_topic=origin.outcomes_topic,
    ):
        # Already recorded (a retry, or a concurrent twin that committed first): answer with
        # the first request's id rather than creating a second request.
        existing = await repository.find_by_ref(conn, submitter, submission.external_ref)
        if existing is None:
            raise RuntimeError("conflicting request vanished")  # rows are never deleted
        return _replay(existing, fingerprint)
    await deps.outbox.add(conn, with_copy(record, origin.outcomes_topic))
    return Submitted(event.request_id, "accepted", created=True)


def _replay(existing: asyncpg.Record, fingerprint: str) -> Submitted:
    if existing["body_hash"] != fingerprint:
        raise IdempotencyConflict
    return Submitted(existing["request_id"], "accepted", created=False)


async def _reject(
    deps: IntakeDeps, conn: Conn, envelope: Envelope, origin: Origin, errors: list[FieldError]
) -> None:
    ref: Any = envelope.data.get("external_ref")
    event = RequestRejected(
        external_ref=ref if isinstance(ref, str) else None,
        submitter=origin.submitter,
        errors=errors,
    )
    # No request id exists; the submission's own ce_id is the subject (and Kafka key), so the
    # submitter can correlate the answer with what it sent.
    record = build_record(event, source=SOURCE, subject=str(envelope.id))
    await deps.outbox.add(conn, with_copy(record, origin.outcomes_topic))


def with_copy(record: OutgoingRecord, outcomes_topic: str | None) -> list[OutgoingRecord]:
    """The record, plus its copy for the submitter's outcomes topic when it has one."""
    if outcomes_topic is None:
        return [record]
    return [record, mirror_record(as_envelope(record), outcomes_topic, source=SOURCE)]


def _today(deps: IntakeDeps) -> date:
    return deps.clock().date()
