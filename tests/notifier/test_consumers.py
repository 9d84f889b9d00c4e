"""notifier's real consumers and routes, fed Kafka records on the in-memory unit of work: each
lifecycle event is parsed with its model and fanned out; intake's ta.request.closing command,
on the same topic, is consumed and ignored, never dead-lettered."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

from aiokafka import ConsumerRecord

from services.notifier.consumers import reliable_consumers
from shared import sign_in_links, topics
from shared.consuming import Outcome
from shared.envelope import build_record
from shared.events import (
    AssignmentCompleted,
    AssignmentStarted,
    AssignmentWithdrawn,
    Event,
    PortalSignInRequested,
    RequestClosed,
    RequestClosing,
    RequestCompleted,
    RequestWaiting,
)
from tests.fuzz.strategies import Raw, consumer_record
from tests.notifier.fakes import fake_units


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, record: Any, reason: str, error: str) -> None:
        self.sent.append((reason, error))


def _record(event: Event, offset: int) -> ConsumerRecord[bytes, bytes]:
    out = build_record(event, source="/stax/matcher", subject=str(uuid4()))
    headers = [(k, v.encode()) for k, v in out.headers.items()]
    return consumer_record(Raw(out.value, out.key, list(headers), "test"), event.topic, offset)


async def test_the_lifecycle_events_are_routed_and_the_closing_command_is_ignored() -> None:
    units, store = fake_units()
    dead = DeadLetters()
    consumers = reliable_consumers(units, dead)
    request_id, partner = uuid4(), "p1"
    work = {"assignment_id": uuid4(), "request_id": request_id, "partner_id": partner}
    requests = [
        RequestWaiting(request_id=request_id, partners=[partner], topics=["PCB"], reason="full"),
        RequestCompleted(request_id=request_id, partners=[partner]),
        RequestClosing(request_id=request_id, closed_by="submitter", rating=5, comment="ok"),
        RequestClosed(request_id=request_id, closed_by="submitter", rating=5, comment="ok"),
    ]
    assignments = [
        AssignmentStarted(**work),
        AssignmentCompleted(**work, outcome="done", deliverables=["https://example.org/r"]),
        AssignmentWithdrawn(**work, reason="no staff"),
    ]

    on_requests = await consumers[topics.REQUESTS].process_batch(
        [_record(e, i) for i, e in enumerate(requests)]
    )
    on_assignments = await consumers[topics.ASSIGNMENTS].process_batch(
        [_record(e, i) for i, e in enumerate(assignments)]
    )

    applied, ignored = Outcome.APPLIED, Outcome.IGNORED
    assert on_requests == [applied, applied, ignored, applied]
    assert on_assignments == [applied, applied, applied]
    assert dead.sent == []
    # The Party's contact is not known here (no ta.request.accepted): its notices wait for it,
    # one per event told to it, and none for the command.
    waiting = sorted(notice.event_type for notice in store.pending.values())
    assert waiting == sorted(
        e.ce_type for e in [*requests, *assignments] if e.ce_type != RequestClosing.ce_type
    )


async def test_a_sign_in_request_is_consumed_by_its_own_consumer_and_mails_the_contact() -> None:
    units, store = fake_units()
    async with units() as uow:
        contact = await uow.contacts.create(
            contact_id=uuid4(),
            partner_id="unido",
            email="desk@example.org",
            name="Desk",
            language="en",
            event_types=[],
        )
    consumer = reliable_consumers(units, DeadLetters())[topics.PORTAL_SIGN_IN]
    asked = PortalSignInRequested(
        email_sha256=sign_in_links.email_digest("desk@example.org"), language="fr"
    )
    assert consumer.name == "notifier.sign-in"  # the inbox is keyed by (consumer, ce_id)
    assert await consumer.process_batch([_record(asked, 0)]) == [Outcome.APPLIED]
    assert [r.new.contact_id for r in store.deliveries.values()] == [contact.contact_id]
