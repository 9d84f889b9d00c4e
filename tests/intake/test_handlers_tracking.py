"""The status timelines, from the events intake consumes, on the in-memory unit of work."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

from services.intake.domain.model import TrackedRequest
from services.intake.handlers import submissions, tracking, views
from services.intake.unit_of_work import IntakeUnitOfWork
from shared import topics
from shared.consuming import Apply
from shared.envelope import Envelope
from shared.events import (
    AssignmentAccepted,
    AssignmentExpired,
    AssignmentOffered,
    Channel,
    Event,
    NotificationDelivered,
    NotificationFailed,
    RequestMatched,
    RequestUnmatched,
    Role,
)
from tests.intake.fakes import FakeIntakeUnitOfWork, IntakeStore
from tests.intake.samples import submission
from tests.intake.scenarios import NOW, REFERENCE, accepted, clock, envelope_of, submitted


def _offer(request_id: UUID, partner_id: str = "unido") -> AssignmentOffered:
    return AssignmentOffered(
        assignment_id=uuid4(),
        request_id=request_id,
        partner_id=partner_id,
        partner_name=f"Partner {partner_id}",
        role=Role.LEAD,
        score=0.8,
        reasons=["covers PCB"],
        covers_topics=["PCB"],
        respond_by=NOW + timedelta(days=5),
    )


async def _view(store: IntakeStore, request_id: UUID) -> TrackedRequest:
    async with FakeIntakeUnitOfWork(store) as uow:
        return await views.request_view(uow, request_id, only_of=None)


async def _apply(
    store: IntakeStore, handler: Apply[IntakeUnitOfWork], envelope: Envelope, event: Event
) -> None:
    """`handler` in its own unit, as ReliableConsumer runs it."""
    async with FakeIntakeUnitOfWork(store) as uow:
        await handler(uow, envelope, event)


async def test_offers_answers_notifications_and_the_match_make_the_timeline() -> None:
    store = IntakeStore()
    request_id = await accepted(store)
    offered = _offer(request_id)
    delivered = NotificationDelivered(
        delivery_id=uuid4(),
        event_id=uuid4(),
        request_id=request_id,
        partner_id="unido",
        channel=Channel.WEBHOOK,
        attempts=1,
    )
    taken = AssignmentAccepted(
        assignment_id=offered.assignment_id, request_id=request_id, partner_id="unido"
    )
    matched = RequestMatched(request_id=request_id, partners=["unido"], uncovered_topics=[])
    for handler, event in (
        (tracking.on_offered, offered),
        (tracking.on_notification, delivered),
        (tracking.on_assignment_outcome, taken),
        (tracking.on_match_outcome, matched),
    ):
        await _apply(store, handler, envelope_of(event, request_id), event)

    seen = await _view(store, request_id)
    assert seen.status == "matched"
    assert [e.event_type for e in seen.timeline] == [
        "ta.request.accepted",
        "ta.assignment.offered",
        "ta.notification.delivered",
        "ta.assignment.accepted",
        "ta.request.matched",
    ]
    assert seen.timeline[1].partner_id == "unido"
    assert "as lead" in seen.timeline[1].summary
    assert seen.timeline[4].summary == "matched: unido"
    assert store.offers[offered.assignment_id].status == "accepted"


async def test_a_late_offer_never_undoes_an_outcome_and_an_event_is_noted_once() -> None:
    store = IntakeStore()
    request_id = await accepted(store)
    unmatched = RequestUnmatched(request_id=request_id, partners=[], uncovered_topics=["PCB"])
    late = _offer(request_id)
    late_envelope = envelope_of(late, request_id)
    await _apply(store, tracking.on_match_outcome, envelope_of(unmatched, request_id), unmatched)
    await _apply(store, tracking.on_offered, late_envelope, late)
    await _apply(store, tracking.on_offered, late_envelope, late)

    seen = await _view(store, request_id)
    assert seen.status == "unmatched"
    assert [e.event_type for e in seen.timeline].count("ta.assignment.offered") == 1


async def test_an_expired_offer_says_so_with_its_reason() -> None:
    store = IntakeStore()
    request_id = await accepted(store)
    offered = _offer(request_id)
    expired = AssignmentExpired(
        assignment_id=offered.assignment_id,
        request_id=request_id,
        partner_id="unido",
        reason="no answer in time",
    )
    await _apply(store, tracking.on_offered, envelope_of(offered, request_id), offered)
    await _apply(store, tracking.on_assignment_outcome, envelope_of(expired, request_id), expired)

    assert store.offers[offered.assignment_id].status == "expired"
    last = (await _view(store, request_id)).timeline[-1]
    assert last.summary == "offer to unido expired: no answer in time"


async def test_a_tenants_request_outcomes_are_copied_to_its_topic_but_not_notifications() -> None:
    store = IntakeStore()
    async with FakeIntakeUnitOfWork(store) as uow:
        envelope = submitted(submission("t-1"), tenant="acme")
        await submissions.on_tenant_submitted(
            uow, envelope, envelope.data, reference=REFERENCE, clock=clock
        )
    (request_id,) = store.requests
    store.outbox.clear()
    offered = _offer(request_id)
    delivered = NotificationDelivered(
        delivery_id=uuid4(),
        event_id=uuid4(),
        request_id=request_id,
        partner_id="unido",
        channel=Channel.EMAIL,
        attempts=1,
    )
    await _apply(store, tracking.on_offered, envelope_of(offered, request_id), offered)
    await _apply(store, tracking.on_notification, envelope_of(delivered, request_id), delivered)

    (copy,) = store.outbox
    assert copy.topic == topics.submitter_outcomes_topic("acme")
    assert copy.headers["ce_type"] == "ta.assignment.offered"


async def test_a_failed_notification_after_the_erasure_does_not_quote_its_error() -> None:
    store = IntakeStore()
    request_id = await accepted(store)
    store.requests[request_id].erased_at = NOW
    failed = NotificationFailed(
        delivery_id=uuid4(),
        event_id=uuid4(),
        request_id=request_id,
        partner_id="unido",
        channel=Channel.EMAIL,
        attempts=5,
        last_error="550 a.ndiaye@example.sn unknown",
    )
    await _apply(store, tracking.on_notification, envelope_of(failed, request_id), failed)

    last = (await _view(store, request_id)).timeline[-1]
    assert last.summary == "notifying unido by email failed after 5 attempt(s): (erased)"


async def test_a_notification_about_no_request_is_not_noted() -> None:
    store = IntakeStore()
    delivered = NotificationDelivered(
        delivery_id=uuid4(),
        event_id=uuid4(),
        request_id=None,
        partner_id="unido",
        channel=Channel.WEBHOOK,
        attempts=1,
    )
    await _apply(store, tracking.on_notification, envelope_of(delivered, "x"), delivered)
    assert store.timeline == {}
