"""matcher's unit of work in memory: the same repositories over dicts, for handler tests.

Every method mirrors its SQL twin in services/matcher/repositories.py (constraints included:
one live offer per slot, a partner asked once per request, capacity never exceeded); the
contract suite (test_repository_contract.py) runs the same tests against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from services.matcher.domain import (
    Assignment,
    MatchRequest,
    PartnerSpec,
    RegisteredPartner,
    RegistryMeta,
    Slot,
)
from services.matcher.unit_of_work import (
    MatcherUnitOfWork,
    MatcherUnits,
    OfferRepository,
    PartnerRepository,
    RequestRepository,
)
from shared.events import AssignmentOffered, AssignmentResponse
from shared.uow import FakeStore, FakeUnitOfWork

LIVE = ("offered", "accepted")


@dataclass
class StoredRequest:
    request: MatchRequest
    status: str = "matching"


@dataclass
class StoredOffer:
    offer: AssignmentOffered
    slot: int
    status: str = "offered"
    reason: str | None = None

    def assignment(self) -> Assignment:
        o = self.offer
        return Assignment(
            o.assignment_id, o.request_id, o.partner_id, self.slot, self.status, o.respond_by
        )


@dataclass
class StoredResponse:
    response: AssignmentResponse
    verdict: str


@dataclass
class StoredPartner:
    spec: PartnerSpec
    open_assignments: int = 0
    operator_edited: bool = False
    seed_spec: PartnerSpec | None = None
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def registered(self) -> RegisteredPartner:
        # As read back from PostgreSQL: the areas are a set of rows, read in code order.
        spec = self.spec.model_copy(
            update={
                "serves_countries": sorted(set(self.spec.serves_countries)),
                "serves_regions": sorted(set(self.spec.serves_regions)),
            }
        )
        return RegisteredPartner(spec, self.open_assignments, self.operator_edited, self.updated_at)


@dataclass
class MatcherStore(FakeStore):
    requests: dict[UUID, StoredRequest] = field(default_factory=dict)
    slots: dict[tuple[UUID, int], tuple[Slot, str]] = field(default_factory=dict)
    offers: dict[UUID, StoredOffer] = field(default_factory=dict)  # in the order made
    responses: dict[UUID, StoredResponse] = field(default_factory=dict)  # by ce_id
    partners: dict[str, StoredPartner] = field(default_factory=dict)
    registry_version: int = 0
    seed_digest: str | None = None


class FakeRequestRepository:
    def __init__(self, store: MatcherStore) -> None:
        self._store = store

    async def add(self, request: MatchRequest) -> bool:
        if request.request_id in self._store.requests:
            return False
        self._store.requests[request.request_id] = StoredRequest(request)
        return True

    async def lock(self, request_id: UUID) -> MatchRequest | None:
        stored = self._store.requests.get(request_id)  # one unit at a time: nothing to lock
        return None if stored is None else stored.request

    async def claim_due(self, now: datetime) -> UUID | None:
        due = [
            s.offer
            for s in self._store.offers.values()
            if s.status == "offered"
            and s.offer.respond_by <= now
            and s.offer.request_id in self._store.requests
        ]
        return min(due, key=lambda o: o.respond_by).request_id if due else None

    async def erase_contact(self, request_id: UUID) -> None:
        """Nothing to do: the fake only ever holds MatchRequests, which have no contact."""

    async def close(self, request_id: UUID, status: str) -> None:
        if request_id in self._store.requests:
            self._store.requests[request_id].status = status

    async def add_slots(self, request_id: UUID, slots: Sequence[Slot]) -> None:
        for slot in slots:
            key = (request_id, slot.slot)
            assert key not in self._store.slots, f"slot {key} exists (a primary key)"
            self._store.slots[key] = (slot, "open")

    async def slot(self, request_id: UUID, slot: int) -> Slot:
        found = self._store.slots.get((request_id, slot))
        assert found is not None, f"slot {slot} of {request_id} vanished"
        return found[0]

    async def set_slot_status(self, request_id: UUID, slot: int, status: str) -> None:
        found = self._store.slots.get((request_id, slot))
        if found is not None:
            self._store.slots[(request_id, slot)] = (found[0], status)


class FakeOfferRepository:
    def __init__(self, store: MatcherStore) -> None:
        self._store = store

    def _of(self, request_id: UUID) -> list[StoredOffer]:
        return [s for s in self._store.offers.values() if s.offer.request_id == request_id]

    async def add(self, offer: AssignmentOffered, slot: int) -> bool:
        siblings = self._of(offer.request_id)
        if (
            offer.assignment_id in self._store.offers
            or any(s.offer.partner_id == offer.partner_id for s in siblings)
            or any(s.slot == slot and s.status in LIVE for s in siblings)
        ):
            return False
        self._store.offers[offer.assignment_id] = StoredOffer(offer, slot)
        return True

    async def get(self, assignment_id: UUID) -> Assignment | None:
        stored = self._store.offers.get(assignment_id)
        return None if stored is None else stored.assignment()

    async def close(self, assignment_id: UUID, status: str, reason: str) -> None:
        stored = self._store.offers.get(assignment_id)
        if stored is not None:
            stored.status, stored.reason = status, reason

    async def asked_partners(self, request_id: UUID) -> set[str]:
        return {s.offer.partner_id for s in self._of(request_id)}

    async def open_count(self, request_id: UUID) -> int:
        return sum(s.status == "offered" for s in self._of(request_id))

    async def accepted(self, request_id: UUID) -> list[tuple[str, list[str]]]:
        taken = sorted((s for s in self._of(request_id) if s.status == "accepted"), key=_slot)
        return [(s.offer.partner_id, list(s.offer.covers_topics)) for s in taken]

    async def due(self, request_id: UUID, now: datetime) -> list[Assignment]:
        due = [
            s for s in self._of(request_id) if s.status == "offered" and s.offer.respond_by <= now
        ]
        return [s.assignment() for s in sorted(due, key=_slot)]

    async def record_response(
        self, ce_id: UUID, response: AssignmentResponse, verdict: str
    ) -> None:
        self._store.responses.setdefault(ce_id, StoredResponse(response, verdict))


def _slot(stored: StoredOffer) -> int:
    return stored.slot


class FakePartnerRepository:
    def __init__(self, store: MatcherStore) -> None:
        self._store = store

    async def find(self, *, active: bool | None = None) -> list[RegisteredPartner]:
        return [
            p.registered()
            for _, p in sorted(self._store.partners.items())
            if active is None or p.spec.active == active
        ]

    async def get(self, partner_id: str) -> RegisteredPartner | None:
        stored = self._store.partners.get(partner_id)
        return None if stored is None else stored.registered()

    async def lock(self, partner_id: str) -> RegisteredPartner | None:
        return await self.get(partner_id)  # one unit at a time: nothing to lock

    async def create(self, spec: PartnerSpec) -> bool:
        if spec.partner_id in self._store.partners:
            return False
        self._store.partners[spec.partner_id] = StoredPartner(spec, operator_edited=True)
        self._store.registry_version += 1
        return True

    async def update(self, spec: PartnerSpec) -> None:
        stored = self._store.partners[spec.partner_id]
        stored.spec, stored.operator_edited = spec, True
        stored.updated_at = datetime.now(UTC)
        self._store.registry_version += 1

    async def meta(self) -> RegistryMeta:
        return RegistryMeta(self._store.registry_version, self._store.seed_digest)

    async def seed(self, partners: Sequence[PartnerSpec], digest: str) -> int:
        if self._store.seed_digest == digest:
            return 0
        changed = sum(self._seed_one(spec) for spec in partners)
        self._store.seed_digest = digest
        self._store.registry_version += changed
        return changed

    def _seed_one(self, spec: PartnerSpec) -> bool:
        stored = self._store.partners.get(spec.partner_id)
        if stored is None:
            self._store.partners[spec.partner_id] = StoredPartner(spec, seed_spec=spec)
            return True
        if stored.operator_edited or stored.seed_spec == spec:
            return False  # an operator's row is never overwritten; an unchanged one is kept
        stored.spec, stored.seed_spec, stored.updated_at = spec, spec, datetime.now(UTC)
        return True

    async def open_counts(self, partner_ids: Sequence[str]) -> dict[str, int]:
        partners = self._store.partners
        return {
            i: partners[i].open_assignments
            for i in partner_ids
            if i in partners and partners[i].open_assignments > 0
        }

    async def take_capacity(self, partner_id: str) -> bool:
        stored = self._store.partners.get(partner_id)
        if stored is None or not stored.spec.active:
            return False
        if stored.open_assignments >= stored.spec.capacity:
            return False
        stored.open_assignments += 1
        return True

    async def release_capacity(self, partner_id: str) -> None:
        stored = self._store.partners.get(partner_id)
        if stored is not None:
            stored.open_assignments = max(stored.open_assignments - 1, 0)


class FakeMatcherUnitOfWork(FakeUnitOfWork):
    store: MatcherStore
    requests: RequestRepository
    offers: OfferRepository
    partners: PartnerRepository

    def __init__(self, store: MatcherStore) -> None:
        super().__init__(store)

    def _bind(self, store: FakeStore) -> None:
        self.requests = FakeRequestRepository(self.store)
        self.offers = FakeOfferRepository(self.store)
        self.partners = FakePartnerRepository(self.store)


def fake_units(store: MatcherStore) -> MatcherUnits:
    """A factory of fake units over one store, as `pg_units` is over one database."""

    def unit() -> MatcherUnitOfWork:
        return FakeMatcherUnitOfWork(store)

    return unit
