"""intake's unit of work in memory: the same repositories over dicts, for handler tests without
PostgreSQL. tests/intake/test_repository_contract.py holds them to the real ones."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from services.intake.domain.dead_letters import Replayed
from services.intake.domain.model import (
    Answer,
    Assignment,
    Closure,
    Decision,
    Fingerprinted,
    Milestones,
    Note,
    OfferStatus,
    OfferSummary,
    PartnerOffer,
    RequestStatus,
    StatusMark,
    TrackedRequest,
)
from services.intake.domain.reporting import WAS_ACCEPTED, RequestFacts, Window, WorkFacts
from shared.events import AssignmentOffered, RequestAccepted
from shared.uow import FakeStore, FakeUnitOfWork

HOUR = timedelta(hours=1)  # how long a used sign-in link is remembered past its use


@dataclass
class StoredRequest:
    """A row of intake.requests, as the fake keeps it."""

    event: RequestAccepted
    body_hash: str
    status: RequestStatus
    submission: dict[str, Any]  # what the stored JSON holds (the contact goes on erasure)
    outcomes_topic: str | None
    erased_at: datetime | None = None
    closing_asked_at: datetime | None = None
    status_at: datetime | None = None
    first_offer_at: datetime | None = None
    matched_at: datetime | None = None
    completed_at: datetime | None = None
    uncovered_topics: tuple[str, ...] = ()
    closure: Closure | None = None  # its comment blanked on erasure, as the column is


@dataclass
class StoredOffer:
    offer: AssignmentOffered
    offered_at: datetime
    status: OfferStatus = "offered"
    reached_at: dict[OfferStatus, datetime] = field(default_factory=dict)  # accepted_at, …


@dataclass
class IntakeStore(FakeStore):
    requests: dict[UUID, StoredRequest] = field(default_factory=dict)
    idempotency_keys: dict[tuple[str, str], Fingerprinted] = field(default_factory=dict)
    timeline: dict[UUID, Note] = field(default_factory=dict)  # by ce_id
    offers: dict[UUID, StoredOffer] = field(default_factory=dict)
    # by (assignment, decision): each decision once per assignment (the table's primary key)
    answers: dict[tuple[UUID, str], Answer] = field(default_factory=dict)
    used_links: dict[str, tuple[UUID, datetime]] = field(default_factory=dict)  # by digest
    used_sign_in_links: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    replays: dict[int, Replayed] = field(default_factory=dict)  # by dead-letter offset


class FakeRequests:
    def __init__(self, store: IntakeStore) -> None:
        self._store = store

    async def by_ref(self, submitter: str, external_ref: str) -> Fingerprinted | None:
        for stored in self._store.requests.values():
            if (stored.event.submitter, stored.event.external_ref) == (submitter, external_ref):
                return Fingerprinted(stored.event.request_id, stored.body_hash)
        return None

    async def by_idempotency_key(self, submitter: str, key: str) -> Fingerprinted | None:
        return self._store.idempotency_keys.get((submitter, key))

    async def add(
        self, event: RequestAccepted, body_hash: str, *, note: Note, outcomes_topic: str | None
    ) -> bool:
        if await self.by_ref(event.submitter, event.external_ref) is not None:
            return False
        submission = json.loads(event.model_dump_json())
        self._store.requests[event.request_id] = StoredRequest(
            event, body_hash, "accepted", submission, outcomes_topic
        )
        self._store.timeline[note.ce_id] = note
        return True

    async def add_idempotency_key(
        self, submitter: str, key: str, request_id: UUID, body_hash: str
    ) -> bool:
        if (submitter, key) in self._store.idempotency_keys:
            return False
        self._store.idempotency_keys[submitter, key] = Fingerprinted(request_id, body_hash)
        return True

    async def view(self, request_id: UUID) -> TrackedRequest | None:
        stored = self._store.requests.get(request_id)
        if stored is None:
            return None
        notes = [n for n in self._store.timeline.values() if n.request_id == request_id]
        notes.sort(key=lambda n: (n.entry.at, n.ce_id))
        event = stored.event
        return TrackedRequest(
            request_id=request_id,
            status=stored.status,
            submitter=event.submitter,
            external_ref=event.external_ref,
            party=event.party,
            accepted_at=event.accepted_at,
            timeline=[n.entry for n in notes],
        )

    async def lock_status(self, request_id: UUID) -> StatusMark | None:
        stored = self._store.requests.get(request_id)
        return None if stored is None else StatusMark(stored.status, stored.status_at)

    async def set_status(self, request_id: UUID, mark: StatusMark) -> None:
        stored = self._store.requests.get(request_id)
        if stored is not None:
            stored.status, stored.status_at = mark.status, mark.at

    async def record(
        self, request_id: UUID, milestones: Milestones, *, status: StatusMark | None = None
    ) -> None:
        stored = self._store.requests.get(request_id)
        if stored is None:
            return
        if status is not None:
            stored.status, stored.status_at = status.status, status.at
        stored.first_offer_at = _earliest(stored.first_offer_at, milestones.first_offer_at)
        stored.matched_at = _earliest(stored.matched_at, milestones.matched_at)
        stored.completed_at = _earliest(stored.completed_at, milestones.completed_at)
        if milestones.uncovered_topics is not None:
            stored.uncovered_topics = milestones.uncovered_topics
        closure = milestones.closure
        if closure is not None and stored.closure is None:
            comment = "" if stored.erased_at else closure.comment
            stored.closure = dataclasses.replace(closure, comment=comment)

    async def outcomes_topic_of(self, request_id: UUID) -> str | None:
        stored = self._store.requests.get(request_id)
        return None if stored is None else stored.outcomes_topic

    async def lock_for_erasure(self, request_id: UUID) -> tuple[bool, datetime | None]:
        stored = self._store.requests.get(request_id)
        return (False, None) if stored is None else (True, stored.erased_at)

    async def erase_contact(self, request_id: UUID, *, erased_at: datetime) -> None:
        stored = self._store.requests.get(request_id)
        if stored is not None:
            stored.submission.pop("contact", None)
            stored.erased_at = stored.erased_at or erased_at
            if stored.closure is not None:
                stored.closure = dataclasses.replace(stored.closure, comment="")

    async def ask_closing(self, request_id: UUID, at: datetime) -> bool:
        stored = self._store.requests.get(request_id)
        if stored is None or stored.closing_asked_at is not None:
            return False
        stored.closing_asked_at = at
        return True

    async def is_erased(self, request_id: UUID) -> bool:
        stored = self._store.requests.get(request_id)
        return stored is not None and stored.erased_at is not None


class FakeTimeline:
    def __init__(self, store: IntakeStore) -> None:
        self._store = store

    async def add(self, note: Note) -> None:
        self._store.timeline.setdefault(note.ce_id, note)

    async def redact_notification_errors(self, request_id: UUID) -> None:
        for ce_id, note in list(self._store.timeline.items()):
            entry = note.entry
            if note.request_id == request_id and entry.event_type == "ta.notification.failed":
                summary = entry.summary.split(": ", 1)[0] + ": (erased)"
                redacted = dataclasses.replace(entry, summary=summary)
                self._store.timeline[ce_id] = dataclasses.replace(note, entry=redacted)


class FakeAssignments:
    def __init__(self, store: IntakeStore) -> None:
        self._store = store

    async def add_offer(self, offer: AssignmentOffered, at: datetime) -> None:
        self._store.offers.setdefault(offer.assignment_id, StoredOffer(offer, at))

    async def set_status(self, assignment_id: UUID, status: OfferStatus, *, at: datetime) -> None:
        stored = self._store.offers.get(assignment_id)
        if stored is not None:
            stored.status = status
            stored.reached_at.setdefault(status, at)

    async def lock(self, assignment_id: UUID) -> Assignment | None:
        stored = self._store.offers.get(assignment_id)
        if stored is None:
            return None
        offer = stored.offer
        return Assignment(assignment_id, offer.request_id, offer.partner_id, stored.status)

    async def answers_to(self, assignment_id: UUID) -> list[Decision]:
        given = [a for (i, _), a in self._store.answers.items() if i == assignment_id]
        return [a.decision for a in sorted(given, key=lambda a: a.answered_at)]

    async def add_answer(self, answer: Answer) -> None:
        key = (answer.assignment_id, answer.decision)
        if key in self._store.answers:
            raise KeyError("one answer per assignment and decision")  # the primary key
        self._store.answers[key] = answer

    async def of_partner(self, partner_id: str) -> list[PartnerOffer]:
        mine = [s for s in self._store.offers.values() if s.offer.partner_id == partner_id]
        mine.sort(key=lambda s: s.offered_at, reverse=True)
        return [self._listed(s) for s in mine[:500]]

    def _listed(self, stored: StoredOffer) -> PartnerOffer:
        offer = stored.offer
        answers = self._store.answers
        i = offer.assignment_id
        answer = answers.get((i, "accept")) or answers.get((i, "decline"))
        return PartnerOffer(
            assignment_id=offer.assignment_id,
            request_id=offer.request_id,
            partner_name=offer.partner_name,
            role=offer.role.value,
            score=offer.score,
            respond_by=offer.respond_by,
            status=stored.status,
            offered_at=stored.offered_at,
            answer=None if answer is None else answer.decision,
        )

    async def summary(self, assignment_id: UUID) -> OfferSummary | None:
        stored = self._store.offers.get(assignment_id)
        if stored is None:
            return None
        offer = stored.offer
        request = self._store.requests.get(offer.request_id)
        answers = self._store.answers
        given = [
            answers[k]
            for k in ((assignment_id, "accept"), (assignment_id, "decline"))
            if k in answers
        ]
        first = min(given, key=lambda a: a.answered_at, default=None)
        return OfferSummary(
            assignment_id=assignment_id,
            request_id=offer.request_id,
            partner_id=offer.partner_id,
            partner_name=offer.partner_name,
            role=offer.role.value,
            respond_by=offer.respond_by,
            status=stored.status,
            title=request.event.title if request else "",
            party=request.event.party if request else "",
            topics=tuple(request.event.topics) if request else (),
            answer=None if first is None else first.decision,
        )


class FakeAnswerLinks:
    def __init__(self, store: IntakeStore) -> None:
        self._store = store

    async def use(self, digest: str, assignment_id: UUID, at: datetime) -> bool:
        if digest in self._store.used_links:
            return False
        self._store.used_links[digest] = (assignment_id, at)
        return True

    async def is_used(self, digest: str) -> bool:
        return digest in self._store.used_links

    async def prune(self, now: datetime) -> int:
        offers = self._store.offers
        expired = [
            d
            for d, (assignment_id, _) in self._store.used_links.items()
            if assignment_id in offers and offers[assignment_id].offer.respond_by < now
        ]
        stale = [d for d, (_, at) in self._store.used_sign_in_links.items() if at < now - HOUR]
        for digest in expired:
            del self._store.used_links[digest]
        for digest in stale:
            del self._store.used_sign_in_links[digest]
        return len(expired) + len(stale)

    async def use_sign_in(self, digest: str, partner_id: str, at: datetime) -> bool:
        if digest in self._store.used_sign_in_links:
            return False
        self._store.used_sign_in_links[digest] = (partner_id, at)
        return True


class FakeDeadLetterReplays:
    def __init__(self, store: IntakeStore) -> None:
        self._store = store

    async def claim(self, replay: Replayed) -> bool:
        if replay.offset in self._store.replays:
            return False
        self._store.replays[replay.offset] = replay
        return True

    async def of(self, offsets: Sequence[int]) -> dict[int, Replayed]:
        return {o: self._store.replays[o] for o in offsets if o in self._store.replays}


class FakeReports:
    def __init__(self, store: IntakeStore) -> None:
        self._store = store

    async def assistance_facts(self, scope: Window) -> tuple[list[RequestFacts], list[WorkFacts]]:
        mine = [s for s in self._store.requests.values() if _within(scope, s.event.accepted_at)]
        ids = {s.event.request_id for s in mine}
        work = [
            WorkFacts(o.offer.request_id, o.offer.partner_id, o.status)
            for o in self._store.offers.values()
            if o.offer.request_id in ids and o.status in WAS_ACCEPTED
        ]
        return [_facts(s) for s in mine], work


def _within(scope: Window, at: datetime) -> bool:
    return (scope.start is None or at >= scope.start) and (scope.end is None or at < scope.end)


def _facts(stored: StoredRequest) -> RequestFacts:
    event = stored.event
    return RequestFacts(
        request_id=event.request_id,
        party=event.party,
        region=event.region,
        topics=tuple(event.topics),
        status=stored.status,
        accepted_at=event.accepted_at,
        first_offer_at=stored.first_offer_at,
        matched_at=stored.matched_at,
        completed_at=stored.completed_at,
        rating=stored.closure.rating if stored.closure else None,
        uncovered_topics=stored.uncovered_topics,
    )


def _earliest(known: datetime | None, heard: datetime | None) -> datetime | None:
    return min((t for t in (known, heard) if t is not None), default=None)


class FakeIntakeUnitOfWork(FakeUnitOfWork):
    store: IntakeStore
    requests: FakeRequests
    timeline: FakeTimeline
    assignments: FakeAssignments
    reports: FakeReports
    links: FakeAnswerLinks
    replays: FakeDeadLetterReplays

    def __init__(self, store: IntakeStore) -> None:
        super().__init__(store)

    def _bind(self, store: FakeStore) -> None:
        assert isinstance(store, IntakeStore)
        self.requests = FakeRequests(store)
        self.timeline = FakeTimeline(store)
        self.assignments = FakeAssignments(store)
        self.reports = FakeReports(store)
        self.links = FakeAnswerLinks(store)
        self.replays = FakeDeadLetterReplays(store)


def fake_units(store: IntakeStore) -> Callable[[], FakeIntakeUnitOfWork]:
    """A factory of fake units over one store, as `pg_units` is over one database."""
    return lambda: FakeIntakeUnitOfWork(store)
