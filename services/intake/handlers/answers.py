"""Partner answers to offers and to accepted work: each decision recorded once per assignment,
emitted as ta.assignment.response; contradictions refused before anything is emitted."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from services.intake.domain.errors import AnswerConflict, NotYourAssignment, UnknownAssignment
from services.intake.domain.model import SOURCE, Answer, Clock, Decision, Note, TimelineEntry
from services.intake.unit_of_work import IntakeUnitOfWork
from shared import lifecycle
from shared.doorbell import Arrivals
from shared.envelope import build_record
from shared.events import AssignmentResponse
from shared.lifecycle import AssignmentStatus, Verdict
from shared.logs import log_context

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class OfferWait:
    """How an answer waits for an offer intake has not read yet: the notices of recorded offers
    (repositories.OFFERS_CHANNEL), and for how long at most (0: not at all)."""

    offers: Arrivals
    seconds: float


async def once_offered(
    wait: OfferWait, assignment_id: UUID, attempt: Callable[[], Awaitable[T]], *, partner_id: str
) -> T:
    """`attempt()` (a whole unit of work on the assignment); if intake has not read the offer
    yet (UnknownAssignment), once more when the offer is recorded, or after `wait.seconds`.

    The matcher's ta.assignment.offered reaches notifier, which tells the partner, and intake,
    which records the offer, independently: a partner answering as soon as the webhook or the
    e-mail arrives can come first. Waiting here keeps that race out of the partner's sight.
    `partner_id`, who answers, is the owner whose waiters are counted (OfferWait.offers)."""
    with wait.offers.expecting(str(assignment_id), partner_id) as recorded:  # none lost
        try:
            return await attempt()
        except UnknownAssignment:
            if recorded is None or wait.seconds <= 0:  # too many waiting already, or waits off
                raise
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(recorded.wait(), wait.seconds)
    # Whether or not the notice came (one is lost while the listener reconnects), look again.
    return await attempt()


async def answer_offer(
    uow: IntakeUnitOfWork,
    *,
    assignment_id: UUID,
    partner_id: str,
    decision: Decision,
    reason: str,
    clock: Clock,
    outcome: str = "",
    deliverables: Sequence[str] = (),
) -> bool:
    """Record the partner's answer and queue it for the matcher; False when the same answer had
    been recorded before, or is already in effect (nothing new is emitted)."""
    offer = await uow.assignments.lock(assignment_id)
    if offer is None:
        raise UnknownAssignment
    if offer.partner_id != partner_id:
        raise NotYourAssignment
    earlier = await uow.assignments.answers_to(assignment_id)  # read after the lock
    if decision in earlier:
        return False
    now_at = _as_known(offer.status, earlier)
    verdict = lifecycle.judge(now_at, decision)
    if verdict is Verdict.CONTRADICTS:
        raise AnswerConflict(f"the assignment is {now_at}: it cannot be answered {decision}")
    if verdict is Verdict.REPEATED:
        return False
    response = AssignmentResponse(
        assignment_id=assignment_id,
        partner_id=partner_id,
        decision=decision,
        reason=reason,
        outcome=outcome,
        deliverables=list(deliverables),
    )
    now = clock()
    record = build_record(response, source=SOURCE, subject=str(offer.request_id), time=now)
    # Answer, outbox row and timeline entry commit together: answered ⇔ emitted.
    await uow.assignments.add_answer(
        Answer(
            assignment_id,
            partner_id,
            decision,
            reason,
            record.ce_id,
            now,
            outcome,
            tuple(deliverables),
        )
    )
    await uow.emit([record])
    summary = f"{partner_id} answered {decision}" + (f": {reason}" if reason else "")
    entry = TimelineEntry(now, response.ce_type, partner_id, summary)
    await uow.timeline.add(Note(record.ce_id, offer.request_id, entry))
    with log_context(request_id=str(offer.request_id)):  # not the reason: a person's free text
        log.info("%s answered %s to assignment %s", partner_id, decision, assignment_id)
    return True


def _as_known(status: AssignmentStatus, earlier: Sequence[Decision]) -> AssignmentStatus:
    """Where the assignment stands as far as intake knows: matcher's last word, moved on by the
    answers given here since (matcher may not have applied them yet). An offer that expired or
    was declined stays so, whatever was answered meanwhile."""
    answered: AssignmentStatus = "offered"
    for decision in earlier:
        answered = lifecycle.after(answered, decision)
    return lifecycle.furthest(status, answered)
