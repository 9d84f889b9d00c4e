"""The subscription and operator use cases in memory (no PostgreSQL): endpoints within quota and
past the SSRF guard, rotation, contacts, the Kafka channel, resending and recovering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.notifier import domain
from services.notifier.domain import EndpointChanges, NewEndpoint, NotFound, OverQuota, Refused
from services.notifier.handlers import contacts, deliveries, endpoints, kafka_channel
from services.notifier.unit_of_work import NotifierUnits
from shared.topics import partner_topic
from tests.notifier.fakes import fake_units

QUOTAS = domain.Quotas(endpoints=2, contacts=1)
NOW = datetime(2026, 3, 1, tzinfo=UTC)


class FakeGuard:
    """Refuses the hosts it was told to, before any lookup."""

    def __init__(self, *refused: str) -> None:
        self.refused = refused
        self.checked: list[str] = []

    async def check(self, url: str) -> object:
        self.checked.append(url)
        if any(host in url for host in self.refused):
            raise Refused("address_not_allowed", f"{url}: private address")
        return url


async def _create(units: NotifierUnits, url: str, guard: FakeGuard | None = None) -> NewEndpoint:
    return await endpoints.create_endpoint(
        units, guard or FakeGuard(), QUOTAS, partner_id="p1", url=url, event_types=[], secret=None
    )


async def test_an_endpoint_gets_a_fresh_decodable_secret_when_none_is_given() -> None:
    units, store = fake_units()
    made = await _create(units, "https://a.example")
    assert domain.secret_problem(made.secret) is None
    assert store.endpoints[made.endpoint_id].secret == made.secret
    assert ("partner", "p1") in store.locks  # the quota count is serialised per partner


async def test_a_url_the_guard_refuses_creates_nothing() -> None:
    units, store = fake_units()
    with pytest.raises(Refused):
        await _create(units, "http://internal.example", FakeGuard("internal"))
    assert store.endpoints == {} and store.commits == 0  # refused before any unit opened


async def test_a_partner_at_its_endpoint_quota_is_refused_and_a_deleted_one_frees_room() -> None:
    units, store = fake_units()
    await _create(units, "https://a.example")
    second = await _create(units, "https://b.example")
    with pytest.raises(OverQuota, match="already has 2 endpoints"):
        await _create(units, "https://c.example")
    assert len(store.endpoints) == 2
    async with units() as uow:
        await endpoints.delete_endpoint(uow, "p1", second.endpoint_id)
    await _create(units, "https://c.example")


async def test_a_changed_url_is_checked_and_re_enabling_clears_the_failure_record() -> None:
    units, store = fake_units()
    made = await _create(units, "https://a.example")
    row = store.endpoints[made.endpoint_id]
    row.enabled, row.failing_since, row.disabled_reason = False, NOW, "gone"
    guard = FakeGuard("internal")
    with pytest.raises(Refused):
        await endpoints.update_endpoint(
            units, guard, "p1", made.endpoint_id, EndpointChanges(url="http://internal.x")
        )
    changed = await endpoints.update_endpoint(
        units, guard, "p1", made.endpoint_id, EndpointChanges(enabled=True, event_types=["x"])
    )
    assert (changed.enabled, changed.failing_since, changed.disabled_reason) == (True, None, None)
    assert (changed.url, changed.event_types) == ("https://a.example", ["x"])


async def test_another_partners_endpoint_is_not_found() -> None:
    units, _ = fake_units()
    made = await _create(units, "https://a.example")
    async with units() as uow:
        with pytest.raises(NotFound):
            await endpoints.get_endpoint(uow, "p2", made.endpoint_id)
        with pytest.raises(NotFound):
            await endpoints.delete_endpoint(uow, "p2", made.endpoint_id)
        with pytest.raises(NotFound):
            await endpoints.rotate_secret(uow, "p2", made.endpoint_id, None, overlap_until=NOW)
    with pytest.raises(NotFound):
        await endpoints.update_endpoint(
            units, FakeGuard(), "p2", made.endpoint_id, EndpointChanges(enabled=True)
        )


async def test_rotation_keeps_the_old_secret_signing_until_the_overlap_ends() -> None:
    units, store = fake_units()
    made = await _create(units, "https://a.example")
    until = NOW + timedelta(days=1)
    async with units() as uow:
        rotated = await endpoints.rotate_secret(
            uow, "p1", made.endpoint_id, None, overlap_until=until
        )
    row = store.endpoints[made.endpoint_id]
    assert (row.secret, row.previous_secret) == (rotated.secret, made.secret)
    assert domain.signing_secrets(row.secret, row.previous_secret, until, NOW) == [
        rotated.secret,
        made.secret,
    ]


async def test_contacts_are_within_quota_listed_and_deleted_once() -> None:
    units, _ = fake_units()
    async with units() as uow:
        made = await contacts.create_contact(
            uow,
            QUOTAS,
            partner_id="p1",
            email="a@example.org",
            name="A",
            language="fr",
            event_types=[],
        )
    async with units() as uow:
        with pytest.raises(OverQuota):
            await contacts.create_contact(
                uow,
                QUOTAS,
                partner_id="p1",
                email="b@example.org",
                name="B",
                language="en",
                event_types=[],
            )
    async with units() as uow:
        assert await contacts.list_contacts(uow, "p1") == [made]
        await contacts.delete_contact(uow, "p1", made.contact_id)
        with pytest.raises(NotFound):
            await contacts.delete_contact(uow, "p1", made.contact_id)
        assert await contacts.list_contacts(uow, "p1") == []


async def test_the_configured_secretariat_address_is_one_contact_however_often_configured() -> None:
    units, store = fake_units()
    for _ in range(2):
        async with units() as uow:
            await contacts.configure_secretariat(uow, "ops@example.org")
    [row] = store.contacts.values()
    assert (row.partner_id, row.email, row.name) == (
        domain.SECRETARIAT,
        "ops@example.org",
        "configured",
    )


async def test_a_kafka_channel_needs_the_partners_topic_to_be_writable() -> None:
    units, store = fake_units()

    async def writable(topic: str) -> bool:
        return topic == partner_topic("granted")

    with pytest.raises(domain.NoKafkaTenant, match="stax kafka grant partner p1"):
        await kafka_channel.enable_channel(units, writable, "p1", [])
    channel = await kafka_channel.enable_channel(units, writable, "granted", ["ta.request.matched"])
    assert (channel.topic, channel.event_types, channel.enabled) == (
        partner_topic("granted"),
        ["ta.request.matched"],
        True,
    )
    async with units() as uow:
        await kafka_channel.disable_channel(uow, "granted")
        with pytest.raises(NotFound):
            await kafka_channel.disable_channel(uow, "granted")
        assert not (await kafka_channel.get_channel(uow, "granted")).enabled
        with pytest.raises(NotFound):
            await kafka_channel.get_channel(uow, "p1")
    assert "p1" not in store.kafka_channels


async def _queued(units: NotifierUnits, partner: str) -> UUID:
    delivery_id = uuid4()
    async with units() as uow:
        contact = await uow.contacts.create(
            contact_id=uuid4(),
            partner_id=partner,
            email="a@example.org",
            name="",
            language="en",
            event_types=[],
        )
        await uow.deliveries.add(
            domain.NewDelivery(
                delivery_id=delivery_id,
                event_id=uuid4(),
                event_type="ta.assignment.offered",
                partner_id=partner,
                request_id=None,
                payload="{}",
                contact_id=contact.contact_id,
            )
        )
    return delivery_id


async def test_resending_puts_a_failed_delivery_back_and_refuses_a_pending_or_unknown_one() -> None:
    units, store = fake_units()
    delivery_id = await _queued(units, "p1")
    async with units() as uow:
        with pytest.raises(domain.AlreadyPending):
            await deliveries.resend(uow, delivery_id, NOW)
        with pytest.raises(NotFound):
            await deliveries.resend(uow, uuid4(), NOW)
    row = store.deliveries[delivery_id]
    row.status, row.attempts, row.failed_at = "failed", 8, NOW
    async with units() as uow:
        await deliveries.resend(uow, delivery_id, NOW + timedelta(hours=1))
    resent = store.deliveries[delivery_id].view()
    assert (resent.status, resent.attempts, resent.failed_at) == ("pending", 0, None)
    assert resent.next_attempt_at == NOW + timedelta(hours=1)


async def test_recovery_takes_back_the_failures_since_a_time_of_one_partner() -> None:
    units, store = fake_units()
    for partner in ("p1", "p1", "p2"):
        await _queued(units, partner)
    for n, row in enumerate(store.deliveries.values()):
        row.status, row.failed_at = "failed", NOW - timedelta(days=n)
    async with units() as uow:
        recovered = await deliveries.recover_failed(
            uow, since=NOW - timedelta(hours=1), partner_id="p1", now=NOW
        )
        listed = await deliveries.list_deliveries(uow, partner_id="p1", status="failed", limit=10)
    assert recovered == 1 and len(listed) == 1
