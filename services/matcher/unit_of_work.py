"""matcher's unit of work: what handlers see (protocols), and its PostgreSQL implementation.

Handlers are typed against `MatcherUnitOfWork`, so tests give them the in-memory fake
(tests/matcher/fakes.py) and the contract suite keeps the two alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

import asyncpg

from services.matcher.domain import (
    Assignment,
    MatchRequest,
    PartnerSpec,
    RegisteredPartner,
    RegistryMeta,
    Slot,
)
from services.matcher.repositories.offers import PgOfferRepository
from services.matcher.repositories.partners import PgPartnerRepository
from services.matcher.repositories.requests import PgRequestRepository
from shared.db import Conn
from shared.events import AssignmentOffered, AssignmentResponse
from shared.uow import PgUnitOfWork, UnitOfWork

SCHEMA = "matcher"


class RequestRepository(Protocol):
    """Requests being matched and their slots; a request's row is the lock of its work."""

    async def add(self, request: MatchRequest) -> bool: ...
    async def lock(self, request_id: UUID) -> MatchRequest | None: ...
    async def claim_due(self, now: datetime) -> UUID | None: ...
    async def erase_contact(self, request_id: UUID) -> None: ...
    async def close(self, request_id: UUID, status: str) -> None: ...
    async def add_slots(self, request_id: UUID, slots: Sequence[Slot]) -> None: ...
    async def slot(self, request_id: UUID, slot: int) -> Slot: ...
    async def set_slot_status(self, request_id: UUID, slot: int, status: str) -> None: ...


class OfferRepository(Protocol):
    """Offers made to partners (assignments) and every answer received."""

    async def add(self, offer: AssignmentOffered, slot: int) -> bool: ...
    async def get(self, assignment_id: UUID) -> Assignment | None: ...
    async def close(self, assignment_id: UUID, status: str, reason: str) -> None: ...
    async def asked_partners(self, request_id: UUID) -> set[str]: ...
    async def open_count(self, request_id: UUID) -> int: ...
    async def accepted(self, request_id: UUID) -> list[tuple[str, list[str]]]: ...
    async def due(self, request_id: UUID, now: datetime) -> list[Assignment]: ...
    async def record_response(
        self, ce_id: UUID, response: AssignmentResponse, verdict: str
    ) -> None: ...


class PartnerRepository(Protocol):
    """The partner registry, its version and seed, and each partner's load."""

    async def find(self, *, active: bool | None = None) -> list[RegisteredPartner]: ...
    async def get(self, partner_id: str) -> RegisteredPartner | None: ...
    async def lock(self, partner_id: str) -> RegisteredPartner | None: ...
    async def create(self, spec: PartnerSpec) -> bool: ...
    async def update(self, spec: PartnerSpec) -> None: ...
    async def meta(self) -> RegistryMeta: ...
    async def seed(self, partners: Sequence[PartnerSpec], digest: str) -> int: ...
    async def open_counts(self, partner_ids: Sequence[str]) -> dict[str, int]: ...
    async def take_capacity(self, partner_id: str) -> bool: ...
    async def release_capacity(self, partner_id: str) -> None: ...


class MatcherUnitOfWork(UnitOfWork, Protocol):
    requests: RequestRepository
    offers: OfferRepository
    partners: PartnerRepository


MatcherUnits = Callable[[], MatcherUnitOfWork]
"""Makes a fresh unit per use: entry points open one per event, request or expiry."""


class PgMatcherUnitOfWork(PgUnitOfWork):
    requests: RequestRepository
    offers: OfferRepository
    partners: PartnerRepository

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, SCHEMA)

    def _bind(self, conn: Conn) -> None:
        self.requests = PgRequestRepository(conn)
        self.offers = PgOfferRepository(conn)
        self.partners = PgPartnerRepository(conn)


def pg_units(pool: asyncpg.Pool) -> MatcherUnits:
    """The factory of PostgreSQL units on `pool`."""
    return lambda: PgMatcherUnitOfWork(pool)
