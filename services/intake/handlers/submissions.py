"""Submissions: validated, recorded once per idempotency key, announced as ta.request.accepted
(or answered with ta.request.rejected on Kafka)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID, uuid4

from services.intake.domain import submissions
from services.intake.domain.errors import IdempotencyConflict, InvalidSubmission
from services.intake.domain.model import SOURCE, Clock, Fingerprinted, Note, TimelineEntry
from services.intake.domain.reference import Reference
from services.intake.unit_of_work import IntakeUnitOfWork, IntakeUnits
from shared.envelope import (
    Envelope,
    OutgoingRecord,
    PoisonRecord,
    as_envelope,
    build_record,
    mirror_record,
)
from shared.events import FieldError, RequestSubmission
from shared.logs import log_context
from shared.topics import submitter_outcomes_topic

log = logging.getLogger(__name__)


class _KeyRace(Exception):  # noqa: N818 - internal: a twin took the Idempotency-Key; retry once
    pass


@dataclass(frozen=True)
class Submitted:
    request_id: UUID
    created: bool  # False when this answers a replay of an earlier submission


@dataclass(frozen=True)
class Origin:
    """Who submitted a request, and where its outcomes go besides the public topics."""

    submitter: str
    outcomes_topic: str | None


async def submit_request(
    uow_factory: IntakeUnits,
    raw: object,
    *,
    submitter: str,
    idempotency_key: str | None,
    reference: Reference,
    clock: Clock,
) -> Submitted:
    """HTTP: validate `raw` (the decoded JSON body), record the request and queue
    `ta.request.accepted`, once per idempotency key. Takes the factory: a lost race for the key
    rolls its unit back and answers from the twin's, in a second one."""
    checked = submissions.validate(raw, reference, clock().date())
    if isinstance(checked, list):
        raise InvalidSubmission(checked)
    origin = Origin(submitter, outcomes_topic=None)
    for attempt in range(2):
        try:
            async with uow_factory() as uow:
                return await _record(
                    uow, checked, origin, idempotency_key, reference=reference, clock=clock
                )
        except _KeyRace:
            if attempt:
                raise
    raise AssertionError("unreachable")


async def on_submitted(
    uow: IntakeUnitOfWork, envelope: Envelope, _data: object, *, reference: Reference, clock: Clock
) -> None:
    """Kafka, from a trusted in-cluster producer (`ta.requests.submitted.v1`, which only STAX's
    principals may write): the submitter is the record's ce_source."""
    origin = Origin(envelope.source, outcomes_topic=None)
    await _on_submission(uow, envelope, origin, reference, clock)


async def on_tenant_submitted(
    uow: IntakeUnitOfWork, envelope: Envelope, _data: object, *, reference: Reference, clock: Clock
) -> None:
    """Kafka, from an upstream system's own topic (brief §7.1): the submitter is the topic's
    tenant, whatever ce_source says; a payload naming another submitter is refused whole. Its
    outcomes, rejections included, are copied to its outcomes topic."""
    tenant = envelope.tenant
    claimed = envelope.data.get("submitter")
    if tenant is None or claimed not in (None, tenant):
        raise PoisonRecord(
            "identity_mismatch", f"a submission on {tenant}'s topic names submitter {claimed!r}"
        )
    origin = Origin(tenant, submitter_outcomes_topic(tenant))
    await _on_submission(uow, envelope, origin, reference, clock)


async def _on_submission(
    uow: IntakeUnitOfWork, envelope: Envelope, origin: Origin, reference: Reference, clock: Clock
) -> None:
    checked = submissions.validate(envelope.data, reference, clock().date())
    if isinstance(checked, list):
        await _reject(uow, envelope, origin, checked)
        return
    try:
        await _record(uow, checked, origin, None, reference=reference, clock=clock)
    except IdempotencyConflict:
        # Nothing was written yet (no header key on Kafka), so the unit stays usable.
        conflict = FieldError(
            field="external_ref",
            code="conflict",
            message="this external_ref was already submitted with a different body",
        )
        await _reject(uow, envelope, origin, [conflict])


async def _record(
    uow: IntakeUnitOfWork,
    submission: RequestSubmission,
    origin: Origin,
    idempotency_key: str | None,
    *,
    reference: Reference,
    clock: Clock,
) -> Submitted:
    submitter = origin.submitter
    fingerprint = submissions.body_hash(submission)
    if idempotency_key is not None:
        known = await uow.requests.by_idempotency_key(submitter, idempotency_key)
        if known is not None:
            return _replay(known, fingerprint)
    submitted = await _insert_or_replay(
        uow, submission, origin, fingerprint, reference=reference, clock=clock
    )
    if idempotency_key is not None and not await uow.requests.add_idempotency_key(
        submitter, idempotency_key, submitted.request_id, fingerprint
    ):
        raise _KeyRace  # roll back; the retry finds the twin's key row and answers from it
    return submitted


async def _insert_or_replay(
    uow: IntakeUnitOfWork,
    submission: RequestSubmission,
    origin: Origin,
    fingerprint: str,
    *,
    reference: Reference,
    clock: Clock,
) -> Submitted:
    submitter = origin.submitter
    event = submissions.accept(
        submission, request_id=uuid4(), submitter=submitter, reference=reference, now=clock()
    )
    record = build_record(
        event, source=SOURCE, subject=str(event.request_id), time=event.accepted_at
    )
    summary = f"accepted from {submitter}: {event.party} ({event.region})"
    note = Note(
        record.ce_id,
        event.request_id,
        TimelineEntry(event.accepted_at, event.ce_type, None, summary),
    )
    if not await uow.requests.add(
        event, fingerprint, note=note, outcomes_topic=origin.outcomes_topic
    ):
        # Already recorded (a retry, or a concurrent twin that committed first): answer with
        # the first request's id rather than creating a second request.
        existing = await uow.requests.by_ref(submitter, submission.external_ref)
        if existing is None:
            raise RuntimeError("conflicting request vanished")  # requests are never deleted
        return _replay(existing, fingerprint)
    await uow.emit(_with_copy(record, origin.outcomes_topic))
    with log_context(request_id=str(event.request_id)):  # ids only: the body is a person's
        log.info("request accepted from %s for %s", submitter, event.party)
    return Submitted(event.request_id, created=True)


def _replay(existing: Fingerprinted, fingerprint: str) -> Submitted:
    if existing.body_hash != fingerprint:
        raise IdempotencyConflict
    return Submitted(existing.request_id, created=False)


async def _reject(
    uow: IntakeUnitOfWork, envelope: Envelope, origin: Origin, errors: list[FieldError]
) -> None:
    event = submissions.reject(envelope.data, submitter=origin.submitter, errors=errors)
    # No request id exists; the submission's own ce_id is the subject (and Kafka key), so the
    # submitter can correlate the answer with what it sent.
    record = build_record(event, source=SOURCE, subject=str(envelope.id))
    await uow.emit(_with_copy(record, origin.outcomes_topic))


def _with_copy(record: OutgoingRecord, outcomes_topic: str | None) -> list[OutgoingRecord]:
    """The record, plus its copy for the submitter's outcomes topic when it has one."""
    if outcomes_topic is None:
        return [record]
    return [record, mirror_record(as_envelope(record), outcomes_topic, source=SOURCE)]
