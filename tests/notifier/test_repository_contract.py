"""The repository contract: every repository method the handlers use, run on the in-memory fake
unit and on the PostgreSQL unit with the same test bodies, so the fake cannot drift from the
tables it stands for. Each test makes its own partner and ids (the database is shared)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.notifier.domain import (
    AttemptRecord,
    Claim,
    Delivery,
    EmailTarget,
    EndpointChanges,
    NewDelivery,
    WebhookTarget,
)
from services.notifier.unit_of_work import NotifierUnitOfWork, NotifierUnits, pg_units
from shared import sign_in_links
from shared.envelope import build_record
from shared.events import Channel, NotificationFailed, PortalSignInRequested
from tests.notifier.fakes import fake_units

# The tests' clock: a day ahead, so every row the tables date `now()` is due by it.
NOW = datetime.now(UTC) + timedelta(days=1)
LEASE = NOW + timedelta(seconds=60)


@pytest.fixture
def partner(unique: str) -> str:
    return f"contract-{unique}"


@pytest.fixture(params=["fake", "postgres"])
def units(request: pytest.FixtureRequest, pool: asyncpg.Pool) -> NotifierUnits:
    return fake_units()[0] if request.param == "fake" else pg_units(pool)


@pytest.fixture(scope="module", autouse=True)
async def _no_deliveries_left(pool: asyncpg.Pool) -> AsyncIterator[None]:
    yield
    # Left pending, they would be due for the notifiers later tests start.
    await pool.execute("DELETE FROM notifier.deliveries WHERE partner_id LIKE 'contract-%'")


async def _endpoint(units: NotifierUnits, partner: str, event_types: list[str]) -> UUID:
    endpoint_id = uuid4()
    async with units() as uow:
        await uow.endpoints.create(
            endpoint_id=endpoint_id,
            partner_id=partner,
            url="https://hooks.example.org/a",
            secret="whsec_one",
            event_types=event_types,
        )
    return endpoint_id


async def _contact(units: NotifierUnits, partner: str, email: str = "a@example.org") -> UUID:
    async with units() as uow:
        made = await uow.contacts.create(
            contact_id=uuid4(),
            partner_id=partner,
            email=email,
            name="A",
            language="fr",
            event_types=["ta.request.matched"],
        )
    return made.contact_id


def _new(
    partner: str,
    *,
    endpoint_id: UUID | None = None,
    contact_id: UUID | None = None,
    event_id: UUID | None = None,
    request_id: UUID | None = None,
    payload: str = "{}",
) -> NewDelivery:
    return NewDelivery(
        delivery_id=uuid4(),
        event_id=event_id or uuid4(),
        event_type="ta.assignment.offered",
        partner_id=partner,
        request_id=request_id,
        payload=payload,
        endpoint_id=endpoint_id,
        contact_id=contact_id,
    )


async def _claim(
    uow: NotifierUnitOfWork, partner: str, *, cap: int = 2, limit: int = 3
) -> list[Delivery]:
    """A worker's claim at NOW, scoped to the test's partner: what it leased."""
    return (await _claim_with_news(uow, partner, cap=cap, limit=limit)).deliveries


async def _claim_with_news(
    uow: NotifierUnitOfWork, partner: str, *, cap: int = 2, limit: int = 3
) -> Claim:
    return await uow.deliveries.claim_batch(
        now=NOW, lease_until=LEASE, max_in_flight_per_endpoint=cap, partners=[partner], limit=limit
    )


async def _record(
    uow: NotifierUnitOfWork, delivery_id: UUID, lease: datetime, outcome: AttemptRecord
) -> bool:
    """One attempt's outcome stored on its own: whether it was."""
    return delivery_id in await uow.deliveries.record_attempts([(delivery_id, lease, outcome)])


# ------------------------------------------------------------------------------ endpoints


