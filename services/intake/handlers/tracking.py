"""intake's read model: the status and timeline of each request, from the events it consumes.

Each function runs in the consumer's unit of work (inbox row already claimed), so an event is
applied exactly once; timeline entries are keyed by ce_id as a second guard. Outcomes a submitter
needs are copied to its request's outcomes topic, if it has one (brief §7.1: an upstream system
hears of its own requests on its own topic).
"""

from __future__ import annotations

from uuid import UUID

from services.intake.domain.model import SOURCE, Note, OfferStatus, TimelineEntry
from services.intake.unit_of_work import IntakeUnitOfWork
from shared.envelope import Envelope, mirror_record
from shared.events import (
    AssignmentAccepted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    AssignmentOutcome,
    NotificationFailed,
    NotificationOutcome,
    RequestMatched,
    RequestMatchOutcome,
)

# What an assignment outcome makes of the offer, by ce_type.
_OUTCOME_STATUS: dict[str, OfferStatus] = {
    AssignmentAccepted.ce_type: "accepted",
    AssignmentDeclined.ce_type: "declined",
    AssignmentExpired.ce_type: "expired",
}


async def on_match_outcome(
    uow: IntakeUnitOfWork, envelope: Envelope, event: RequestMatchOutcome
) -> None:
    if isinstance(event, RequestMatched):
        await uow.requests.set_status(event.request_id, "matched", only_from=None)
        summary = f"matched: {', '.join(event.partners) or 'no partner'}"
    else:
        await uow.requests.set_status(event.request_id, "unmatched", only_from=None)
        summary = f"unmatched: nobody covers {', '.join(event.uncovered_topics) or '-'}"
    await _note(uow, envelope, event.request_id, summary)
    await _copy_to_submitter(uow, envelope, event.request_id)


async def on_offered(uow: IntakeUnitOfWork, envelope: Envelope, event: AssignmentOffered) -> None:
    await uow.assignments.add_offer(event, envelope.time)
    # The first offer moves an accepted request to matching; a later outcome is never undone.
    await uow.requests.set_status(event.request_id, "matching", only_from="accepted")
    summary = (
        f"offered to {event.partner_name} ({event.partner_id}) as {event.role.value}, "
        f"answer by {event.respond_by:%Y-%m-%d %H:%M} UTC"
    )
    await _note(uow, envelope, event.request_id, summary, event.partner_id)
    await _copy_to_submitter(uow, envelope, event.request_id)


async def on_assignment_outcome(
    uow: IntakeUnitOfWork, envelope: Envelope, event: AssignmentOutcome
) -> None:
    status = _OUTCOME_STATUS[envelope.type]
    await uow.assignments.set_status(event.assignment_id, status)
    summary = (
        f"offer to {event.partner_id} expired"
        if status == "expired"
        else f"{status} by {event.partner_id}"
    )
    if event.reason:
        summary += f": {event.reason}"
    await _note(uow, envelope, event.request_id, summary, event.partner_id)
    await _copy_to_submitter(uow, envelope, event.request_id)


async def on_notification(
    uow: IntakeUnitOfWork, envelope: Envelope, event: NotificationOutcome
) -> None:
    """Noted on the timeline; not copied to the submitter's topic: it says nothing it needs."""
    if event.request_id is None:
        return  # not about a request: nothing to show on a timeline
    if isinstance(event, NotificationFailed):
        # The error may quote the Party contact's address: not kept once that was erased (this
        # topic is not ordered with ta.requests.v1, so it may arrive after the erasure).
        erased = await uow.requests.is_erased(event.request_id)
        why = "(erased)" if erased else event.last_error or "unknown error"
        summary = (
            f"notifying {event.partner_id} by {event.channel.value} failed after "
            f"{event.attempts} attempt(s): {why}"
        )
    else:
        summary = f"{event.partner_id} notified by {event.channel.value}"
    await _note(uow, envelope, event.request_id, summary, event.partner_id)


async def _note(
    uow: IntakeUnitOfWork,
    envelope: Envelope,
    request_id: UUID,
    summary: str,
    partner_id: str | None = None,
) -> None:
    entry = TimelineEntry(envelope.time, envelope.type, partner_id, summary)
    await uow.timeline.add(Note(envelope.id, request_id, entry))


async def _copy_to_submitter(uow: IntakeUnitOfWork, envelope: Envelope, request_id: UUID) -> None:
    topic = await uow.requests.outcomes_topic_of(request_id)
    if topic is not None:
        await uow.emit([mirror_record(envelope, topic, source=SOURCE)])
