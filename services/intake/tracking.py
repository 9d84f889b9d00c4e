"""intake's read model: the status and timeline of each request, from the events it consumes.

Each function runs inside ReliableConsumer's transaction (inbox row already claimed), so an event
is applied exactly once; timeline rows are keyed by ce_id as a second guard.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from services.intake import repository
from shared.consuming import ApplyOnConnection
from shared.db import Conn
from shared.envelope import Envelope, mirror_record
from shared.events import (
    AssignmentOffered,
    AssignmentOutcome,
    NotificationFailed,
    NotificationOutcome,
    RequestMatched,
    RequestMatchOutcome,
)
from shared.outbox import Outbox

SOURCE = "/stax/intake"

# What an assignment outcome makes of the offer, by ce_type.
_OUTCOME_STATUS = {
    "ta.assignment.accepted": "accepted",
    "ta.assignment.declined": "declined",
    "ta.assignment.expired": "expired",
}


async def on_match_outcome(conn: Conn, envelope: Envelope, event: RequestMatchOutcome) -> None:
    if isinstance(event, RequestMatched):
        status, summary = "matched", f"matched: {', '.join(event.partners) or 'no partner'}"
    else:
        status = "unmatched"
        summary = f"unmatched: nobody covers {', '.join(event.uncovered_topics) or '-'}"
    await repository.set_status(conn, event.request_id, status, only_from=None)
    await _note(conn, envelope, event.request_id, summary)


async def on_offered(conn: Conn, envelope: Envelope, event: AssignmentOffered) -> None:
    await repository.record_offer(conn, event, envelope.time)
    # The first offer moves an accepted request to matching; a later outcome is never undone.
    await repository.set_status(conn, event.request_id, "matching", only_from="accepted")
    summary = (
        f"offered to {event.partner_name} ({event.partner_id}) as {event.role.value}, "
        f"answer by {event.respond_by:%Y-%m-%d %H:%M} UTC"
    )
    await _note(conn, envelope, event.request_id, summary, event.partner_id)


async def on_assignment_outcome(conn: Conn, envelope: Envelope, event: AssignmentOutcome) -> None:
    status = _OUTCOME_STATUS[envelope.type]
    await repository.set_assignment_status(conn, event.assignment_id, status)
    summary = (
        f"offer to {event.partner_id} expired"
        if status == "expired"
        else f"{status} by {event.partner_id}"
    )
    if event.reason:
        summary += f": {event.reason}"
    await _note(conn, envelope, event.request_id, summary, event.partner_id)


def copied_to_submitter(apply: ApplyOnConnection, outbox: Outbox) -> ApplyOnConnection:
    """`apply`, then the event copied to its request's outcomes topic, if it has one (brief
    §7.1: an upstream system hears of its own requests on its own topic)."""

    async def apply_and_copy(conn: Conn, envelope: Envelope, event: Any) -> None:
        await apply(conn, envelope, event)
        topic = await repository.outcomes_topic_of(conn, event.request_id)
        if topic is not None:
            await outbox.add(conn, [mirror_record(envelope, topic, source=SOURCE)])

    return apply_and_copy


async def on_notification(conn: Conn, envelope: Envelope, event: NotificationOutcome) -> None:
    if event.request_id is None:
        return  # not about a request: nothing to show on a timeline
    if isinstance(event, NotificationFailed):
        # The error may quote the Party contact's address: not kept once that was erased (this
        # topic is not ordered with ta.requests.v1, so it may arrive after the erasure).
        erased = await repository.is_erased(conn, event.request_id)
        why = "(erased)" if erased else event.last_error or "unknown error"
        summary = (
            f"notifying {event.partner_id} by {event.channel.value} failed after "
            f"{event.attempts} attempt(s): {why}"
        )
    else:
        summary = f"{event.partner_id} notified by {event.channel.value}"
    await _note(conn, envelope, event.request_id, summary, event.partner_id)


async def _note(
    conn: Conn, envelope: Envelope, request_id: UUID, summary: str, partner_id: str | None = None
) -> None:
    await repository.add_timeline(
        conn,
        ce_id=envelope.id,
        request_id=request_id,
        at=envelope.time,
        event_type=envelope.type,
        summary=summary,
        partner_id=partner_id,
    )