async def test_endpoints_are_created_counted_listed_and_subscribed(
    units: NotifierUnits, partner: str
) -> None:
    first = await _endpoint(units, partner, [])
    second = await _endpoint(units, partner, ["ta.request.matched"])
    async with units() as uow:
        await uow.endpoints.lock_partner(partner)
        assert await uow.endpoints.count(partner) == 2
        listed = await uow.endpoints.of_partner(partner)
        subscribed = (await uow.subscribers.of_partner(partner)).endpoints
        found = await uow.endpoints.get(partner, first)
        assert await uow.endpoints.get("someone-else", first) is None
    assert [e.endpoint_id for e in listed] == [first, second]
    assert {(s.target_id, tuple(s.event_types)) for s in subscribed} == {
        (first, ()),
        (second, ("ta.request.matched",)),
    }
    assert found is not None
    assert (found.url, found.enabled, found.failing_since, found.disabled_reason) == (
        "https://hooks.example.org/a",
        True,
        None,
        None,
    )


async def test_an_endpoint_update_changes_what_is_given_and_re_enabling_clears_failures(
    units: NotifierUnits, partner: str
) -> None:
    endpoint_id = await _endpoint(units, partner, [])
    async with units() as uow:
        await uow.endpoints.failed(endpoint_id, NOW)
        await uow.endpoints.disable(endpoint_id, "gone")
        changed = await uow.endpoints.update(
            partner, endpoint_id, EndpointChanges(event_types=["ta.request.matched"])
        )
        assert changed is not None
        assert (changed.enabled, changed.disabled_reason) == (False, "gone")
        assert changed.event_types == ["ta.request.matched"]
        enabled = await uow.endpoints.update(partner, endpoint_id, EndpointChanges(enabled=True))
        assert enabled is not None
        assert (enabled.enabled, enabled.failing_since, enabled.disabled_reason) == (
            True,
            None,
            None,
        )
        assert enabled.url == "https://hooks.example.org/a"
        assert await uow.endpoints.update("other", endpoint_id, EndpointChanges()) is None


async def test_a_deleted_endpoint_is_gone_from_every_view_and_frees_its_quota(
    units: NotifierUnits, partner: str
) -> None:
    endpoint_id = await _endpoint(units, partner, [])
    async with units() as uow:
        assert await uow.endpoints.delete(partner, endpoint_id)
        assert not await uow.endpoints.delete(partner, endpoint_id)
        assert await uow.endpoints.count(partner) == 0
        assert await uow.endpoints.of_partner(partner) == []
        assert (await uow.subscribers.of_partner(partner)).endpoints == []
        assert await uow.endpoints.get(partner, endpoint_id) is None
        assert not await uow.endpoints.rotate_secret(
            partner, endpoint_id, secret="whsec_two", overlap_until=LEASE
        )


async def test_a_disabled_endpoint_still_counts_but_receives_nothing(
    units: NotifierUnits, partner: str
) -> None:
    endpoint_id = await _endpoint(units, partner, [])
    async with units() as uow:
        disabled = await uow.endpoints.disable(endpoint_id, "it answered HTTP 410 (gone)")
        assert await uow.endpoints.disable(endpoint_id, "again") is None  # told once
        assert await uow.endpoints.count(partner) == 1
        assert (await uow.subscribers.of_partner(partner)).endpoints == []
    assert disabled is not None
    assert (disabled.endpoint_id, disabled.partner_id) == (endpoint_id, partner)


async def test_failures_start_a_run_that_a_success_ends(units: NotifierUnits, partner: str) -> None:
    endpoint_id = await _endpoint(units, partner, [])
    async with units() as uow:
        assert await uow.endpoints.failed(endpoint_id, NOW) == NOW
        assert await uow.endpoints.failed(endpoint_id, NOW + timedelta(days=1)) == NOW
        await uow.endpoints.succeeded(endpoint_id)
        found = await uow.endpoints.get(partner, endpoint_id)
    assert found is not None and found.failing_since is None


async def test_a_rotation_keeps_the_previous_secret_until_the_overlap_ends(
    units: NotifierUnits, partner: str
) -> None:
    endpoint_id = await _endpoint(units, partner, [])
    await _contact(units, partner)
    async with units() as uow:
        assert await uow.endpoints.rotate_secret(
            partner, endpoint_id, secret="whsec_two", overlap_until=LEASE
        )
        await uow.deliveries.add(_new(partner, endpoint_id=endpoint_id))
        claimed = await uow.deliveries.claim_due(
            now=NOW, lease_until=LEASE, max_in_flight_per_endpoint=2, partners=[partner]
        )
    assert claimed is not None and isinstance(claimed.target, WebhookTarget)
    target = claimed.target
    assert (target.secret, target.previous_secret, target.previous_secret_until) == (
        "whsec_two",
        "whsec_one",
        LEASE,
    )


