"""Partner answers to offers: recorded once per assignment, emitted as ta.assignment.response."""

from __future__ import annotations

from uuid import UUID

from services.intake.domain.errors import AnswerConflict, NotYourAssignment, UnknownAssignment
from services.intake.domain.model import SOURCE, Answer, Clock, Decision, Note, TimelineEntry
from services.intake.unit_of_work import IntakeUnitOfWork
from shared.envelope import build_record
from shared.events import AssignmentResponse


async def answer_offer(
    uow: IntakeUnitOfWork,
    *,
    assignment_id: UUID,
    partner_id: str,
    decision: Decision,
    reason: str,
    clock: Clock,
) -> bool:
    """Record the partner's answer and queue it for the matcher; False when the same answer had
    been recorded before (nothing new is emitted)."""
    offer = await uow.assignments.lock(assignment_id)
    if offer is None:
        raise UnknownAssignment
    if offer.partner_id != partner_id:
        raise NotYourAssignment
    earlier = await uow.assignments.answer_to(assignment_id)  # read after the lock
    if earlier is not None:
        if earlier != decision:
            raise AnswerConflict(f"already answered {earlier}")
        return False
    if offer.status == "expired":
        raise AnswerConflict("the offer has expired")
    response = AssignmentResponse(
        assignment_id=assignment_id, partner_id=partner_id, decision=decision, reason=reason
    )
    now = clock()
    record = build_record(response, source=SOURCE, subject=str(offer.request_id), time=now)
    # Answer, outbox row and timeline entry commit together: answered ⇔ emitted.
    await uow.assignments.add_answer(
        Answer(assignment_id, partner_id, decision, reason, record.ce_id, now)
    )
    await uow.emit([record])
    summary = f"{partner_id} answered {decision}" + (f": {reason}" if reason else "")
    entry = TimelineEntry(now, response.ce_type, partner_id, summary)
    await uow.timeline.add(Note(record.ce_id, offer.request_id, entry))
    return True
