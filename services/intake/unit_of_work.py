"""intake's unit of work: what its handlers see (`IntakeUnitOfWork`), and the PostgreSQL one.

Handlers are typed against the protocols only, so the tests' fakes (tests/intake/fakes.py) and
`PgIntakeUnitOfWork` are interchangeable; tests/intake/test_repository_contract.py keeps them so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

import asyncpg

from services.intake.domain.dead_letters import Replayed
from services.intake.domain.model import (
    Answer,
    Assignment,
    Decision,
    Fingerprinted,
    Milestones,
    Note,
    OfferStatus,
    OfferSummary,
    PartnerOffer,
    StatusMark,
    TrackedRequest,
)
from services.intake.domain.reporting import RequestFacts, Window, WorkFacts
from services.intake.repositories import (
    PgAnswerLinks,
    PgAssignments,
    PgDeadLetterReplays,
    PgReports,
    PgRequests,
    PgTimeline,
)
from shared.db import Conn
from shared.events import AssignmentOffered, RequestAccepted
from shared.uow import PgUnitOfWork, UnitOfWork

SCHEMA = "intake"


class Requests(Protocol):
    async def by_ref(self, submitter: str, external_ref: str) -> Fingerprinted | None: ...

    async def by_idempotency_key(self, submitter: str, key: str) -> Fingerprinted | None: ...

    async def add(
        self, event: RequestAccepted, body_hash: str, *, note: Note, outcomes_topic: str | None
    ) -> bool:
        """False (and nothing written) if the submitter's external_ref is already taken."""
        ...

    async def add_idempotency_key(
        self, submitter: str, key: str, request_id: UUID, body_hash: str
    ) -> bool:
        """False (and nothing written) if the key is already taken."""
        ...

    async def view(self, request_id: UUID) -> TrackedRequest | None: ...

    async def lock_status(self, request_id: UUID) -> StatusMark | None:
        """The request's status; the request stays locked until the unit ends."""
        ...

    async def set_status(self, request_id: UUID, mark: StatusMark) -> None: ...

    async def record(
        self, request_id: UUID, milestones: Milestones, *, status: StatusMark | None = None
    ) -> None:
        """Keep the earliest of each time; a closure's comment is blank once erased. With
        `status`, also set_status, in one write."""
        ...

    async def outcomes_topic_of(self, request_id: UUID) -> str | None: ...

    async def lock_for_erasure(self, request_id: UUID) -> tuple[bool, datetime | None]:
        """(found, erased_at); the request stays locked until the unit ends."""
        ...

    async def erase_contact(self, request_id: UUID, *, erased_at: datetime) -> None:
        """Blank the contact and the feedback comment; the first erasure's time is kept."""
        ...

    async def ask_closing(self, request_id: UUID, at: datetime) -> bool: ...
    async def is_erased(self, request_id: UUID) -> bool: ...


class Timeline(Protocol):
    async def add(self, note: Note) -> None:
        """Once per ce_id: a second note of the same event is ignored."""
        ...

    async def redact_notification_errors(self, request_id: UUID) -> None: ...


class Assignments(Protocol):
    async def add_offer(self, offer: AssignmentOffered, at: datetime) -> None:
        """Once per assignment_id: a second offer with the same id is ignored."""
        ...

    async def set_status(
        self, assignment_id: UUID, status: OfferStatus, *, at: datetime
    ) -> None: ...

    async def lock(self, assignment_id: UUID) -> Assignment | None:
        """The offer, locked until the unit ends (answers to it are serialised)."""
        ...

    async def answers_to(self, assignment_id: UUID) -> list[Decision]: ...

    async def add_answer(self, answer: Answer) -> None: ...

    async def of_partner(self, partner_id: str) -> list[PartnerOffer]: ...

    async def summary(self, assignment_id: UUID) -> OfferSummary | None: ...


class AnswerLinks(Protocol):
    async def use(self, digest: str, assignment_id: UUID, at: datetime) -> bool:
        """True the first time a link (its digest) is used; False, and nothing written, after."""
        ...

    async def is_used(self, digest: str) -> bool: ...

    async def use_sign_in(self, digest: str, partner_id: str, at: datetime) -> bool:
        """As `use`, for the portal's e-mailed sign-in links."""
        ...

    async def prune(self, now: datetime) -> int:
        """Forget used links past their expiry (they cannot verify any more); how many went."""
        ...


class DeadLetterReplays(Protocol):
    async def claim(self, replay: Replayed) -> bool:
        """True the first time a dead letter (its offset) is replayed; False, and nothing
        written, after."""
        ...

    async def of(self, offsets: Sequence[int]) -> dict[int, Replayed]: ...


class Reports(Protocol):
    async def assistance_facts(self, scope: Window) -> tuple[list[RequestFacts], list[WorkFacts]]:
        """The requests accepted in `scope`, and those of their assignments that were accepted."""
        ...


class IntakeUnitOfWork(UnitOfWork, Protocol):
    # Read-only properties: each unit may hold its own kind of repository (real or fake).
    @property
    def requests(self) -> Requests: ...

    @property
    def timeline(self) -> Timeline: ...

    @property
    def assignments(self) -> Assignments: ...

    @property
    def reports(self) -> Reports: ...

    @property
    def links(self) -> AnswerLinks: ...

    @property
    def replays(self) -> DeadLetterReplays: ...


IntakeUnits = Callable[[], IntakeUnitOfWork]


class PgIntakeUnitOfWork(PgUnitOfWork):
    requests: PgRequests
    timeline: PgTimeline
    assignments: PgAssignments
    reports: PgReports
    links: PgAnswerLinks
    replays: PgDeadLetterReplays

    def __init__(self, pool: asyncpg.Pool) -> None:
        super().__init__(pool, SCHEMA)

    def _bind(self, conn: Conn) -> None:
        self.requests = PgRequests(conn)
        self.timeline = PgTimeline(conn, self.gathered(PgTimeline.write))
        self.assignments = PgAssignments(conn)
        self.reports = PgReports(conn)
        self.links = PgAnswerLinks(conn)
        self.replays = PgDeadLetterReplays(conn)


def pg_units(pool: asyncpg.Pool) -> Callable[[], PgIntakeUnitOfWork]:
    """The factory app.py hands to the entry points: a fresh unit per use."""
    return lambda: PgIntakeUnitOfWork(pool)