# ------------------------------------------------------------------------------ contacts


async def test_contacts_are_created_counted_listed_and_deleted_once(
    units: NotifierUnits, partner: str
) -> None:
    contact_id = await _contact(units, partner)
    async with units() as uow:
        await uow.contacts.lock_partner(partner)
        assert await uow.contacts.count(partner) == 1
        [listed] = await uow.contacts.of_partner(partner)
        [subscribed] = (await uow.subscribers.of_partner(partner)).contacts
        assert await uow.contacts.delete(partner, contact_id)
        assert not await uow.contacts.delete(partner, contact_id)
        assert await uow.contacts.count(partner) == 0
        assert await uow.contacts.of_partner(partner) == []
    assert (listed.contact_id, listed.email, listed.language, listed.enabled) == (
        contact_id,
        "a@example.org",
        "fr",
        True,
    )
    assert (subscribed.target_id, list(subscribed.event_types)) == (
        contact_id,
        ["ta.request.matched"],
    )


async def test_an_ensured_contact_is_made_once_with_the_tables_defaults(
    units: NotifierUnits, partner: str
) -> None:
    contact_id = uuid4()
    for _ in range(2):
        async with units() as uow:
            await uow.contacts.ensure(contact_id=contact_id, partner_id=partner, email="o@x.org")
    async with units() as uow:
        [made] = await uow.contacts.of_partner(partner)
    assert (made.contact_id, made.name, made.language, made.event_types) == (
        contact_id,
        "configured",
        "en",
        [],
    )


async def test_an_address_digest_finds_the_enabled_contacts_of_partners_only(
    units: NotifierUnits, partner: str, unique: str
) -> None:
    address = f"desk-{unique}@example.org"
    # Stored as typed: intake sends the digest of the trimmed, lower-cased address.
    first = await _contact(units, partner, email=f"  Desk-{unique}@Example.ORG ")
    second = await _contact(units, f"{partner}-b", email=address)
    gone = await _contact(units, f"{partner}-c", email=address)
    await _contact(units, partner, email=f"other-{unique}@example.org")
    async with units() as uow:
        assert await uow.contacts.delete(f"{partner}-c", gone)
        await uow.requesters.save_contact(
            contact_id=uuid4(),
            request_id=uuid4(),
            party="SEN",
            email=address,
            name="A requester",
            language="fr",
        )
    async with units() as uow:
        found = await uow.contacts.with_address_digest(sign_in_links.email_digest(address))
        nobody = await uow.contacts.with_address_digest(sign_in_links.email_digest("x@y.org"))
    assert [(c.contact_id, c.partner_id) for c in found] == [
        (first, partner),
        (second, f"{partner}-b"),
    ]
    assert nobody == []


# ------------------------------------------------------------------------------ requesters


async def test_a_requester_contact_is_recorded_once_then_erased_to_a_tombstone(
    units: NotifierUnits,
) -> None:
    request_id, contact_id = uuid4(), uuid4()
    async with units() as uow:
        await uow.requesters.lock(request_id)
        assert await uow.requesters.contact(request_id) is None
        for email in ("first@example.org", "replay@example.org"):
            await uow.requesters.save_contact(
                contact_id=contact_id,
                request_id=request_id,
                party="SEN",
                email=email,
                name="A. Ndiaye",
                language="es",
            )
        found = await uow.requesters.contact(request_id)
        await uow.requesters.erase(contact_id, request_id)
        erased = await uow.requesters.contact(request_id)
    assert found is not None and (found.contact_id, found.party, found.enabled) == (
        contact_id,
        "SEN",
        True,
    )
    assert erased is not None and not erased.enabled


async def test_an_erasure_before_the_contact_leaves_a_tombstone_a_replay_cannot_fill(
    units: NotifierUnits,
) -> None:
    request_id, contact_id = uuid4(), uuid4()
    async with units() as uow:
        await uow.requesters.erase(contact_id, request_id)
        await uow.requesters.save_contact(
            contact_id=contact_id,
            request_id=request_id,
            party="SEN",
            email="late@example.org",
            name="A",
            language="en",
        )
        found = await uow.requesters.contact(request_id)
    assert found is not None and not found.enabled


