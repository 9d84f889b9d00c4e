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

from shared import events, lifecycle

SOURCE = "/stax/intake"  # ce_source of every event intake emits

Clock = Callable[[], datetime]  # the time arrives from outside (app.py: UTC now)

RequestStatus = Literal[
    "accepted", "matching", "waiting", "matched", "unmatched", "completed", "closed"
]
OfferStatus = lifecycle.AssignmentStatus  # matcher's word for an assignment
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
