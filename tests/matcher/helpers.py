"""Building matcher's input events and reading what it decided, for matcher's tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from shared.envelope import Envelope, OutgoingRecord
from shared.events import AssignmentResponse, Contact, Eligibility, Event, RequestAccepted

REGIONS = {"SEN": "AFR", "MLI": "AFR", "BRA": "GRULAC", "CHN": "APAC", "KEN": "AFR", "IND": "APAC"}


def accepted(
    party: str = "SEN",
    topics: tuple[str, ...] = ("PCB",),
    types: tuple[str, ...] = ("training",),
    languages: tuple[str, ...] = ("fr",),
) -> RequestAccepted:
    return RequestAccepted(
        external_ref=f"test-{uuid4().hex[:8]}",
        party=party,
        title="Help wanted",
        description="A test request",
        topics=list(topics),
        assistance_types=list(types),
        languages=list(languages),
        contact=Contact(name="A. Test", email="a.test@example.org", organisation="Ministry"),
        request_id=uuid4(),
        submitter="tests",
        region=REGIONS[party],
        eligibility=Eligibility(developing=True, economy_in_transition=False, ldc=True, sids=False),
        accepted_at=datetime.now(UTC),
    )


def envelope(event: Event, subject: str = "r") -> Envelope:
    return Envelope(
        id=uuid4(),
        type=event.ce_type,
        source="/tests",
        subject=subject,
        time=datetime.now(UTC),
        data=event.model_dump(mode="json"),
    )


def answer(
    offer: dict[str, Any], decision: str, reason: str = "", **more: Any
) -> AssignmentResponse:
    """The offered partner's answer; `more` carries a completion's outcome and deliverables."""
    return AssignmentResponse(
        assignment_id=offer["assignment_id"],
        partner_id=offer["partner_id"],
        decision=decision,
        reason=reason,
        **more,
    )


@dataclass(frozen=True)
class Emitted:
    type: str
    data: dict[str, Any]


def emitted(outbox: Sequence[OutgoingRecord], request_id: UUID) -> list[Emitted]:
    """What matcher queued in its outbox for one request, in order."""
    key = str(request_id).encode()
    return [Emitted(r.headers["ce_type"], json.loads(r.value)) for r in outbox if r.key == key]


def of_type(events: list[Emitted], ce_type: str) -> list[dict[str, Any]]:
    return [e.data for e in events if e.type == ce_type]


def open_offers(events: list[Emitted]) -> list[dict[str, Any]]:
    """Offers not yet followed by an outcome."""
    closed = {
        e.data["assignment_id"]
        for e in events
        if e.type in ("ta.assignment.accepted", "ta.assignment.declined", "ta.assignment.expired")
    }
    return [o for o in of_type(events, "ta.assignment.offered") if o["assignment_id"] not in closed]