async def test_pending_notices_wait_once_and_are_taken_or_dropped(
    units: NotifierUnits,
) -> None:
    request_id, other, event_id = uuid4(), uuid4(), uuid4()
    async with units() as uow:
        await uow.requesters.add_pending(request_id, event_id, "ta.assignment.accepted", "{1}")
        await uow.requesters.add_pending(request_id, event_id, "ta.assignment.accepted", "{2}")
        await uow.requesters.add_pending(other, uuid4(), "ta.request.matched", "{}")
        taken = await uow.requesters.take_pending(request_id)
        assert await uow.requesters.take_pending(request_id) == []
        await uow.requesters.drop_pending(other)
        assert await uow.requesters.take_pending(other) == []
    assert [(t.event_id, t.event_type, t.payload) for t in taken] == [
        (event_id, "ta.assignment.accepted", "{1}")
    ]


# ------------------------------------------------------------------------------ Kafka channels


async def test_a_kafka_channel_is_put_read_disabled_and_put_again(
    units: NotifierUnits, partner: str
) -> None:
    async with units() as uow:
        assert await uow.kafka_channels.get(partner) is None
        put = await uow.kafka_channels.put(partner, f"ta.partner.{partner}.v1", [])
        assert (await uow.subscribers.of_partner(partner)).channel == put
        assert await uow.kafka_channels.disable(partner)
        assert not await uow.kafka_channels.disable(partner)
        assert (await uow.subscribers.of_partner(partner)).channel is None
        disabled = await uow.kafka_channels.get(partner)
        again = await uow.kafka_channels.put(partner, "ignored", ["ta.request.matched"])
    assert disabled is not None and not disabled.enabled
    assert (again.topic, again.event_types, again.enabled) == (
        f"ta.partner.{partner}.v1",
        ["ta.request.matched"],
        True,
    )
    assert again.created_at == put.created_at


async def test_a_partners_subscribers_are_its_own_enabled_contacts_endpoints_and_channel(
    units: NotifierUnits, partner: str
) -> None:
    endpoint_id = await _endpoint(units, partner, ["ta.request.matched"])
    off = await _endpoint(units, partner, [])
    contact_id = await _contact(units, partner)
    await _endpoint(units, f"{partner}-other", [])
    await _contact(units, f"{partner}-other")
    async with units() as uow:
        await uow.endpoints.disable(off, "it answered HTTP 410 (gone)")
        channel = await uow.kafka_channels.put(partner, f"ta.partner.{partner}.v1", [])
        await uow.kafka_channels.put(f"{partner}-other", f"ta.partner.{partner}-other.v1", [])
        found = await uow.subscribers.of_partner(partner)
    assert found.partner_id == partner
    assert [(s.target_id, list(s.event_types)) for s in found.endpoints] == [
        (endpoint_id, ["ta.request.matched"])
    ]
    assert [s.target_id for s in found.contacts] == [contact_id]
    assert found.channel == channel


# ------------------------------------------------------------------------------ deliveries


async def test_an_event_has_one_delivery_per_target_however_often_it_is_added(
    units: NotifierUnits, partner: str
) -> None:
    endpoint_id = await _endpoint(units, partner, [])
    contact_id = await _contact(units, partner)
    event_id = uuid4()
    for _ in range(2):  # twice in one unit (one statement), then redelivered in another
        async with units() as uow:
            for _ in range(2):
                await uow.deliveries.add(_new(partner, endpoint_id=endpoint_id, event_id=event_id))
                await uow.deliveries.add(_new(partner, contact_id=contact_id, event_id=event_id))
    async with units() as uow:
        listed = await uow.deliveries.recent(partner_id=partner, status=None, limit=10)
    assert sorted(d.channel for d in listed) == ["email", "webhook"]
    assert {d.status for d in listed} == {"pending"}


async def test_what_a_unit_queued_is_seen_by_its_later_reads_and_gone_if_it_rolls_back(
    units: NotifierUnits, partner: str
) -> None:
    contact_id = await _contact(units, partner)
    queued = _new(partner, contact_id=contact_id)
    with pytest.raises(RuntimeError, match="undone"):
        async with units() as uow:
            await uow.deliveries.add(queued)
            assert await uow.deliveries.exists(queued.delivery_id)
            raise RuntimeError("undone")
    async with units() as uow:
        assert not await uow.deliveries.exists(queued.delivery_id)
        await uow.deliveries.add(queued)
    async with units() as uow:
        assert await uow.deliveries.exists(queued.delivery_id)


