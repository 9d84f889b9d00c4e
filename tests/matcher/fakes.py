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
from shared.events import AssignmentOffered, AssignmentResponse, ClosedBy
from shared.uow import FakeStore, FakeUnitOfWork

LIVE = ("offered", "accepted", "started", "completed")  # one per slot (migration 0004)
WORKING = ("offered", "accepted", "started")  # live work: keeps a request from completing


@dataclass
class StoredRequest:
    request: MatchRequest
    status: str = "matching"
    seq: int = 0  # order of arrival (created_at)
    waiting_since: datetime | None = None
    waiting_for: list[str] = field(default_factory=list)
    closed_by: str | None = None
    rating: int | None = None
    comment: str | None = None


@dataclass
class StoredOffer:
    offer: AssignmentOffered
    slot: int
    status: str = "offered"
    reason: str | None = None
    outcome: str | None = None
    deliverables: list[str] | None = None

    def assignment(self) -> Assignment:
        o = self.offer
        return Assignment(
            o.assignment_id,
            o.request_id,
            o.partner_id,
            self.slot,
            self.status,
            o.respond_by,
            o.role.value,
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
        seq = len(self._store.requests)
        self._store.requests[request.request_id] = StoredRequest(request, seq=seq)
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
        """The fake only ever holds MatchRequests, which have no contact; feedback goes."""
        if request_id in self._store.requests:
            self._store.requests[request_id].comment = None

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

    async def status(self, request_id: UUID) -> str:
        return self._store.requests[request_id].status

    async def set_status(self, request_id: UUID, status: str) -> None:
        stored = self._store.requests[request_id]
        stored.status, stored.waiting_since, stored.waiting_for = status, None, []

    async def wait(
        self, request_id: UUID, partners: Sequence[str], now: datetime, *, replace: bool
    ) -> bool:
        stored = self._store.requests[request_id]
        was = stored.status
        if replace or was != "waiting":
            stored.waiting_for = list(dict.fromkeys(partners))
        else:
            stored.waiting_for = list(dict.fromkeys([*stored.waiting_for, *partners]))
        stored.status = "waiting"
        stored.waiting_since = stored.waiting_since or now
        return was != "waiting"

    async def claim_waiting(
        self, partner_ids: Sequence[str] | None, skip: Sequence[UUID]
    ) -> UUID | None:
        partners = self._store.partners

        def has_room(partner_id: str) -> bool:
            p = partners.get(partner_id)
            return p is not None and p.spec.active and p.open_assignments < p.spec.capacity

        ready = [
            (s.request.urgency != "urgent", s.seq, request_id)
            for request_id, s in self._store.requests.items()
            if s.status == "waiting"
            and request_id not in skip
            and (partner_ids is None or set(partner_ids) & set(s.waiting_for))
            and any(has_room(p) for p in s.waiting_for)
        ]
        return min(ready)[2] if ready else None

    async def claim_overdue_waiting(self, waited_since: datetime) -> UUID | None:
        overdue = [
            (s.waiting_since, request_id)
            for request_id, s in self._store.requests.items()
            if s.status == "waiting" and s.waiting_since and s.waiting_since <= waited_since
        ]
        return min(overdue)[1] if overdue else None

    async def count_waiting(self) -> int:
        return sum(s.status == "waiting" for s in self._store.requests.values())

    async def record_closure(
        self, request_id: UUID, closed_by: ClosedBy, rating: int | None, comment: str
    ) -> None:
        stored = self._store.requests[request_id]
        stored.status, stored.closed_by, stored.rating = "closed", closed_by, rating
        stored.comment, stored.waiting_for = comment, []

    async def slots_in(self, request_id: UUID, status: str) -> list[int]:
        return sorted(
            n for (r, n), (_, s) in self._store.slots.items() if r == request_id and s == status
        )

    async def has_slots(self, request_id: UUID) -> bool:
        return any(r == request_id for r, _ in self._store.slots)


class FakeOfferRepository:
    def __init__(self, store: MatcherStore) -> None:
        self._store = store

    def _of(self, request_id: UUID) -> list[StoredOffer]:
        return [s for s in self._store.offers.values() if s.offer.request_id == request_id]

    async def add(self, offers: Sequence[tuple[AssignmentOffered, int]]) -> set[UUID]:
        added = set()
        for offer, slot in offers:
            siblings = self._of(offer.request_id)
            if (
                offer.assignment_id in self._store.offers
                or any(s.offer.partner_id == offer.partner_id for s in siblings)
                or any(s.slot == slot and s.status in LIVE for s in siblings)
            ):
                continue
            self._store.offers[offer.assignment_id] = StoredOffer(offer, slot)
            added.add(offer.assignment_id)
        return added

    async def get(self, assignment_id: UUID) -> Assignment | None:
        stored = self._store.offers.get(assignment_id)
        return None if stored is None else stored.assignment()

    async def close(self, assignment_id: UUID, status: str, reason: str) -> None:
        stored = self._store.offers.get(assignment_id)
        if stored is not None:
            stored.status, stored.reason = status, reason

    async def start(self, assignment_id: UUID) -> None:
        self._store.offers[assignment_id].status = "started"

    async def complete(self, assignment_id: UUID, outcome: str, deliverables: list[str]) -> None:
        stored = self._store.offers[assignment_id]
        stored.status, stored.outcome, stored.deliverables = "completed", outcome, deliverables

    async def live_count(self, request_id: UUID) -> int:
        return sum(s.status in WORKING for s in self._of(request_id))

    async def completed_partners(self, request_id: UUID) -> list[str]:
        done = sorted((s for s in self._of(request_id) if s.status == "completed"), key=_slot)
        return [s.offer.partner_id for s in done]

    async def asked_partners(self, request_id: UUID) -> set[str]:
        return {s.offer.partner_id for s in self._of(request_id)}

    async def open_count(self, request_id: UUID) -> int:
        return sum(s.status == "offered" for s in self._of(request_id))

    async def accepted(self, request_id: UUID) -> list[tuple[str, list[str]]]:
        taken = sorted(
            (s for s in self._of(request_id) if s.status in ("accepted", "started", "completed")),
            key=_slot,
        )
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

    async def take_capacity(self, partner_ids: Sequence[str]) -> set[str]:
        taken = set()
        for partner_id in dict.fromkeys(partner_ids):  # each row is updated once
            stored = self._store.partners.get(partner_id)
            if stored is None or not stored.spec.active:
                continue
            if stored.open_assignments >= stored.spec.capacity:
                continue
            stored.open_assignments += 1
            taken.add(partner_id)
        return taken

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
