"""The fan-out use case in memory (no PostgreSQL, no Kafka): who hears of an event, through
which endpoints and contacts, the partners' Kafka mirrors, the requesting Party's notices and
its erasure."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID, uuid4

from services.notifier import domain
from services.notifier.handlers.fanout import fan_out
from services.notifier.handlers.requesters import contact_id_of, erase
from services.notifier.unit_of_work import NotifierUnits
from shared.envelope import Envelope, build_record
from shared.events import (
    AssignmentAccepted,
    AssignmentCompleted,
    Channel,
    Event,
    NotificationFailed,
    RequestClosed,
    RequestErased,
    RequestUnmatched,
)
from shared.topics import partner_topic
from tests.notifier.fakes import DeliveryRow, NotifierStore, fake_units
from tests.notifier.helpers import envelope_of, offer_event, request_accepted


async def _apply(units: NotifierUnits, event: Event, envelope: Envelope | None = None) -> None:
    async with units() as uow:
        await fan_out(uow, envelope or envelope_of(event), event)


async def _subscribe(
    units: NotifierUnits, partner: str, *, endpoint_types: list[str], contact_types: list[str]
) -> tuple[UUID, UUID]:
    endpoint_id = uuid4()
    async with units() as uow:
        await uow.endpoints.create(
            endpoint_id=endpoint_id,
            partner_id=partner,
            url="https://hooks.example.org/stax",
            secret="whsec_x",
            event_types=endpoint_types,
        )
        contact = await uow.contacts.create(
            contact_id=uuid4(),
            partner_id=partner,
            email="desk@example.org",
            name="Desk",
            language="fr",
            event_types=contact_types,
        )
    return endpoint_id, contact.contact_id


def _targets(store: NotifierStore) -> set[UUID | None]:
    return _targets_of(list(store.deliveries.values()))


def _targets_of(rows: list[DeliveryRow]) -> set[UUID | None]:
    return {row.new.endpoint_id or row.new.contact_id for row in rows}


async def test_an_offer_reaches_the_partners_endpoints_and_contacts_that_want_it() -> None:
    units, store = fake_units()
    endpoint_id, _ = await _subscribe(
        units, "p1", endpoint_types=[], contact_types=["ta.request.matched"]
    )
    envelope, offer = offer_event("p1")
    await _apply(units, offer, envelope)
    assert _targets(store) == {endpoint_id}  # the contact filters offers out
    [row] = store.deliveries.values()
    body = json.loads(row.new.payload)
    assert (row.new.event_id, row.new.partner_id) == (envelope.id, "p1")
    assert body["type"] == "ta.assignment.offered" and body["data"]["partner_id"] == "p1"


async def test_a_redelivered_event_queues_nothing_twice() -> None:
    units, store = fake_units()
    await _subscribe(units, "p1", endpoint_types=[], contact_types=[])
    envelope, offer = offer_event("p1")
    await _apply(units, offer, envelope)
    await _apply(units, offer, envelope)
    assert len(store.deliveries) == 2  # one webhook, one e-mail


async def test_a_partner_with_a_kafka_channel_gets_the_event_mirrored_to_its_topic() -> None:
    units, store = fake_units()
    async with units() as uow:
        await uow.kafka_channels.put("p1", partner_topic("p1"), [])
        await uow.kafka_channels.put("p2", partner_topic("p2"), ["ta.request.matched"])
    for partner in ("p1", "p2"):
        await _apply(units, offer_event(partner)[1])
    [mirror] = store.outbox
    assert mirror.topic == partner_topic("p1")
    assert mirror.headers["ce_type"] == "ta.assignment.offered"
    assert mirror.headers["ce_source"] == "/stax/notifier"


async def test_a_disabled_kafka_channel_mirrors_nothing() -> None:
    units, store = fake_units()
    async with units() as uow:
        await uow.kafka_channels.put("p1", partner_topic("p1"), [])
        await uow.kafka_channels.disable("p1")
    await _apply(units, offer_event("p1")[1])
    assert store.outbox == []


async def test_a_notice_before_the_acceptance_waits_then_goes_to_the_party() -> None:
    units, store = fake_units()
    request_id = uuid4()
    accepted_by_partner = AssignmentAccepted(
        assignment_id=uuid4(), request_id=request_id, partner_id="p1"
    )
    await _apply(units, accepted_by_partner)
    assert store.deliveries == {} and len(store.pending) == 1
    await _apply(units, request_accepted(request_id, "party@example.org"))
    assert store.pending == {}
    rows = sorted(store.deliveries.values(), key=lambda r: r.new.event_type)
    assert [r.new.event_type for r in rows] == ["ta.assignment.accepted", "ta.request.accepted"]
    assert {r.new.partner_id for r in rows} == {"party:SEN"}
    assert {r.new.contact_id for r in rows} == {contact_id_of(request_id)}
    assert store.contacts[contact_id_of(request_id)].language == "es"  # first it has


async def test_the_acceptance_tells_the_party_under_the_lock_it_recorded_the_contact_with() -> None:
    """Its own notice reuses the contact just recorded: one lock, not a second lock and read."""
    units, store = fake_units()
    request_id = uuid4()
    await _apply(units, request_accepted(request_id, "party@example.org"))
    assert store.locks == [("requester", str(request_id))]
    [row] = store.deliveries.values()
    assert (row.new.event_type, row.new.contact_id) == (
        "ta.request.accepted",
        contact_id_of(request_id),
    )


async def test_the_party_contact_keeps_only_the_name_in_stored_bodies() -> None:
    units, store = fake_units()
    await _apply(units, request_accepted(uuid4(), "party@example.org"))
    [row] = store.deliveries.values()
    assert json.loads(row.new.payload)["data"]["contact"] == {"name": "A. Ndiaye"}


async def test_an_unmatched_request_is_told_to_the_party_and_the_secretariat() -> None:
    units, store = fake_units()
    request_id = uuid4()
    _, secretariat_contact = await _subscribe(
        units, domain.SECRETARIAT, endpoint_types=["ta.request.matched"], contact_types=[]
    )
    await _apply(units, request_accepted(request_id, "party@example.org"))
    await _apply(
        units, RequestUnmatched(request_id=request_id, partners=[], uncovered_topics=["PCB"])
    )
    unmatched = [r for r in store.deliveries.values() if r.new.event_type.endswith("unmatched")]
    assert {r.new.contact_id for r in unmatched} == {
        contact_id_of(request_id),
        secretariat_contact,
    }


async def test_a_completed_assignment_reaches_the_party_and_the_partners_subscriptions() -> None:
    units, store = fake_units()
    request_id = uuid4()
    endpoint_id, contact_id = await _subscribe(
        units, "p1", endpoint_types=["ta.assignment.completed"], contact_types=[]
    )
    await _subscribe(units, "p2", endpoint_types=[], contact_types=[])  # not its assignment
    await _apply(units, request_accepted(request_id, "party@example.org"))
    completed = AssignmentCompleted(
        assignment_id=uuid4(),
        request_id=request_id,
        partner_id="p1",
        outcome="Inventory finished",
        deliverables=["https://docs.example.org/report.pdf"],
    )
    envelope = envelope_of(completed)
    await _apply(units, completed, envelope)
    rows = [r for r in store.deliveries.values() if r.new.event_id == envelope.id]
    assert _targets_of(rows) == {contact_id_of(request_id), endpoint_id, contact_id}
    assert {r.new.partner_id for r in rows} == {"party:SEN", "p1"}
    data = json.loads(rows[0].new.payload)["data"]
    assert data["outcome"] == "Inventory finished"
    assert data["deliverables"] == ["https://docs.example.org/report.pdf"]


async def test_a_closed_request_and_its_comment_go_to_the_party_and_the_secretariat_only() -> None:
    units, store = fake_units()
    request_id = uuid4()
    _, secretariat_contact = await _subscribe(
        units, domain.SECRETARIAT, endpoint_types=["ta.request.matched"], contact_types=[]
    )
    await _subscribe(units, "p1", endpoint_types=[], contact_types=[])  # worked on it
    await _apply(units, request_accepted(request_id, "party@example.org"))
    closed = RequestClosed(request_id=request_id, closed_by="submitter", rating=2, comment="Late")
    envelope = envelope_of(closed)
    await _apply(units, closed, envelope)
    rows = [r for r in store.deliveries.values() if r.new.event_id == envelope.id]
    assert _targets_of(rows) == {contact_id_of(request_id), secretariat_contact}
    assert {json.loads(r.new.payload)["data"]["comment"] for r in rows} == {"Late"}


async def test_an_erasure_blanks_the_contact_drops_what_waits_and_redacts_bodies() -> None:
    units, store = fake_units()
    request_id = uuid4()
    await _apply(units, request_accepted(request_id, "party@example.org"))
    failed = NotificationFailed(
        delivery_id=uuid4(),
        event_id=uuid4(),
        request_id=request_id,
        partner_id="party:SEN",
        channel=Channel.EMAIL,
        attempts=3,
        last_error="550 party@example.org unknown",
    )
    async with units() as uow:
        await uow.emit([build_record(failed, source="/stax/notifier", subject=str(request_id))])
        await uow.requesters.add_pending(request_id, uuid4(), "ta.request.matched", "{}")
    erased = RequestErased(request_id=request_id, erased_at=datetime.now(UTC))
    async with units() as uow:
        await erase(uow, envelope_of(erased), erased)
    contact = store.contacts[contact_id_of(request_id)]
    assert (contact.email, contact.name, contact.enabled) == ("", "", False)
    assert store.pending == {}
    [row] = store.deliveries.values()
    assert "contact" not in json.loads(row.new.payload)["data"]
    assert "last_error" not in json.loads(store.outbox[0].value)


async def test_after_an_erasure_nothing_more_is_queued_for_the_party() -> None:
    units, store = fake_units()
    request_id = uuid4()
    erased = RequestErased(request_id=request_id, erased_at=datetime.now(UTC))
    async with units() as uow:
        await erase(uow, envelope_of(erased), erased)
    await _apply(units, request_accepted(request_id, "party@example.org"))  # a replay
    await _apply(
        units, RequestUnmatched(request_id=request_id, partners=[], uncovered_topics=["PCB"])
    )
    assert store.deliveries == {} and store.pending == {}


async def test_a_failing_fan_out_leaves_nothing_behind() -> None:
    units, store = fake_units()
    await _subscribe(units, "p1", endpoint_types=[], contact_types=[])
    offer = offer_event("p1")[1]
    try:
        async with units() as uow:
            await fan_out(uow, envelope_of(offer), offer)
            raise RuntimeError("the consumer's unit fails after the fan-out")
    except RuntimeError:
        pass
    assert store.deliveries == {} and store.rollbacks == 1
