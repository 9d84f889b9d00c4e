"""Erasure of one request's personal data (its contact) at an operator's request.

The HTTP use case blanks intake's own copy at once and emits `ta.request.erased`; every service
then applies that event in its own schema, intake included (`on_erased`): by the time intake
consumes its own event, the relay has sent every earlier row of the request (rows leave in id
order), so the outbox rows that carried the contact can be redacted without changing what any
reader gets. Kafka records already written cannot be rewritten: topic retention bounds them.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from services.intake import repository
from services.intake.handlers import SOURCE, IntakeDeps
from shared.db import Conn
from shared.envelope import Envelope, build_record
from shared.events import NotificationFailed, RequestAccepted, RequestErased
from shared.outbox import Outbox

# The outbox rows of a request that carry its contact, and the fields that are personal data:
# the accepted event (and its copies for the submitter's outcomes topic).
PERSONAL_FIELDS = ("contact",)


class UnknownRequest(Exception):  # noqa: N818 - a domain outcome, reported as HTTP 404
    pass


async def erase_request(deps: IntakeDeps, request_id: UUID) -> datetime:
    """Blank the request's contact and queue `ta.request.erased`, once: asking again answers
    with the first erasure's time and emits nothing."""
    async with deps.pool.acquire() as conn, conn.transaction():
        # FOR UPDATE: two operators erasing at once emit one event, not two.
        found = await repository.lock_erasure(conn, request_id)
        if found is None:
            raise UnknownRequest(str(request_id))
        if found.erased_at is not None:
            return found.erased_at
        event = RequestErased(request_id=request_id, erased_at=deps.clock())
        record = build_record(event, source=SOURCE, subject=str(request_id), time=event.erased_at)
        await repository.erase_contact(conn, request_id, erased_at=event.erased_at)
        await repository.add_timeline(
            conn,
            ce_id=record.ce_id,
            request_id=request_id,
            at=event.erased_at,
            event_type=event.ce_type,
            summary="personal data erased at an operator's request",
        )
        await deps.outbox.add(conn, [record])
        return event.erased_at


async def on_erased(outbox: Outbox, conn: Conn, _envelope: Envelope, event: RequestErased) -> None:
    """Intake's share of an erasure, applied when its own event comes back from Kafka."""
    await repository.erase_contact(conn, event.request_id, erased_at=event.erased_at)
    await outbox.redact(conn, event.request_id, [RequestAccepted.ce_type], PERSONAL_FIELDS)
    # A failed e-mail's error may quote the Party contact's address (an SMTP refusal does).
    await outbox.redact(conn, event.request_id, [NotificationFailed.ce_type], ["last_error"])
    await repository.redact_notification_errors(conn, event.request_id)
