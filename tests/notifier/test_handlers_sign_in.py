"""Portal sign-in requests in memory (no PostgreSQL, no Kafka): one e-mail to each partner contact
with the address, at most one a minute per contact, and nothing to anyone or anything else."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.notifier.handlers.sign_in import send_links
from services.notifier.unit_of_work import NotifierUnits
from shared import sign_in_links
from shared.envelope import Envelope
from shared.events import PortalSignInRequested
from tests.notifier.fakes import NotifierStore, fake_units

ADDRESS = "desk@scrc-senegal.example"
ASKED_AT = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)


def _asked(email: str = ADDRESS, language: str = "en") -> tuple[Envelope, PortalSignInRequested]:
    """As intake emits it: the digest of the trimmed, lower-cased address, keyed by it."""
    digest = sign_in_links.email_digest(email)
    event = PortalSignInRequested.model_validate({"email_sha256": digest, "language": language})
    envelope = Envelope(
        id=uuid4(),
        type=event.ce_type,
        source="/stax/intake",
        subject=digest,
        time=ASKED_AT,
        data=event.model_dump(mode="json"),
    )
    return envelope, event


async def _ask(units: NotifierUnits, email: str = ADDRESS) -> None:
    envelope, event = _asked(email)
    async with units() as uow:
        await send_links(uow, envelope, event)


async def _contact(
    units: NotifierUnits, partner: str, email: str = ADDRESS, event_types: list[str] | None = None
) -> UUID:
    async with units() as uow:
        made = await uow.contacts.create(
            contact_id=uuid4(),
            partner_id=partner,
            email=email,
            name="Desk",
            language="fr",
            event_types=event_types or [],
        )
    return made.contact_id


def _sent_to(store: NotifierStore) -> list[UUID | None]:
    return [row.new.contact_id for row in store.deliveries.values()]


async def test_a_partner_contact_with_the_address_gets_one_e_mail_whatever_its_filter() -> None:
    units, store = fake_units()
    # It chose to hear of matches only: a sign-in link it (or someone) asked for comes anyway.
    contact_id = await _contact(units, "unido", event_types=["ta.request.matched"])
    envelope, event = _asked("  Desk@SCRC-Senegal.example ")
    async with units() as uow:
        await send_links(uow, envelope, event)

    [row] = store.deliveries.values()
    new = row.new
    assert (new.contact_id, new.endpoint_id, new.channel) == (contact_id, None, "email")
    assert (new.event_id, new.event_type, new.partner_id, new.request_id) == (
        envelope.id,
        "ta.portal.sign_in_requested",
        "unido",
        None,
    )
    body = json.loads(new.payload)
    assert (body["type"], body["timestamp"]) == (new.event_type, ASKED_AT.isoformat())
    assert body["data"] == {
        "partner_id": "unido",
        "contact_id": str(contact_id),
        "nonce": str(new.delivery_id),  # one link per e-mail
        "expires_at": (ASKED_AT + timedelta(minutes=15)).isoformat(),
    }


async def test_the_partners_webhooks_and_kafka_channel_never_get_a_sign_in_link() -> None:
    units, store = fake_units()
    contact_id = await _contact(units, "unido")
    async with units() as uow:
        await uow.endpoints.create(
            endpoint_id=uuid4(),
            partner_id="unido",
            url="https://hooks.example.org/stax",
            secret="whsec_x",
            event_types=[],
        )
        await uow.kafka_channels.put("unido", "ta.partner.unido.v1", [])
    await _ask(units)
    assert _sent_to(store) == [contact_id]
    assert store.outbox == []


async def test_a_requesters_contact_with_the_same_address_gets_nothing() -> None:
    units, store = fake_units()
    async with units() as uow:
        await uow.requesters.save_contact(
            contact_id=uuid4(),
            request_id=uuid4(),
            party="SEN",
            email=ADDRESS,
            name="A Party's contact",
            language="fr",
        )
    await _ask(units)
    assert store.deliveries == {}


async def test_a_removed_contact_gets_nothing() -> None:
    units, store = fake_units()
    contact_id = await _contact(units, "unido")
    async with units() as uow:
        assert await uow.contacts.delete("unido", contact_id)
    await _ask(units)
    assert store.deliveries == {}


async def test_an_address_nobody_has_queues_nothing_and_says_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    units, store = fake_units()
    await _contact(units, "unido")
    with caplog.at_level(logging.DEBUG):
        await _ask(units, "someone-else@example.org")
    assert store.deliveries == {} and store.outbox == []
    assert caplog.records == []


async def test_each_partner_with_a_contact_at_the_address_gets_its_own_link() -> None:
    units, store = fake_units()
    first = await _contact(units, "unido")
    second = await _contact(units, "brs-sen", email=ADDRESS.upper())
    await _ask(units)
    assert sorted(map(str, _sent_to(store))) == sorted([str(first), str(second)])
    links = {json.loads(r.new.payload)["data"]["partner_id"] for r in store.deliveries.values()}
    assert links == {"unido", "brs-sen"}


async def test_a_second_request_within_the_minute_queues_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    units, store = fake_units()
    contact_id = await _contact(units, "unido")
    await _ask(units)
    with caplog.at_level(logging.INFO):
        await _ask(units)
        await _ask(units, f" {ADDRESS.upper()}")  # the same address, however typed
    assert _sent_to(store) == [contact_id]
    # Operators see that it was held back, and never the digest that stands for the address.
    assert str(contact_id) in caplog.text
    assert sign_in_links.email_digest(ADDRESS) not in caplog.text


async def test_a_request_after_the_minute_queues_another_e_mail() -> None:
    units, store = fake_units()
    contact_id = await _contact(units, "unido")
    await _ask(units)
    [first] = store.deliveries.values()
    first.created_at -= timedelta(seconds=61)  # as if queued a minute and a second ago
    await _ask(units)
    assert _sent_to(store) == [contact_id, contact_id]


async def test_the_throttle_is_per_contact() -> None:
    units, store = fake_units()
    desk = await _contact(units, "unido")
    other = await _contact(units, "unido", email="other@scrc-senegal.example")
    await _ask(units)
    await _ask(units, "other@scrc-senegal.example")
    assert _sent_to(store) == [desk, other]


async def test_a_redelivered_request_queues_nothing_more() -> None:
    units, store = fake_units()
    await _contact(units, "unido")
    envelope, event = _asked()
    for _ in range(2):
        async with units() as uow:
            await send_links(uow, envelope, event)
    assert len(store.deliveries) == 1
