"""notifier's unit of work: the repositories handlers see (protocols), and the PostgreSQL unit.

Handlers depend on `NotifierUnitOfWork` only; `PgNotifierUnitOfWork` binds the real
repositories (repositories/), tests bind fakes of the same protocols (tests/notifier/fakes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol
from uuid import UUID

import asyncpg

from services.notifier.domain import (
    AttemptRecord,
    Claim,
    Contact,
    Delivery,
    DeliveryStatus,
    DisabledEndpoint,
    Endpoint,
    EndpointChanges,
    KafkaChannel,
    NewDelivery,
    PendingNotice,
    RequesterContact,
    Subscribers,
)
from services.notifier.repositories import (
    ContactRepository,
    DeliveryRepository,
    EndpointRepository,
    KafkaChannelRepository,
    RequesterRepository,
    SubscriberRepository,
)
from shared.db import Conn
from shared.uow import PgUnitOfWork, UnitOfWork

SCHEMA = "notifier"


class Endpoints(Protocol):
    async def lock_partner(self, partner_id: str) -> None: ...
    async def count(self, partner_id: str) -> int: ...
    async def create(
        self, *, endpoint_id: UUID, partner_id: str, url: str, secret: str, event_types: list[str]
    ) -> None: ...
    async def of_partner(self, partner_id: str) -> list[Endpoint]: ...
    async def get(self, partner_id: str, endpoint_id: UUID) -> Endpoint | None: ...
    async def update(
        self, partner_id: str, endpoint_id: UUID, changes: EndpointChanges
    ) -> Endpoint | None: ...
    async def delete(self, partner_id: str, endpoint_id: UUID) -> bool: ...
    async def rotate_secret(
        self,
        partner_id: str,
        endpoint_id: UUID,
        *,
        secret: str,
        overlap_until: datetime,
    ) -> bool: ...
    async def failed(self, endpoint_id: UUID, now: datetime) -> datetime: ...
    async def succeeded(self, endpoint_id: UUID) -> None: ...
    async def disable(self, endpoint_id: UUID, reason: str) -> DisabledEndpoint | None: ...


class Contacts(Protocol):
    async def lock_partner(self, partner_id: str) -> None: ...
    async def count(self, partner_id: str) -> int: ...
    async def create(
        self,
        *,
        contact_id: UUID,
        partner_id: str,
        email: str,
        name: str,
        language: str,
        event_types: list[str],
    ) -> Contact: ...
    async def ensure(self, *, contact_id: UUID, partner_id: str, email: str) -> None: ...
    async def of_partner(self, partner_id: str) -> list[Contact]: ...
    async def with_address_digest(self, email_sha256: str) -> list[Contact]: ...
    async def delete(self, partner_id: str, contact_id: UUID) -> bool: ...


class Requesters(Protocol):
    async def lock(self, request_id: UUID) -> None: ...
    async def save_contact(
        self,
        *,
        contact_id: UUID,
        request_id: UUID,
        party: str,
        email: str,
        name: str,
        language: str,
    ) -> None: ...
    async def contact(self, request_id: UUID) -> RequesterContact | None: ...
    async def erase(self, contact_id: UUID, request_id: UUID) -> None: ...
    async def add_pending(
        self, request_id: UUID, event_id: UUID, event_type: str, payload: str
    ) -> None: ...
    async def take_pending(self, request_id: UUID) -> list[PendingNotice]: ...
    async def drop_pending(self, request_id: UUID) -> None: ...


class KafkaChannels(Protocol):
    async def put(self, partner_id: str, topic: str, event_types: list[str]) -> KafkaChannel: ...
    async def get(self, partner_id: str) -> KafkaChannel | None: ...
    async def disable(self, partner_id: str) -> bool: ...


class SubscribersOf(Protocol):
    async def of_partner(self, partner_id: str) -> Subscribers: ...


class Deliveries(Protocol):
    async def add(self, delivery: NewDelivery) -> None: ...
    async def claim_due(
        self,
        *,
        now: datetime,
        lease_until: datetime,
        max_in_flight_per_endpoint: int,
        partners: Sequence[str] | None = None,
    ) -> Delivery | None: ...
    async def claim_batch(
        self,
        *,
        now: datetime,
        lease_until: datetime,
        max_in_flight_per_endpoint: int,
        partners: Sequence[str] | None = None,
        limit: int,
    ) -> Claim: ...
    async def record_attempts(
        self, attempts: Sequence[tuple[UUID, datetime, AttemptRecord]]
    ) -> set[UUID]: ...
    async def recent(
        self, *, partner_id: str | None, status: str | None, limit: int
    ) -> list[DeliveryStatus]: ...
    async def resend(self, delivery_id: UUID, now: datetime) -> bool: ...
    async def recover_failed(
        self, *, since: datetime, partner_id: str | None, now: datetime
    ) -> int: ...
    async def queued_within(self, contact_id: UUID, event_type: str, window: timedelta) -> bool: ...
    async def exists(self, delivery_id: UUID) -> bool: ...
    async def redact_request(self, request_id: UUID, contact_id: UUID) -> None: ...


class NotifierUnitOfWork(UnitOfWork, Protocol):
    """What every notifier handler works through: one transaction over these repositories."""

    @property
    def endpoints(self) -> Endpoints: ...
    @property
    def contacts(self) -> Contacts: ...
    @property
    def requesters(self) -> Requesters: ...
    @property
    def kafka_channels(self) -> KafkaChannels: ...
    @property
    def subscribers(self) -> SubscribersOf: ...
    @property
    def deliveries(self) -> Deliveries: ...


NotifierUnits = Callable[[], NotifierUnitOfWork]


class PgNotifierUnitOfWork(PgUnitOfWork):
    endpoints: EndpointRepository
    contacts: ContactRepository
    requesters: RequesterRepository
    kafka_channels: KafkaChannelRepository
    subscribers: SubscriberRepository
    deliveries: DeliveryRepository

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, SCHEMA)

    def _bind(self, conn: Conn) -> None:
        self.endpoints = EndpointRepository(conn)
        self.contacts = ContactRepository(conn)
        self.requesters = RequesterRepository(conn)
        self.kafka_channels = KafkaChannelRepository(conn)
        self.subscribers = SubscriberRepository(conn)
        self.deliveries = DeliveryRepository(conn, self.gathered(DeliveryRepository.write))


def pg_units(pool: asyncpg.Pool) -> NotifierUnits:
    """A factory of PostgreSQL units on `pool`, one fresh unit per use."""
    return lambda: PgNotifierUnitOfWork(pool)