async def test_claiming_leases_the_first_attempts_first_with_what_sending_needs(
    units: NotifierUnits, partner: str
) -> None:
    contact_id = await _contact(units, partner)
    retry, fresh = _new(partner, contact_id=contact_id), _new(partner, contact_id=contact_id)
    async with units() as uow:
        await uow.deliveries.add(retry)
        await uow.deliveries.add(fresh)
    async with units() as uow:  # the first is attempted and failed once
        claimed = await uow.deliveries.claim_due(
            now=NOW, lease_until=LEASE, max_in_flight_per_endpoint=2, partners=[partner]
        )
        assert claimed is not None
        outcome = AttemptRecord("pending", "SMTP 451", NOW - timedelta(seconds=1), NOW)
        assert await _record(uow, claimed.delivery_id, claimed.lease, outcome)
    async with units() as uow:
        second = await uow.deliveries.claim_due(
            now=NOW, lease_until=LEASE, max_in_flight_per_endpoint=2, partners=[partner]
        )
    assert second is not None and second.delivery_id != claimed.delivery_id
    assert second.attempts == 0 and second.lease == LEASE
    assert second.target == EmailTarget(contact_id, "a@example.org", "fr", True)


async def test_a_leased_delivery_is_not_due_and_an_endpoint_holds_at_most_its_cap(
    units: NotifierUnits, partner: str
) -> None:
    endpoint_id = await _endpoint(units, partner, [])
    async with units() as uow:
        for _ in range(3):
            await uow.deliveries.add(_new(partner, endpoint_id=endpoint_id))
    claimed = []
    for _ in range(3):
        async with units() as uow:
            claimed.append(
                await uow.deliveries.claim_due(
                    now=NOW, lease_until=LEASE, max_in_flight_per_endpoint=2, partners=[partner]
                )
            )
    assert claimed[0] is not None and claimed[1] is not None and claimed[2] is None
    assert claimed[0].delivery_id != claimed[1].delivery_id
    async with units() as uow:  # after the leases ran out, the rows are due again
        later = LEASE + timedelta(seconds=1)
        again = await uow.deliveries.claim_due(
            now=later, lease_until=later + timedelta(seconds=60), max_in_flight_per_endpoint=2
        )
    assert again is not None


async def test_a_claim_says_when_it_left_deliveries_waiting_for_an_endpoints_cap(
    units: NotifierUnits, partner: str
) -> None:
    # What tells a worker to look again once its sends end: nothing else announces that a
    # lease was let go (tests/notifier/test_workers.py shows the worker's side).
    busy = await _endpoint(units, partner, [])
    quiet = await _endpoint(units, partner, [])
    contact_id = await _contact(units, partner)
    async with units() as uow:
        await uow.deliveries.add(_new(partner, endpoint_id=quiet))
        await uow.deliveries.add(_new(partner, contact_id=contact_id))
    async with units() as uow:  # one for an endpoint with room to spare, one e-mail
        calm = await _claim_with_news(uow, partner, cap=2, limit=5)
    assert len(calm.deliveries) == 2
    assert not calm.held_back
    async with units() as uow:
        for _ in range(3):
            await uow.deliveries.add(_new(partner, endpoint_id=busy))
    async with units() as uow:  # the busy endpoint's cap of 2 leaves its third due
        capped = await _claim_with_news(uow, partner, cap=2, limit=5)
    assert len(capped.deliveries) == 2
    assert capped.held_back


