"""The delivery use case in memory (no PostgreSQL, no network): what is sent, how an outcome is
recorded, retried, announced, and when an endpoint is disabled. Senders are fakes; the real
ones are tested in test_webhooks.py, test_email.py and test_ssrf.py."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from services.notifier import domain
from services.notifier.domain import AttemptRecord, AttemptResult
from services.notifier.handlers.delivery import Channels, DeliveryRules, deliver_due
from services.notifier.unit_of_work import NotifierUnits
from tests.notifier.fakes import FakeDeliveries, NotifierStore, fake_units

START = datetime(2026, 3, 1, 12, tzinfo=UTC)
OK = AttemptResult(ok=True)
DOWN = AttemptResult(ok=False, error="HTTP 500")


@dataclass
class FakeClock:
    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Sent:
    to: str
    secrets: Sequence[str] = ()
    message_id: str = ""


@dataclass
class FakeSender:
    """Answers every send from a script (the last answer repeats) and keeps what it sent."""

    answers: list[AttemptResult] = field(default_factory=lambda: [OK])
    sent: list[Sent] = field(default_factory=list)
    raises: Exception | None = None

    def _answer(self, sent: Sent) -> AttemptResult:
        if self.raises is not None:
            raise self.raises
        self.sent.append(sent)
        return self.answers[min(len(self.sent), len(self.answers)) - 1]


class FakeWebhooks(FakeSender):
    async def send(
        self, *, url: str, secrets: Sequence[str], webhook_id: str, body: str, now: datetime
    ) -> AttemptResult:
        return self._answer(Sent(url, list(secrets), webhook_id))


class LeaseTakenMeanwhile(FakeWebhooks):
    """A send during which the lease ended and another worker leased the row again."""

    def __init__(self, store: NotifierStore, delivery_id: UUID) -> None:
        super().__init__()
        self._store, self._delivery_id = store, delivery_id

    async def send(
        self, *, url: str, secrets: Sequence[str], webhook_id: str, body: str, now: datetime
    ) -> AttemptResult:
        self._store.deliveries[self._delivery_id].claimed_until = now + timedelta(hours=1)
        return OK


class FakeMail(FakeSender):
    async def send(
        self, *, to: str, language: str, event_type: str, body: str, delivery_id: str
    ) -> AttemptResult:
        return self._answer(Sent(to, (), delivery_id))


@dataclass
class World:
    units: NotifierUnits
    store: NotifierStore
    webhooks: FakeWebhooks
    email: FakeMail
    clock: FakeClock
    rules: DeliveryRules

    async def deliver(self) -> bool:
        channels = Channels(self.webhooks, self.email)
        return await deliver_due(self.units, channels, self.rules, self.clock) > 0

    def outbox_types(self) -> list[str]:
        return [r.headers["ce_type"] for r in self.store.outbox]


def world(schedule: Sequence[float] = (0, 10, 10), *, disable_after_days: float = 5) -> World:
    units, store = fake_units()
    policy = domain.RetryPolicy(schedule, jitter=0.0, overload_penalty=0.0)
    rules = DeliveryRules(policy, lease_seconds=60, disable_after_days=disable_after_days)
    return World(units, store, FakeWebhooks(), FakeMail(), FakeClock(), rules)


async def _endpoint(w: World, partner: str = "p1", url: str = "https://hooks.example.org") -> UUID:
    endpoint_id = uuid4()
    async with w.units() as uow:
        await uow.endpoints.create(
            endpoint_id=endpoint_id, partner_id=partner, url=url, secret="whsec_new", event_types=[]
        )
    return endpoint_id


async def _contact(w: World, partner: str, email: str, event_types: list[str]) -> UUID:
    async with w.units() as uow:
        made = await uow.contacts.create(
            contact_id=uuid4(),
            partner_id=partner,
            email=email,
            name="",
            language="en",
            event_types=event_types,
        )
    return made.contact_id


async def _queue(
    w: World, *, endpoint_id: UUID | None = None, contact_id: UUID | None = None
) -> UUID:
    delivery_id = uuid4()
    body = domain.webhook_body("ta.assignment.offered", START, {"partner_id": "p1"})
    async with w.units() as uow:
        await uow.deliveries.add(
            domain.NewDelivery(
                delivery_id=delivery_id,
                event_id=uuid4(),
                event_type="ta.assignment.offered",
                partner_id="p1",
                request_id=uuid4(),
                payload=body,
                endpoint_id=endpoint_id,
                contact_id=contact_id,
            )
        )
    # Due from the fake clock's start (the table's default is the real time of the insert).
    w.store.deliveries[delivery_id].next_attempt_at = START
    return delivery_id


async def test_nothing_due_means_nothing_sent() -> None:
    w = world()
    assert not await w.deliver()
    assert w.webhooks.sent == [] and w.email.sent == []


async def test_a_delivered_webhook_is_recorded_and_announced() -> None:
    w = world()
    delivery_id = await _queue(w, endpoint_id=await _endpoint(w))
    assert await w.deliver()
    [sent] = w.webhooks.sent
    assert (sent.to, sent.secrets, sent.message_id) == (
        "https://hooks.example.org",
        ["whsec_new"],
        str(delivery_id),
    )
    row = w.store.deliveries[delivery_id]
    assert (row.status, row.attempts, row.delivered_at, row.claimed_until) == (
        "delivered",
        1,
        START,
        None,
    )
    assert w.outbox_types() == ["ta.notification.delivered"]


async def test_both_secrets_sign_during_a_rotations_overlap() -> None:
    w = world()
    endpoint_id = await _endpoint(w)
    async with w.units() as uow:
        until = START + timedelta(hours=1)
        await uow.endpoints.rotate_secret("p1", endpoint_id, secret="whsec_2", overlap_until=until)
    await _queue(w, endpoint_id=endpoint_id)
    await w.deliver()
    assert w.webhooks.sent[0].secrets == ["whsec_2", "whsec_new"]


async def test_a_failure_is_retried_on_the_schedule_with_the_same_id() -> None:
    w = world(schedule=(0, 10, 10))
    w.webhooks.answers = [DOWN, OK]
    delivery_id = await _queue(w, endpoint_id=await _endpoint(w))
    await w.deliver()
    row = w.store.deliveries[delivery_id]
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
    assert row.next_attempt_at == START + timedelta(seconds=10)
    assert w.outbox_types() == []  # nothing announced while it is retried
    w.clock.advance(5)
    assert not await w.deliver()  # not due yet
    w.clock.advance(5)
    assert await w.deliver()
    assert [s.message_id for s in w.webhooks.sent] == [str(delivery_id)] * 2
    assert w.store.deliveries[delivery_id].status == "delivered"


async def test_an_exhausted_delivery_fails_is_announced_and_the_secretariat_told() -> None:
    w = world(schedule=(0,))
    w.webhooks.answers = [DOWN]
    secretariat = await _contact(w, domain.SECRETARIAT, "ops@example.org", [])
    delivery_id = await _queue(w, endpoint_id=await _endpoint(w))
    await w.deliver()
    assert w.store.deliveries[delivery_id].status == "failed"
    assert w.outbox_types() == ["ta.notification.failed"]
    [notice] = [r for r in w.store.deliveries.values() if r.new.contact_id == secretariat]
    assert notice.new.event_type == "ta.notification.failed"
    assert json.loads(notice.new.payload)["data"]["delivery_id"] == str(delivery_id)


async def test_a_failed_notice_about_a_failure_tells_nobody() -> None:
    w = world(schedule=(0,))
    w.email.answers = [AttemptResult(ok=False, error="SMTP 550", permanent=True)]
    secretariat = await _contact(w, domain.SECRETARIAT, "ops@example.org", [])
    async with w.units() as uow:
        await uow.deliveries.add(
            domain.NewDelivery(
                delivery_id=uuid4(),
                event_id=uuid4(),
                event_type="ta.notification.failed",
                partner_id=domain.SECRETARIAT,
                request_id=None,
                payload=domain.webhook_body("ta.notification.failed", START, {}),
                contact_id=secretariat,
            )
        )
    for row in w.store.deliveries.values():
        row.next_attempt_at = START
    await w.deliver()
    assert len(w.store.deliveries) == 1  # no notice about the failed notice


async def test_an_attempt_that_raises_counts_as_a_failed_attempt() -> None:
    w = world(schedule=(0, 10))
    w.webhooks.raises = RuntimeError("bug in a sender")
    delivery_id = await _queue(w, endpoint_id=await _endpoint(w))
    assert await w.deliver()
    row = w.store.deliveries[delivery_id]
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "RuntimeError: bug in a sender"


async def test_a_410_disables_the_endpoint_and_its_contacts_are_told_whatever_their_filter() -> (
    None
):
    w = world()
    w.webhooks.answers = [AttemptResult(ok=False, error="HTTP 410", disable_endpoint=True)]
    endpoint_id = await _endpoint(w)
    contact = await _contact(w, "p1", "desk@example.org", ["ta.request.matched"])
    await _queue(w, endpoint_id=endpoint_id)
    await w.deliver()
    endpoint = w.store.endpoints[endpoint_id]
    assert not endpoint.enabled and endpoint.disabled_reason == "it answered HTTP 410 (gone)"
    [told] = [r for r in w.store.deliveries.values() if r.new.contact_id == contact]
    assert told.new.event_type == domain.ENDPOINT_DISABLED
    assert json.loads(told.new.payload)["data"]["endpoint_id"] == str(endpoint_id)


async def test_an_endpoint_failing_for_days_is_disabled_and_a_success_clears_its_record() -> None:
    w = world(schedule=(0, 0, 0, 0), disable_after_days=2)
    w.webhooks.answers = [DOWN, OK, DOWN, DOWN]
    endpoint_id = await _endpoint(w)
    await _queue(w, endpoint_id=endpoint_id)
    await w.deliver()
    assert w.store.endpoints[endpoint_id].failing_since == START
    await w.deliver()  # the retry succeeds
    assert w.store.endpoints[endpoint_id].failing_since is None
    await _queue(w, endpoint_id=endpoint_id)
    await w.deliver()
    w.clock.advance(timedelta(days=2).total_seconds())
    await w.deliver()
    assert not w.store.endpoints[endpoint_id].enabled


async def test_a_delivery_to_a_disabled_endpoint_fails_without_a_send_or_a_notice() -> None:
    w = world()
    secretariat = await _contact(w, domain.SECRETARIAT, "ops@example.org", [])
    endpoint_id = await _endpoint(w)
    delivery_id = await _queue(w, endpoint_id=endpoint_id)
    w.store.endpoints[endpoint_id].enabled = False
    await w.deliver()
    row = w.store.deliveries[delivery_id]
    assert (row.status, row.last_error) == ("failed", "endpoint disabled")
    assert w.webhooks.sent == []
    assert not any(r.new.contact_id == secretariat for r in w.store.deliveries.values())


async def test_an_email_goes_to_the_contact_and_a_removed_contact_gets_none() -> None:
    w = world()
    kept = await _contact(w, "p1", "desk@example.org", [])
    removed = await _contact(w, "p1", "gone@example.org", [])
    await _queue(w, contact_id=kept)
    gone_id = await _queue(w, contact_id=removed)
    async with w.units() as uow:
        await uow.contacts.delete("p1", removed)
    await w.deliver()
    await w.deliver()
    assert [s.to for s in w.email.sent] == ["desk@example.org"]
    assert w.store.deliveries[gone_id].last_error == "contact removed"


async def test_an_outcome_is_dropped_when_the_lease_ran_out_and_another_worker_owns_it() -> None:
    w = world()
    delivery_id = await _queue(w, endpoint_id=await _endpoint(w))
    w.webhooks = LeaseTakenMeanwhile(w.store, delivery_id)
    await w.deliver()
    row = w.store.deliveries[delivery_id]
    assert (row.status, row.attempts) == ("pending", 0)
    assert w.outbox_types() == []


async def test_a_leased_delivery_is_not_claimed_again_until_its_lease_ends() -> None:
    w = world()
    endpoint_id = await _endpoint(w)
    delivery_id = await _queue(w, endpoint_id=endpoint_id)
    async with w.units() as uow:
        first = await uow.deliveries.claim_due(
            now=START, lease_until=START + timedelta(seconds=60), max_in_flight_per_endpoint=2
        )
        again = await uow.deliveries.claim_due(
            now=START, lease_until=START + timedelta(seconds=60), max_in_flight_per_endpoint=2
        )
    assert first is not None and first.delivery_id == delivery_id and again is None
    w.clock.advance(61)
    assert await w.deliver()  # the lease ran out: sent again, with the same id
    assert w.webhooks.sent[0].message_id == str(delivery_id)


# ------------------------------------------------------------------ outcomes, group-committed


async def _five_due(w: World) -> list[UUID]:
    endpoint_id = await _endpoint(w)
    w.rules = dataclasses.replace(w.rules, batch=5, max_in_flight_per_endpoint=5)
    return [await _queue(w, endpoint_id=endpoint_id) for _ in range(5)]


async def test_outcomes_that_end_together_share_one_transaction() -> None:
    w = world()
    ids = await _five_due(w)
    commits = w.store.commits

    assert await w.deliver()

    assert w.store.commits - commits == 2  # the leases, then the five outcomes together
    assert [w.store.deliveries[i].status for i in ids] == ["delivered"] * 5
    assert w.outbox_types().count("ta.notification.delivered") == 5


async def test_an_outcome_that_cannot_be_recorded_does_not_lose_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shared transaction fails with it; the others are recorded one by one, and only the
    failing outcome's sender hears of it (its worker backs off; its lease runs out)."""
    w = world()
    ids = await _five_due(w)
    record_attempts = FakeDeliveries.record_attempts

    async def refusing(
        self: FakeDeliveries, attempts: Sequence[tuple[UUID, datetime, AttemptRecord]]
    ) -> set[UUID]:
        if any(delivery_id == ids[2] for delivery_id, _, _ in attempts):
            raise RuntimeError("this row cannot be written")
        return await record_attempts(self, attempts)

    monkeypatch.setattr(FakeDeliveries, "record_attempts", refusing)

    with pytest.raises(RuntimeError, match="cannot be written"):
        await w.deliver()

    statuses = [(w.store.deliveries[i].status, w.store.deliveries[i].attempts) for i in ids]
    assert statuses == [("delivered", 1)] * 2 + [("pending", 0)] + [("delivered", 1)] * 2
    assert w.outbox_types().count("ta.notification.delivered") == 4
