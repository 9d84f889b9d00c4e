"""A partner's answer to an offer or to accepted work (brief §7.2): accept fills the slot, a
decline re-offers it; then start, complete (capacity freed) or withdraw (capacity freed, the slot
re-offered). Capacity freed goes first to the requests waiting for that partner."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from services.matcher import domain
from services.matcher.adapters import metrics
from services.matcher.domain import Assignment, MatchRequest, Verdict
from services.matcher.handlers import saga, waiting
from services.matcher.handlers.saga import Matching
from services.matcher.unit_of_work import MatcherUnitOfWork
from shared.envelope import Envelope, PoisonRecord
from shared.events import AssignmentCompleted, AssignmentResponse, AssignmentStarted, Decision

log = logging.getLogger(__name__)


async def on_assignment_response(
    uow: MatcherUnitOfWork, envelope: Envelope, response: AssignmentResponse, *, matching: Matching
) -> None:
    """Apply a partner's answer; answers that cannot apply are recorded, never raised."""
    found = await uow.offers.get(response.assignment_id)
    request = await uow.requests.lock(found.request_id) if found else None
    if found is None or request is None:
        return await _record(uow, envelope, response, Verdict.UNKNOWN_ASSIGNMENT)
    if found.partner_id != response.partner_id:
        return await _record(uow, envelope, response, Verdict.WRONG_PARTNER)
    # Read again under the request's lock: an expiry or another answer may have closed it.
    current = await uow.offers.get(response.assignment_id)
    assert current is not None
    verdict = domain.judge_response(current.status, response.decision)
    await _record(uow, envelope, response, verdict)
    if verdict is Verdict.APPLIED:
        await _STEPS[response.decision](uow, matching, request, current, response)


async def on_partner_answer(
    uow: MatcherUnitOfWork, envelope: Envelope, response: AssignmentResponse, *, matching: Matching
) -> None:
    """An answer from a partner's own topic: the partner is the topic's (brief §7.1). An answer
    naming another partner, or another partner's offer, is refused whole (dead-lettered)."""
    partner = envelope.tenant
    if partner is None or response.partner_id != partner:
        raise PoisonRecord(
            "identity_mismatch",
            f"an answer on {partner}'s topic names partner {response.partner_id!r}",
        )
    found = await uow.offers.get(response.assignment_id)
    if found is not None and found.partner_id != partner:
        raise PoisonRecord(
            "not_your_assignment",
            f"{partner} answered assignment {response.assignment_id}, offered to someone else",
        )
    await on_assignment_response(uow, envelope, response, matching=matching)


Step = Callable[
    [MatcherUnitOfWork, Matching, MatchRequest, Assignment, AssignmentResponse], Awaitable[None]
]


async def _accept(
    uow: MatcherUnitOfWork,
    m: Matching,
    request: MatchRequest,
    a: Assignment,
    r: AssignmentResponse,
) -> None:
    await saga.close(uow, a, "accepted", r.reason)
    if a.role == "lead":  # the request has someone to lead the work: matched, for its submitter
        saga.count_since_accepted(uow, request, m.clock(), metrics.matched_after)
    await uow.requests.set_slot_status(a.request_id, saga.slot_of(a), "filled")
    await saga.settle_if_done(uow, request)


async def _decline(
    uow: MatcherUnitOfWork, m: Matching, request: MatchRequest, a: Assignment, r: AssignmentResponse
) -> None:
    await saga.close(uow, a, "declined", r.reason)
    await _reoffer(uow, m, request, a)


async def _start(
    uow: MatcherUnitOfWork, _m: Matching, _r: MatchRequest, a: Assignment, r: AssignmentResponse
) -> None:
    await uow.offers.start(a.assignment_id)
    started = AssignmentStarted(
        assignment_id=a.assignment_id,
        request_id=a.request_id,
        partner_id=a.partner_id,
        reason=r.reason,
    )
    await saga.emit(uow, a.request_id, started)


async def _complete(
    uow: MatcherUnitOfWork, m: Matching, request: MatchRequest, a: Assignment, r: AssignmentResponse
) -> None:
    await uow.offers.complete(a.assignment_id, r.outcome, list(r.deliverables))
    await uow.partners.release_capacity(a.partner_id)
    await uow.requests.set_slot_status(a.request_id, saga.slot_of(a), "completed")
    completed = AssignmentCompleted(
        assignment_id=a.assignment_id,
        request_id=a.request_id,
        partner_id=a.partner_id,
        reason=r.reason,
        outcome=r.outcome,
        deliverables=list(r.deliverables),
    )
    await saga.emit(uow, a.request_id, completed)
    await saga.settle_if_done(uow, request)
    await waiting.serve(uow, m, freed=[a.partner_id])


async def _withdraw(
    uow: MatcherUnitOfWork, m: Matching, request: MatchRequest, a: Assignment, r: AssignmentResponse
) -> None:
    await saga.close(uow, a, "withdrawn", r.reason)
    if await uow.requests.status(a.request_id) in domain.SETTLED:
        await uow.requests.set_status(a.request_id, "matching")  # its slot is open again
    await _reoffer(uow, m, request, a)


async def _reoffer(
    uow: MatcherUnitOfWork, m: Matching, request: MatchRequest, a: Assignment
) -> None:
    """The slot goes to the next partner (or waits, or is exhausted); the capacity `a`'s
    partner freed goes to whoever waits for it."""
    now = m.clock()
    waiting_for = await saga.refill(
        uow, m.catalog, request, saga.slot_of(a), now + m.respond_within
    )
    await saga.wait_or_resume(uow, request, waiting_for, now)
    await saga.settle_if_done(uow, request)
    await waiting.serve(uow, m, freed=[a.partner_id])


_STEPS: dict[Decision, Step] = {
    "accept": _accept,
    "decline": _decline,
    "start": _start,
    "complete": _complete,
    "withdraw": _withdraw,
}


async def _record(
    uow: MatcherUnitOfWork, envelope: Envelope, response: AssignmentResponse, verdict: Verdict
) -> None:
    await uow.offers.record_response(envelope.id, response, verdict.value)
    if verdict is not Verdict.APPLIED:
        level = logging.INFO if verdict is Verdict.REPEATED else logging.WARNING
        log.log(level, "answer %s to %s: %s", envelope.id, response.assignment_id, verdict.value)