async def test_a_batch_claim_takes_the_most_urgent_first_and_keeps_each_endpoints_cap(
    units: NotifierUnits, partner: str
) -> None:
    endpoint_id = await _endpoint(units, partner, [])
    contact_id = await _contact(units, partner)
    hooks = [_new(partner, endpoint_id=endpoint_id) for _ in range(4)]
    mails = [_new(partner, contact_id=contact_id) for _ in range(2)]
    async with units() as uow:
        for new in [*hooks, *mails]:
            await uow.deliveries.add(new)
    async with units() as uow:
        first = await _claim(uow, partner, cap=3, limit=5)
    # Five asked for: the endpoint's cap of 3 leaves its fourth due; both e-mails are taken.
    assert len(first) == 5
    assert sum(isinstance(d.target, EmailTarget) for d in first) == 2
    assert {d.lease for d in first} == {LEASE}
    async with units() as uow:  # the cap counts the leases committed before
        second = await _claim(uow, partner, cap=3, limit=5)
    assert second == []
    async with units() as uow:
        third = await _claim(uow, partner, cap=4, limit=5)
    taken = {d.delivery_id for d in [*first, *third]}
    assert taken == {n.delivery_id for n in [*hooks, *mails]}


async def test_a_backlog_at_an_endpoints_cap_never_holds_up_the_deliveries_behind_it(
    units: NotifierUnits, partner: str
) -> None:
    """A claim looks at a bounded window of the due rows; an endpoint at its cap is passed
    over, so its backlog (older, so first in line) never fills that window."""
    endpoint_id = await _endpoint(units, partner, [])
    contact_id = await _contact(units, partner)
    async with units() as uow:
        for _ in range(30):
            await uow.deliveries.add(_new(partner, endpoint_id=endpoint_id))
        mail = _new(partner, contact_id=contact_id)
        await uow.deliveries.add(mail)

    async def claim() -> list[Delivery]:
        async with units() as uow:
            return await _claim(uow, partner, limit=2)

    first = await claim()
    assert [d.target.endpoint_id for d in first if isinstance(d.target, WebhookTarget)] == [
        endpoint_id,
        endpoint_id,
    ]
    assert [d.delivery_id for d in await claim()] == [mail.delivery_id]


async def test_workers_claiming_at_once_never_lease_a_delivery_twice(
    units: NotifierUnits, partner: str
) -> None:
    """Many claims racing over the same rows: each row is leased once. (PostgreSQL re-checks a
    row claimed meanwhile only against the conditions of the locking query's own level.)"""
    contact_id = await _contact(units, partner)
    async with units() as uow:
        for _ in range(120):
            await uow.deliveries.add(_new(partner, contact_id=contact_id))
    claimed: list[UUID] = []

    async def worker() -> None:
        while True:
            async with units() as uow:
                batch = await _claim(uow, partner)
            if not batch:
                return
            claimed.extend(d.delivery_id for d in batch)

    await asyncio.gather(*(worker() for _ in range(12)))
    assert len(claimed) == 120 and len(set(claimed)) == 120


async def test_a_claim_waits_for_one_in_progress_on_its_endpoint_and_then_counts_its_leases(
    pool: asyncpg.Pool, partner: str
) -> None:
    """PostgreSQL only (the fake has no transactions in progress). A claim's cap filter reads a
    snapshot without the leases of a claim not committed yet. Here the first claim leases an
    endpoint's two retries (its cap), then a fresh delivery arrives, which goes before retries:
    the second claim picks it, waits on the endpoint's lock for the first to end, and its
    recount then sees the first's two leases, so it leases nothing."""
    units = pg_units(pool)
    endpoint_id = await _endpoint(units, partner, [])
    retries = [_new(partner, endpoint_id=endpoint_id) for _ in range(2)]
    async with units() as uow:
        for new in retries:
            await uow.deliveries.add(new)
    await pool.execute(  # attempted once, due again
        "UPDATE notifier.deliveries SET attempts = 1 WHERE delivery_id = ANY($1::uuid[])",
        [n.delivery_id for n in retries],
    )
    first_claimed, first_may_end = asyncio.Event(), asyncio.Event()

    async def claim(hold: bool) -> list[Delivery]:
        async with units() as uow:
            claimed = await _claim(uow, partner)
            if hold:
                first_claimed.set()
                await first_may_end.wait()
        return claimed

    first = asyncio.create_task(claim(hold=True))
    second: asyncio.Task[list[Delivery]] | None = None
    try:
        await asyncio.wait_for(first_claimed.wait(), 10)
        async with units() as uow:
            await uow.deliveries.add(_new(partner, endpoint_id=endpoint_id))
        second = asyncio.create_task(claim(hold=False))
        await asyncio.sleep(0.5)
        waited = not second.done()  # on the endpoint's lock
    finally:
        first_may_end.set()
        done = await asyncio.wait_for(asyncio.gather(first, *filter(None, [second])), 10)
    assert waited
    assert [len(claimed) for claimed in done] == [2, 0]  # the first's leases fill the cap


