"""intake's read model: the status and timeline of each request, from the events it consumes.

Each function runs in the consumer's unit of work (inbox row already claimed), so an event is
applied exactly once; timeline entries are keyed by ce_id as a second guard. Outcomes a submitter
needs are copied to its request's outcomes topic, if it has one (brief §7.1: an upstream system
hears of its own requests on its own topic).

A request's status comes from two topics that interleave at intake (ta.requests.v1 and
ta.assignments.v1): `_advance` keeps whichever view is the later one (domain.progress), so the
final status is the same in whatever order the two were consumed. An assignment's status only
moves forward (shared.lifecycle.furthest).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from services.intake.domain.model import (
    SOURCE,
    Closure,
    Milestones,
    Note,
    OfferStatus,
    RequestStatus,
    StatusMark,
    TimelineEntry,
)
from services.intake.domain.progress import supersedes
from services.intake.unit_of_work import IntakeUnitOfWork
from shared.envelope import Envelope, mirror_record
from shared.events import (
    AssignmentAccepted,
    AssignmentCompleted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    AssignmentOutcome,
    AssignmentStarted,
    AssignmentWithdrawn,
    NotificationFailed,
    NotificationOutcome,
    RequestClosed,
    RequestCompleted,
    RequestMatched,
    RequestMatchOutcome,
    RequestWaiting,
)
from shared.lifecycle import furthest

# What an assignment outcome makes of the offer, by ce_type.
_OUTCOME_STATUS: dict[str, OfferStatus] = {
    AssignmentAccepted.ce_type: "accepted",
    AssignmentDeclined.ce_type: "declined",
    AssignmentExpired.ce_type: "expired",
    AssignmentStarted.ce_type: "started",
    AssignmentCompleted.ce_type: "completed",
    AssignmentWithdrawn.ce_type: "withdrawn",
}


async def on_match_outcome(
    uow: IntakeUnitOfWork, envelope: Envelope, event: RequestMatchOutcome
) -> None:
    uncovered = tuple(event.uncovered_topics)
    if isinstance(event, RequestMatched):
        milestones = Milestones(matched_at=envelope.time, uncovered_topics=uncovered)
        await _advance(uow, event.request_id, "matched", envelope.time, milestones)
        summary = f"matched: {', '.join(event.partners) or 'no partner'}"
    else:
        milestones = Milestones(uncovered_topics=uncovered)
        await _advance(uow, event.request_id, "unmatched", envelope.time, milestones)
        summary = f"unmatched: nobody covers {', '.join(event.uncovered_topics) or '-'}"
    await _note(uow, envelope, event.request_id, summary)
    await _copy_to_submitter(uow, envelope, event.request_id)


async def on_waiting(uow: IntakeUnitOfWork, envelope: Envelope, event: RequestWaiting) -> None:
    await _advance(uow, event.request_id, "waiting", envelope.time)
    summary = f"waiting for capacity of {', '.join(event.partners) or 'no partner'}"
    await _note(uow, envelope, event.request_id, _with(summary, event.reason))
    await _copy_to_submitter(uow, envelope, event.request_id)


async def on_completed(uow: IntakeUnitOfWork, envelope: Envelope, event: RequestCompleted) -> None:
    milestones = Milestones(completed_at=envelope.time)
    await _advance(uow, event.request_id, "completed", envelope.time, milestones)
    done_by = f"work done by {', '.join(event.partners)}" if event.partners else ""
    await _note(uow, envelope, event.request_id, _with("completed", done_by))
    await _copy_to_submitter(uow, envelope, event.request_id)


async def on_closed(uow: IntakeUnitOfWork, envelope: Envelope, event: RequestClosed) -> None:
    """The comment is kept for the request (an erasure blanks it) but not written on the
    timeline, which keeps no personal data."""
    closure = Closure(envelope.time, event.closed_by, event.rating, event.comment)
    await _advance(uow, event.request_id, "closed", envelope.time, Milestones(closure=closure))
    rated = f", rated {event.rating}/5" if event.rating is not None else ""
    await _note(uow, envelope, event.request_id, f"closed by {event.closed_by}{rated}")
    await _copy_to_submitter(uow, envelope, event.request_id)
    if await uow.requests.is_erased(event.request_id):
        # Closed after its erasure: the submitter's copy goes without the comment too.
        await uow.redact_outbox(event.request_id, [RequestClosed.ce_type], ["comment"])


async def on_offered(uow: IntakeUnitOfWork, envelope: Envelope, event: AssignmentOffered) -> None:
    await uow.assignments.add_offer(event, envelope.time)
    # Someone is being asked: matching, unless the matcher decided something since (progress).
    milestones = Milestones(first_offer_at=envelope.time)
    await _advance(uow, event.request_id, "matching", envelope.time, milestones)
    summary = (
        f"offered to {event.partner_name} ({event.partner_id}) as {event.role.value}, "
        f"answer by {event.respond_by:%Y-%m-%d %H:%M} UTC"
    )
    await _note(uow, envelope, event.request_id, summary, event.partner_id)
    await _copy_to_submitter(uow, envelope, event.request_id)


async def on_assignment_outcome(
    uow: IntakeUnitOfWork, envelope: Envelope, event: AssignmentOutcome
) -> None:
    """An offer's answer, its expiry, or a step of the accepted work. None of them moves the
    request: the matcher follows each with the offer or the settlement that does."""
    status = _OUTCOME_STATUS[envelope.type]
    known = await uow.assignments.lock(event.assignment_id)
    if known is not None and furthest(known.status, status) != known.status:
        await uow.assignments.set_status(event.assignment_id, status, at=envelope.time)
    summary = _outcome_summary(status, event)
    await _note(uow, envelope, event.request_id, summary, event.partner_id)
    await _copy_to_submitter(uow, envelope, event.request_id)


def _outcome_summary(status: OfferStatus, event: AssignmentOutcome) -> str:
    if status == "expired":
        return _with(f"offer to {event.partner_id} expired", event.reason)
    if isinstance(event, AssignmentCompleted):
        delivered = f"{len(event.deliverables)} deliverable(s)" if event.deliverables else ""
        said = ", ".join(part for part in (event.outcome, delivered) if part)
        return _with(f"completed by {event.partner_id}", said)
    return _with(f"{status} by {event.partner_id}", event.reason)


def _with(summary: str, detail: str) -> str:
    return f"{summary}: {detail}" if detail else summary


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


async def _advance(
    uow: IntakeUnitOfWork,
    request_id: UUID,
    status: RequestStatus,
    at: datetime,
    milestones: Milestones | None = None,
) -> None:
    """Move the request to `status`, decided by the matcher at `at`, if that is later than
    what intake knows (the row is locked: the other topic's consumer waits), and keep the
    event's `milestones` whether it moves or not: one write for both."""
    current = await uow.requests.lock_status(request_id)
    heard = StatusMark(status, at)
    moved = heard if current is not None and supersedes(heard, current) else None
    if milestones is not None:
        await uow.requests.record(request_id, milestones, status=moved)
    elif moved is not None:
        await uow.requests.set_status(request_id, moved)


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
