"""Erasure of one request's personal data (its contact, and the submitter's feedback comment) at
an operator's request.

The HTTP use case blanks intake's own copy at once and emits `ta.request.erased`; every service
then applies that event in its own schema, intake included (`on_erased`): by the time intake
consumes its own event, the relay has sent every earlier row of the request (rows leave in id
order), so the outbox rows that carried the contact can be redacted without changing what any
reader gets. Kafka records already written cannot be rewritten: topic retention bounds them.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from services.intake.domain.errors import UnknownRequest
from services.intake.domain.model import SOURCE, Clock, Note, TimelineEntry
from services.intake.unit_of_work import IntakeUnitOfWork
from shared.envelope import Envelope, build_record
from shared.events import (
    NotificationFailed,
    RequestAccepted,
    RequestClosed,
    RequestClosing,
    RequestErased,
)

# The outbox rows of a request that carry its contact, and the fields that are personal data:
# the accepted event (and its copies for the submitter's outcomes topic).
PERSONAL_FIELDS = ("contact",)
# The rows that carry the submitter's feedback comment: the closing intake emits when it hears the
# feedback, and the copies of the matcher's closed event for the submitter's outcomes topic.
FEEDBACK_TYPES = (RequestClosing.ce_type, RequestClosed.ce_type)


async def erase_request(uow: IntakeUnitOfWork, request_id: UUID, *, clock: Clock) -> datetime:
    """Blank the request's contact and queue `ta.request.erased`, once: asking again answers
    with the first erasure's time and emits nothing."""
    found, erased_at = await uow.requests.lock_for_erasure(request_id)
    if not found:
        raise UnknownRequest(str(request_id))
    if erased_at is not None:
        return erased_at
    event = RequestErased(request_id=request_id, erased_at=clock())
    record = build_record(event, source=SOURCE, subject=str(request_id), time=event.erased_at)
    await uow.requests.erase_contact(request_id, erased_at=event.erased_at)
    summary = "personal data erased at an operator's request"
    entry = TimelineEntry(event.erased_at, event.ce_type, None, summary)
    await uow.timeline.add(Note(record.ce_id, request_id, entry))
    await uow.emit([record])
    return event.erased_at


async def on_erased(uow: IntakeUnitOfWork, _envelope: Envelope, event: RequestErased) -> None:
    """Intake's share of an erasure, applied when its own event comes back from Kafka."""
    await uow.requests.erase_contact(event.request_id, erased_at=event.erased_at)
    await uow.redact_outbox(event.request_id, [RequestAccepted.ce_type], PERSONAL_FIELDS)
    await uow.redact_outbox(event.request_id, FEEDBACK_TYPES, ["comment"])
    # A failed e-mail's error may quote the Party contact's address (an SMTP refusal does).
    await uow.redact_outbox(event.request_id, [NotificationFailed.ce_type], ["last_error"])
    await uow.timeline.redact_notification_errors(event.request_id)