async def test_an_outcome_is_recorded_only_under_the_lease_it_was_claimed_with(
    units: NotifierUnits, partner: str
) -> None:
    contact_id = await _contact(units, partner)
    async with units() as uow:
        await uow.deliveries.add(_new(partner, contact_id=contact_id))
        claimed = await uow.deliveries.claim_due(
            now=NOW, lease_until=LEASE, max_in_flight_per_endpoint=2, partners=[partner]
        )
        assert claimed is not None
        delivered = AttemptRecord("delivered", None, None, NOW)
        assert not await _record(uow, claimed.delivery_id, LEASE + timedelta(seconds=1), delivered)
        assert await _record(uow, claimed.delivery_id, LEASE, delivered)
        assert not await _record(uow, claimed.delivery_id, LEASE, delivered)
        [row] = await uow.deliveries.recent(partner_id=partner, status="delivered", limit=5)
    assert (row.attempts, row.delivered_at, row.last_attempt_at, row.failed_at) == (
        1,
        NOW,
        NOW,
        None,
    )


async def test_outcomes_stored_together_each_need_their_own_lease(
    units: NotifierUnits, partner: str
) -> None:
    contact_id = await _contact(units, partner)
    async with units() as uow:
        for _ in range(3):
            await uow.deliveries.add(_new(partner, contact_id=contact_id))
        done, retried, stale = await _claim(uow, partner, cap=3)
        later = NOW + timedelta(minutes=5)
        recorded = await uow.deliveries.record_attempts(
            [
                (done.delivery_id, done.lease, AttemptRecord("delivered", None, None, NOW)),
                (retried.delivery_id, LEASE, AttemptRecord("pending", "SMTP 451", later, NOW)),
                (
                    stale.delivery_id,
                    LEASE - timedelta(seconds=1),
                    AttemptRecord("failed", "x", None, NOW),
                ),
            ]
        )
        assert recorded == {done.delivery_id, retried.delivery_id}
        rows = {
            r.delivery_id: r
            for r in await uow.deliveries.recent(partner_id=partner, status=None, limit=5)
        }
    assert (rows[done.delivery_id].status, rows[done.delivery_id].delivered_at) == (
        "delivered",
        NOW,
    )
    assert (rows[retried.delivery_id].status, rows[retried.delivery_id].last_error) == (
        "pending",
        "SMTP 451",
    )
    assert (rows[stale.delivery_id].attempts, rows[stale.delivery_id].last_error) == (0, None)


async def test_resend_and_recover_put_failed_deliveries_back_to_pending(
    units: NotifierUnits, partner: str
) -> None:
    contact_id = await _contact(units, partner)
    async with units() as uow:
        for _ in range(2):
            await uow.deliveries.add(_new(partner, contact_id=contact_id))
    for _ in range(2):
        async with units() as uow:
            claimed = await uow.deliveries.claim_due(
                now=NOW, lease_until=LEASE, max_in_flight_per_endpoint=2, partners=[partner]
            )
            assert claimed is not None
            failed = AttemptRecord("failed", "SMTP 550", None, NOW)
            await _record(uow, claimed.delivery_id, LEASE, failed)
    async with units() as uow:
        first, second = await uow.deliveries.recent(partner_id=partner, status="failed", limit=5)
        assert await uow.deliveries.resend(first.delivery_id, NOW)
        assert not await uow.deliveries.resend(first.delivery_id, NOW)  # pending already
        assert await uow.deliveries.exists(first.delivery_id)
        assert not await uow.deliveries.exists(uuid4())
        since = NOW - timedelta(seconds=1)
        assert await uow.deliveries.recover_failed(since=since, partner_id="other", now=NOW) == 0
        assert await uow.deliveries.recover_failed(since=since, partner_id=partner, now=NOW) == 1
        pending = await uow.deliveries.recent(partner_id=partner, status="pending", limit=5)
    assert {(d.attempts, d.failed_at, d.next_attempt_at) for d in pending} == {(0, None, NOW)}
    assert {d.delivery_id for d in pending} == {first.delivery_id, second.delivery_id}


