"""notifier's unit of work in memory: the same repositories as repositories/, over dicts.

Handler tests run on it without PostgreSQL; test_repository_contract.py runs the same tests on
it and on PostgreSQL, so it behaves like the real tables (defaults, uniqueness, leases)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from services.notifier.domain import (
    AttemptRecord,
    Claim,
    Contact,
    Delivery,
    DeliveryStatus,
    DisabledEndpoint,
    EmailTarget,
    Endpoint,
    EndpointChanges,
    KafkaChannel,
    NewDelivery,
    PendingNotice,
    RequesterContact,
    Subscriber,
    Subscribers,
    WebhookTarget,
)
from services.notifier.unit_of_work import NotifierUnits
from shared.uow import FakeStore, FakeUnitOfWork


def _now() -> datetime:
    # What the tables' `DEFAULT now()` gives: the time of the write.
    return datetime.now(UTC)


@dataclass
class EndpointRow:
    endpoint_id: UUID
    partner_id: str
    url: str
    secret: str
    event_types: list[str]
    enabled: bool = True
    deleted: bool = False
    disabled_reason: str | None = None
    failing_since: datetime | None = None
    previous_secret: str | None = None
    previous_secret_until: datetime | None = None
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)

    def view(self) -> Endpoint:
        return Endpoint(
            endpoint_id=self.endpoint_id,
            partner_id=self.partner_id,
            url=self.url,
            event_types=list(self.event_types),
            enabled=self.enabled,
            disabled_reason=self.disabled_reason,
            failing_since=self.failing_since,
            previous_secret_until=self.previous_secret_until,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


@dataclass
class ContactRow:
    """A partner's contact (partner_id set) or a requester's (request_id and party set)."""

    contact_id: UUID
    email: str
    partner_id: str | None = None
    request_id: UUID | None = None
    party: str | None = None
    name: str = ""
    language: str = "en"
    event_types: list[str] = field(default_factory=list)
    enabled: bool = True
    created_at: datetime = field(default_factory=_now)

    def view(self) -> Contact:
        assert self.partner_id is not None
        return Contact(
            contact_id=self.contact_id,
            partner_id=self.partner_id,
            email=self.email,
            name=self.name,
            language=self.language,
            event_types=list(self.event_types),
            enabled=self.enabled,
            created_at=self.created_at,
        )


@dataclass
class DeliveryRow:
    new: NewDelivery
    status: str = "pending"
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime = field(default_factory=_now)
    claimed_until: datetime | None = None
    created_at: datetime = field(default_factory=_now)
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None

    def view(self) -> DeliveryStatus:
        return DeliveryStatus(
            delivery_id=self.new.delivery_id,
            event_id=self.new.event_id,
            event_type=self.new.event_type,
            channel=self.new.channel,
            partner_id=self.new.partner_id,
            request_id=self.new.request_id,
            endpoint_id=self.new.endpoint_id,
            contact_id=self.new.contact_id,
            status=self.status,
            attempts=self.attempts,
            last_error=self.last_error,
            next_attempt_at=self.next_attempt_at,
            created_at=self.created_at,
            last_attempt_at=self.last_attempt_at,
            delivered_at=self.delivered_at,
            failed_at=self.failed_at,
        )


@dataclass
class NotifierStore(FakeStore):
    endpoints: dict[UUID, EndpointRow] = field(default_factory=dict)
    contacts: dict[UUID, ContactRow] = field(default_factory=dict)
    pending: dict[tuple[UUID, UUID], PendingNotice] = field(default_factory=dict)
    kafka_channels: dict[str, KafkaChannel] = field(default_factory=dict)
    deliveries: dict[UUID, DeliveryRow] = field(default_factory=dict)
    # Locks taken, in order: the fake serialises units, so it only records what was locked.
    locks: list[tuple[str, str]] = field(default_factory=list)


class FakeEndpoints:
    def __init__(self, store: NotifierStore) -> None:
        self._store = store

    def _live(self, partner_id: str, endpoint_id: UUID) -> EndpointRow | None:
        row = self._store.endpoints.get(endpoint_id)
        if row is None or row.deleted or row.partner_id != partner_id:
            return None
        return row

    async def lock_partner(self, partner_id: str) -> None:
        self._store.locks.append(("partner", partner_id))

    async def count(self, partner_id: str) -> int:
        rows = self._store.endpoints.values()
        return sum(1 for r in rows if r.partner_id == partner_id and not r.deleted)

    async def create(
        self, *, endpoint_id: UUID, partner_id: str, url: str, secret: str, event_types: list[str]
    ) -> None:
        assert endpoint_id not in self._store.endpoints, "duplicate key (endpoint_id)"
        row = EndpointRow(endpoint_id, partner_id, url, secret, list(event_types))
        self._store.endpoints[endpoint_id] = row

    async def of_partner(self, partner_id: str) -> list[Endpoint]:
        rows = [r for r in self._store.endpoints.values() if r.partner_id == partner_id]
        return [r.view() for r in sorted(rows, key=lambda r: r.created_at) if not r.deleted]

    async def get(self, partner_id: str, endpoint_id: UUID) -> Endpoint | None:
        row = self._live(partner_id, endpoint_id)
        return None if row is None else row.view()

    async def update(
        self, partner_id: str, endpoint_id: UUID, changes: EndpointChanges
    ) -> Endpoint | None:
        row = self._live(partner_id, endpoint_id)
        if row is None:
            return None
        row.url = changes.url if changes.url is not None else row.url
        if changes.event_types is not None:
            row.event_types = list(changes.event_types)
        if changes.enabled is not None:
            row.enabled = changes.enabled
        if changes.enabled:  # re-enabling clears the failure record
            row.failing_since = row.disabled_reason = None
        row.updated_at = _now()
        return row.view()

    async def delete(self, partner_id: str, endpoint_id: UUID) -> bool:
        row = self._live(partner_id, endpoint_id)
        if row is None:
            return False
        row.deleted, row.enabled, row.updated_at = True, False, _now()
        return True

    async def rotate_secret(
        self, partner_id: str, endpoint_id: UUID, *, secret: str, overlap_until: datetime
    ) -> bool:
        row = self._live(partner_id, endpoint_id)
        if row is None:
            return False
        row.previous_secret, row.previous_secret_until = row.secret, overlap_until
        row.secret, row.updated_at = secret, _now()
        return True

    async def failed(self, endpoint_id: UUID, now: datetime) -> datetime:
        row = self._store.endpoints[endpoint_id]
        row.failing_since = row.failing_since or now
        return row.failing_since

    async def succeeded(self, endpoint_id: UUID) -> None:
        self._store.endpoints[endpoint_id].failing_since = None

    async def disable(self, endpoint_id: UUID, reason: str) -> DisabledEndpoint | None:
        row = self._store.endpoints.get(endpoint_id)
        if row is None or not row.enabled:
            return None
        row.enabled, row.disabled_reason, row.updated_at = False, reason, _now()
        return DisabledEndpoint(row.endpoint_id, row.partner_id, row.url)


class FakeContacts:
    def __init__(self, store: NotifierStore) -> None:
        self._store = store

    def _enabled_of(self, partner_id: str) -> list[ContactRow]:
        rows = self._store.contacts.values()
        return [r for r in rows if r.partner_id == partner_id and r.enabled]

    async def lock_partner(self, partner_id: str) -> None:
        self._store.locks.append(("partner", partner_id))

    async def count(self, partner_id: str) -> int:
        return len(self._enabled_of(partner_id))

    async def create(
        self,
        *,
        contact_id: UUID,
        partner_id: str,
        email: str,
        name: str,
        language: str,
        event_types: list[str],
    ) -> Contact:
        assert contact_id not in self._store.contacts, "duplicate key (contact_id)"
        row = ContactRow(
            contact_id,
            email,
            partner_id=partner_id,
            name=name,
            language=language,
            event_types=list(event_types),
        )
        self._store.contacts[contact_id] = row
        return row.view()

    async def ensure(self, *, contact_id: UUID, partner_id: str, email: str) -> None:
        if contact_id not in self._store.contacts:
            row = ContactRow(contact_id, email, partner_id=partner_id, name="configured")
            self._store.contacts[contact_id] = row

    async def of_partner(self, partner_id: str) -> list[Contact]:
        return [r.view() for r in sorted(self._enabled_of(partner_id), key=lambda r: r.created_at)]

    async def with_address_digest(self, email_sha256: str) -> list[Contact]:
        rows = [
            r
            for r in self._store.contacts.values()
            if r.partner_id is not None and r.enabled and _digest(r.email) == email_sha256
        ]
        return [r.view() for r in sorted(rows, key=lambda r: (r.partner_id or "", r.created_at))]

    async def delete(self, partner_id: str, contact_id: UUID) -> bool:
        row = self._store.contacts.get(contact_id)
        if row is None or row.partner_id != partner_id or not row.enabled:
            return False
        row.enabled = False
        return True


def _digest(email: str) -> str:
    # PostgreSQL's encode(sha256(convert_to(lower(btrim(email)), 'UTF8')), 'hex'): btrim takes
    # spaces only, where Python's strip() would take every kind of white space.
    return hashlib.sha256(email.strip(" ").lower().encode()).hexdigest()


class FakeRequesters:
    def __init__(self, store: NotifierStore) -> None:
        self._store = store

    def _row(self, request_id: UUID) -> ContactRow | None:
        rows = self._store.contacts.values()
        return next((r for r in rows if r.request_id == request_id), None)

    async def lock(self, request_id: UUID) -> None:
        self._store.locks.append(("requester", str(request_id)))

    async def save_contact(
        self,
        *,
        contact_id: UUID,
        request_id: UUID,
        party: str,
        email: str,
        name: str,
        language: str,
    ) -> None:
        if self._row(request_id) is None and contact_id not in self._store.contacts:
            self._store.contacts[contact_id] = ContactRow(
                contact_id, email, request_id=request_id, party=party, name=name, language=language
            )

    async def contact(self, request_id: UUID) -> RequesterContact | None:
        row = self._row(request_id)
        if row is None:
            return None
        return RequesterContact(row.contact_id, row.party or "", row.enabled)

    async def erase(self, contact_id: UUID, request_id: UUID) -> None:
        row = self._row(request_id)
        if row is None:  # a tombstone, so a replayed acceptance records nothing
            row = ContactRow(contact_id, "", request_id=request_id)
            self._store.contacts[contact_id] = row
        row.email, row.name, row.enabled = "", "", False

    async def add_pending(
        self, request_id: UUID, event_id: UUID, event_type: str, payload: str
    ) -> None:
        notice = PendingNotice(event_id, event_type, payload)
        self._store.pending.setdefault((request_id, event_id), notice)

    async def take_pending(self, request_id: UUID) -> list[PendingNotice]:
        keys = [k for k in self._store.pending if k[0] == request_id]
        return [self._store.pending.pop(k) for k in keys]

    async def drop_pending(self, request_id: UUID) -> None:
        await self.take_pending(request_id)


class FakeKafkaChannels:
    def __init__(self, store: NotifierStore) -> None:
        self._store = store

    async def put(self, partner_id: str, topic: str, event_types: list[str]) -> KafkaChannel:
        before = self._store.kafka_channels.get(partner_id)
        created_at = _now() if before is None else before.created_at
        topic = topic if before is None else before.topic  # the upsert keeps the topic
        channel = KafkaChannel(partner_id, topic, list(event_types), True, created_at)
        self._store.kafka_channels[partner_id] = channel
        return channel

    async def get(self, partner_id: str) -> KafkaChannel | None:
        return self._store.kafka_channels.get(partner_id)

    async def disable(self, partner_id: str) -> bool:
        channel = self._store.kafka_channels.get(partner_id)
        if channel is None or not channel.enabled:
            return False
        self._store.kafka_channels[partner_id] = dataclasses.replace(channel, enabled=False)
        return True


class FakeSubscribers:
    def __init__(self, store: NotifierStore) -> None:
        self._store = store

    async def of_partner(self, partner_id: str) -> Subscribers:
        contacts = [
            Subscriber(r.contact_id, list(r.event_types))
            for r in self._store.contacts.values()
            if r.partner_id == partner_id and r.enabled
        ]
        endpoints = [
            Subscriber(r.endpoint_id, list(r.event_types))
            for r in self._store.endpoints.values()
            if r.partner_id == partner_id and r.enabled and not r.deleted
        ]
        channel = self._store.kafka_channels.get(partner_id)
        enabled = channel if channel is not None and channel.enabled else None
        return Subscribers(partner_id, contacts, endpoints, enabled)


class FakeDeliveries:
    def __init__(self, store: NotifierStore) -> None:
        self._store = store

    async def add(self, delivery: NewDelivery) -> None:
        for row in self._store.deliveries.values():
            same_event = row.new.event_id == delivery.event_id
            if same_event and _target_of(row.new) == _target_of(delivery):
                return  # the unique (event_id, endpoint_id | contact_id)
        self._store.deliveries[delivery.delivery_id] = DeliveryRow(delivery)

    async def claim_due(
        self,
        *,
        now: datetime,
        lease_until: datetime,
        max_in_flight_per_endpoint: int,
        partners: Sequence[str] | None = None,
    ) -> Delivery | None:
        due = [
            r
            for r in self._store.deliveries.values()
            if r.status == "pending"
            and r.next_attempt_at <= now
            and (partners is None or r.new.partner_id in partners)
            and self._has_room(r.new.endpoint_id, now, max_in_flight_per_endpoint)
        ]
        if not due:
            return None
        row = min(due, key=lambda r: (r.attempts > 0, r.next_attempt_at))
        row.claimed_until = row.next_attempt_at = lease_until
        return Delivery(
            delivery_id=row.new.delivery_id,
            event_id=row.new.event_id,
            event_type=row.new.event_type,
            partner_id=row.new.partner_id,
            request_id=row.new.request_id,
            payload=row.new.payload,
            attempts=row.attempts,
            lease=lease_until,
            target=self._target(row.new),
        )

    async def claim_batch(
        self,
        *,
        now: datetime,
        lease_until: datetime,
        max_in_flight_per_endpoint: int,
        partners: Sequence[str] | None = None,
        limit: int,
    ) -> Claim:
        claimed: list[Delivery] = []
        while len(claimed) < limit:
            one = await self.claim_due(
                now=now,
                lease_until=lease_until,
                max_in_flight_per_endpoint=max_in_flight_per_endpoint,
                partners=partners,
            )
            if one is None:
                break
            claimed.append(one)
        endpoints = {d.target.endpoint_id for d in claimed if isinstance(d.target, WebhookTarget)}
        full = any(not self._has_room(e, now, max_in_flight_per_endpoint) for e in endpoints)
        return Claim(claimed, held_back=full)

    def _has_room(self, endpoint_id: UUID | None, now: datetime, most: int) -> bool:
        if endpoint_id is None:
            return True
        leases = sum(
            1
            for r in self._store.deliveries.values()
            if r.new.endpoint_id == endpoint_id
            and r.status == "pending"
            and r.claimed_until is not None
            and r.claimed_until > now
        )
        return leases < most

    def _target(self, new: NewDelivery) -> WebhookTarget | EmailTarget:
        if new.endpoint_id is not None:
            e = self._store.endpoints[new.endpoint_id]
            return WebhookTarget(
                endpoint_id=e.endpoint_id,
                url=e.url,
                secret=e.secret,
                previous_secret=e.previous_secret,
                previous_secret_until=e.previous_secret_until,
                failing_since=e.failing_since,
                enabled=e.enabled and not e.deleted,
            )
        assert new.contact_id is not None
        c = self._store.contacts[new.contact_id]
        return EmailTarget(c.contact_id, c.email, c.language, c.enabled)

    async def record_attempts(
        self, attempts: Sequence[tuple[UUID, datetime, AttemptRecord]]
    ) -> set[UUID]:
        return {
            delivery_id
            for delivery_id, lease, outcome in attempts
            if self._record(delivery_id, lease, outcome)
        }

    def _record(self, delivery_id: UUID, lease: datetime, outcome: AttemptRecord) -> bool:
        row = self._store.deliveries.get(delivery_id)
        if row is None or row.claimed_until != lease:
            return False
        row.attempts += 1
        row.status, row.last_error = outcome.status, outcome.error
        row.next_attempt_at = outcome.next_attempt_at or row.next_attempt_at
        row.claimed_until, row.last_attempt_at = None, outcome.at
        row.delivered_at = outcome.at if outcome.status == "delivered" else None
        row.failed_at = outcome.at if outcome.status == "failed" else None
        return True

    async def recent(
        self, *, partner_id: str | None, status: str | None, limit: int
    ) -> list[DeliveryStatus]:
        rows = [
            r
            for r in self._store.deliveries.values()
            if (partner_id is None or r.new.partner_id == partner_id)
            and (status is None or r.status == status)
        ]
        rows.sort(key=lambda r: r.created_at, reverse=True)
        return [r.view() for r in rows[:limit]]

    async def resend(self, delivery_id: UUID, now: datetime) -> bool:
        row = self._store.deliveries.get(delivery_id)
        if row is None or row.status == "pending":
            return False
        _to_pending(row, now)
        return True

    async def recover_failed(
        self, *, since: datetime, partner_id: str | None, now: datetime
    ) -> int:
        rows = [
            r
            for r in self._store.deliveries.values()
            if r.status == "failed"
            and r.failed_at is not None
            and r.failed_at >= since
            and (partner_id is None or r.new.partner_id == partner_id)
        ]
        for row in rows:
            _to_pending(row, now)
        return len(rows)

    async def queued_within(self, contact_id: UUID, event_type: str, window: timedelta) -> bool:
        since = _now() - window
        return any(
            r.new.contact_id == contact_id
            and r.new.event_type == event_type
            and r.created_at > since
            for r in self._store.deliveries.values()
        )

    async def exists(self, delivery_id: UUID) -> bool:
        return delivery_id in self._store.deliveries

    async def redact_request(self, request_id: UUID, contact_id: UUID) -> None:
        for row in self._store.deliveries.values():
            if row.new.request_id != request_id:
                continue
            body = json.loads(row.new.payload)
            if isinstance(body.get("data"), dict) and "contact" in body["data"]:
                del body["data"]["contact"]
                row.new = dataclasses.replace(row.new, payload=json.dumps(body))
            if row.new.contact_id == contact_id:
                row.last_error = None


def _target_of(new: NewDelivery) -> tuple[str, UUID | None]:
    return (
        ("webhook", new.endpoint_id) if new.endpoint_id is not None else ("email", new.contact_id)
    )


def _to_pending(row: DeliveryRow, now: datetime) -> None:
    row.status, row.attempts, row.next_attempt_at = "pending", 0, now
    row.claimed_until = row.failed_at = None


class FakeNotifierUnitOfWork(FakeUnitOfWork):
    store: NotifierStore

    def __init__(self, store: NotifierStore) -> None:
        super().__init__(store)

    def _bind(self, store: FakeStore) -> None:
        assert isinstance(store, NotifierStore)
        self.endpoints = FakeEndpoints(store)
        self.contacts = FakeContacts(store)
        self.requesters = FakeRequesters(store)
        self.kafka_channels = FakeKafkaChannels(store)
        self.subscribers = FakeSubscribers(store)
        self.deliveries = FakeDeliveries(store)


def fake_units(store: NotifierStore | None = None) -> tuple[NotifierUnits, NotifierStore]:
    """A factory of fake units over one store (the database they share), and that store."""
    shared = store or NotifierStore()
    return (lambda: FakeNotifierUnitOfWork(shared)), shared
