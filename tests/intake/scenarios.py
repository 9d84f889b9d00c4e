"""What intake's handler tests start from: a fixed clock, the real reference data, envelopes as
the consumers hand them over, and requests already accepted (all in memory)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from services.intake.adapters.reference_data import load_reference
from services.intake.handlers import submissions, tracking
from shared.envelope import Envelope, OutgoingRecord, as_envelope, build_record
from shared.events import AssignmentOffered, Event, Role
from tests.intake.fakes import FakeIntakeUnitOfWork, IntakeStore, fake_units
from tests.intake.samples import submission

REFERENCE = load_reference()
NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def clock() -> datetime:
    return NOW


_LATER = itertools.count(1)


def envelope_of(event: Event, subject: UUID | str, source: str = "/stax/test") -> Envelope:
    """`event` as a consumer receives it; each one a second after the one before, as events
    happen one after the other (timelines are in the order of the events' times)."""
    time = NOW + timedelta(seconds=next(_LATER))
    return as_envelope(build_record(event, source=source, subject=str(subject), time=time))


def submitted(
    data: dict[str, Any], *, source: str = "/portal", tenant: str | None = None
) -> Envelope:
    """A `ta.request.submitted` record's envelope, with whatever data a producer sent."""
    return Envelope(
        id=uuid4(),
        type="ta.request.submitted",
        source=source,
        subject=None,
        time=NOW,
        data=data,
        tenant=tenant,
    )


async def accepted(store: IntakeStore, ref: str = "r-1", submitter: str = "portal") -> UUID:
    """A request submitted over HTTP and accepted."""
    done = await submissions.submit_request(
        fake_units(store),
        submission(ref),
        submitter=submitter,
        idempotency_key=None,
        reference=REFERENCE,
        clock=clock,
    )
    return done.request_id


def types_of(records: list[OutgoingRecord]) -> list[tuple[str, str]]:
    """(topic, ce_type) of each record, in order."""
    return [(r.topic, r.headers["ce_type"]) for r in records]


def data_of(record: OutgoingRecord) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(record.value)
    return data


async def offered_in(
    store: IntakeStore, partner_id: str = "unido", partner_name: str = "UNIDO <Vienna>"
) -> AssignmentOffered:
    """A request accepted, then offered to `partner_id` as its lead (as intake hears it from
    the matcher), answerable for five days."""
    request_id = await accepted(store, ref=f"r-{uuid4().hex[:6]}")
    offer = AssignmentOffered(
        assignment_id=uuid4(),
        request_id=request_id,
        partner_id=partner_id,
        partner_name=partner_name,
        role=Role.LEAD,
        score=0.8,
        reasons=["covers PCB"],
        covers_topics=["PCB"],
        respond_by=NOW + timedelta(days=5),
    )
    async with FakeIntakeUnitOfWork(store) as uow:
        await tracking.on_offered(uow, envelope_of(offer, request_id), offer)
    return offer
