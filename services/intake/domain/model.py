"""What intake keeps about requests, their timelines and the offers made for them.

The repositories return these (never database rows); the fakes of the tests keep them as they
are. Statuses are the words the API shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from shared import events
from shared.lifecycle import AssignmentStatus

SOURCE = "/stax/intake"  # ce_source of every event intake emits

Clock = Callable[[], datetime]  # the time arrives from outside (app.py: UTC now)

# accepted → matching → (waiting ↔ matching) → matched | unmatched → completed → closed; an
# operator may also close an unmatched or waiting request (brief §7.2).
RequestStatus = Literal[
    "accepted", "matching", "waiting", "matched", "unmatched", "completed", "closed"
]
OfferStatus = AssignmentStatus  # the matcher's word for an offer, as shared.lifecycle has it
# What a partner may say about an offer and the work after it (shared.lifecycle).
Decision = events.Decision


@dataclass(frozen=True)
class Fingerprinted:
    """A request already recorded under an idempotency key or external_ref, and its body's hash:
    the same body again is a replay, another body a conflict."""

    request_id: UUID
    body_hash: str


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    event_type: str
    partner_id: str | None
    summary: str


@dataclass(frozen=True)
class Note:
    """A timeline entry to add; `ce_id` is the event's, so an event is noted once."""

    ce_id: UUID
    request_id: UUID
    entry: TimelineEntry


@dataclass(frozen=True)
class TrackedRequest:
    """A request as its submitter (or an operator) sees it: one consistent snapshot."""

    request_id: UUID
    status: RequestStatus
    submitter: str
    external_ref: str
    party: str
    accepted_at: datetime
    timeline: list[TimelineEntry]


@dataclass(frozen=True)
class Assignment:
    """An offer as intake heard of it from the matcher."""

    assignment_id: UUID
    request_id: UUID
    partner_id: str
    status: OfferStatus


@dataclass(frozen=True)
class Answer:
    assignment_id: UUID
    partner_id: str
    decision: Decision
    reason: str
    ce_id: UUID
    answered_at: datetime
    outcome: str = ""  # complete only: what was delivered
    deliverables: tuple[str, ...] = ()  # complete only: links to it


@dataclass(frozen=True)
class PartnerOffer:
    """One offer in a partner's listing, with its answer once given."""

    assignment_id: UUID
    request_id: UUID
    partner_name: str
    role: str
    score: float
    respond_by: datetime
    status: OfferStatus
    offered_at: datetime
    answer: Decision | None

    @property
    def is_open(self) -> bool:
        """Still waiting for this partner: offered, and not answered."""
        return self.status == "offered" and self.answer is None


@dataclass(frozen=True)
class OfferSummary:
    """An offer as the person answering it from an e-mail link sees it (GET /answer/…)."""

    assignment_id: UUID
    request_id: UUID
    partner_id: str
    partner_name: str
    role: str
    respond_by: datetime
    status: OfferStatus
    title: str
    party: str
    topics: tuple[str, ...]
    answer: Decision | None  # accept or decline, once given (by link or by API)


@dataclass(frozen=True)
class StatusMark:
    """A request's status and when the matcher decided it (its event's ce_time); `at` is None
    for intake's own "accepted", which every later status follows."""

    status: RequestStatus
    at: datetime | None


@dataclass(frozen=True)
class Closure:
    """How a request was closed: ta.request.closed. `comment` is the submitter's free text,
    personal data as much as the contact is: an erasure blanks it."""

    at: datetime
    closed_by: str
    rating: int | None
    comment: str


@dataclass(frozen=True)
class Milestones:
    """What one event tells the report about its request; None = nothing. Times keep the
    earliest seen (a redelivered or repeated event changes nothing)."""

    first_offer_at: datetime | None = None
    matched_at: datetime | None = None
    completed_at: datetime | None = None
    uncovered_topics: tuple[str, ...] | None = None  # the latest settlement's
    closure: Closure | None = None