async def test_a_requests_bodies_lose_the_contact_and_mail_to_it_its_errors(
    units: NotifierUnits, partner: str
) -> None:
    request_id, contact_id = uuid4(), uuid4()
    body = json.dumps({"type": "t", "data": {"contact": {"name": "A"}, "title": "T"}})
    async with units() as uow:
        await uow.requesters.save_contact(
            contact_id=contact_id,
            request_id=request_id,
            party="SEN",
            email="a@example.org",
            name="A",
            language="en",
        )
        await uow.deliveries.add(
            _new(partner, contact_id=contact_id, request_id=request_id, payload=body)
        )
        claimed = await uow.deliveries.claim_due(
            now=NOW, lease_until=LEASE, max_in_flight_per_endpoint=2, partners=[partner]
        )
        assert claimed is not None
        failed = AttemptRecord("failed", "550 a@example.org unknown", None, NOW)
        await _record(uow, claimed.delivery_id, LEASE, failed)
        await uow.deliveries.redact_request(request_id, contact_id)
        [row] = await uow.deliveries.recent(partner_id=partner, status=None, limit=5)
        claimed_again = await uow.deliveries.resend(row.delivery_id, NOW)
        redone = await uow.deliveries.claim_due(
            now=NOW, lease_until=LEASE, max_in_flight_per_endpoint=2, partners=[partner]
        )
    assert row.last_error is None and claimed_again
    assert redone is not None and json.loads(redone.payload)["data"] == {"title": "T"}


async def test_a_contacts_recent_deliveries_of_one_type_are_found_within_a_window(
    units: NotifierUnits, partner: str
) -> None:
    contact_id = await _contact(units, partner)
    other = await _contact(units, partner, email="b@example.org")
    sign_in = PortalSignInRequested.ce_type
    minute = timedelta(seconds=60)
    async with units() as uow:
        await uow.deliveries.add(
            dataclasses.replace(_new(partner, contact_id=contact_id), event_type=sign_in)
        )
        assert await uow.deliveries.queued_within(contact_id, sign_in, minute)  # same unit
    async with units() as uow:
        assert await uow.deliveries.queued_within(contact_id, sign_in, minute)
        assert not await uow.deliveries.queued_within(contact_id, "ta.assignment.offered", minute)
        assert not await uow.deliveries.queued_within(other, sign_in, minute)
        assert not await uow.deliveries.queued_within(contact_id, sign_in, timedelta(0))
    await asyncio.sleep(0.3)
    async with units() as uow:  # the window is counted back from now, the unit's time
        assert not await uow.deliveries.queued_within(contact_id, sign_in, timedelta(seconds=0.2))


# ------------------------------------------------------------------------------ the unit


async def test_a_failed_unit_keeps_nothing_and_a_committed_one_everything(
    units: NotifierUnits, partner: str
) -> None:
    with pytest.raises(RuntimeError):
        async with units() as uow:
            await uow.endpoints.create(
                endpoint_id=uuid4(),
                partner_id=partner,
                url="https://x.example",
                secret="whsec_x",
                event_types=[],
            )
            raise RuntimeError("the handler fails")
    async with units() as uow:
        assert await uow.endpoints.count(partner) == 0


async def test_the_inbox_claims_an_event_once(units: NotifierUnits) -> None:
    ce_id = uuid4()
    async with units() as uow:
        assert await uow.claim("notifier.contract", ce_id)
    async with units() as uow:
        assert not await uow.claim("notifier.contract", ce_id)


async def test_an_erasure_redacts_the_queued_failures_of_its_request(
    units: NotifierUnits, partner: str
) -> None:
    request_id = uuid4()
    failed = NotificationFailed(
        delivery_id=uuid4(),
        event_id=uuid4(),
        request_id=request_id,
        partner_id=partner,
        channel=Channel.EMAIL,
        attempts=1,
        last_error="550 a@example.org unknown",
    )
    record = build_record(failed, source="/stax/notifier", subject=str(request_id))
    async with units() as uow:
        await uow.emit([record])
        await uow.redact_outbox(request_id, [NotificationFailed.ce_type], ["last_error"])
