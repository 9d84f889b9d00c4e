"""A partner's answer to an offer: accepted work fills its slot, a decline re-offers it."""

from __future__ import annotations

import logging
from datetime import timedelta

from services.matcher import domain
from services.matcher.domain import Verdict
from services.matcher.handlers import saga
from services.matcher.handlers.catalog import Catalog
from services.matcher.unit_of_work import MatcherUnitOfWork
from shared.envelope import Envelope, PoisonRecord
from shared.events import AssignmentResponse

log = logging.getLogger(__name__)


async def on_assignment_response(
    uow: MatcherUnitOfWork,
    envelope: Envelope,
    response: AssignmentResponse,
    *,
    catalog: Catalog,
    clock: saga.Clock,
    respond_within: timedelta,
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
    if verdict is not Verdict.APPLIED:
        return None
    if response.decision == "accept":
        await saga.close(uow, current, "accepted", response.reason)
        await uow.requests.set_slot_status(current.request_id, saga.slot_of(current), "filled")
    else:
        await saga.close(uow, current, "declined", response.reason)
        respond_by = clock() + respond_within
        await saga.refill(uow, catalog, request, saga.slot_of(current), respond_by)
    return await saga.settle_if_done(uow, request)


async def on_partner_answer(
    uow: MatcherUnitOfWork,
    envelope: Envelope,
    response: AssignmentResponse,
    *,
    catalog: Catalog,
    clock: saga.Clock,
    respond_within: timedelta,
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
    await on_assignment_response(
        uow, envelope, response, catalog=catalog, clock=clock, respond_within=respond_within
    )


async def _record(
    uow: MatcherUnitOfWork, envelope: Envelope, response: AssignmentResponse, verdict: Verdict
) -> None:
    await uow.offers.record_response(envelope.id, response, verdict.value)
    if verdict is not Verdict.APPLIED:
        level = logging.INFO if verdict is Verdict.REPEATED else logging.WARNING
        log.log(level, "answer %s to %s: %s", envelope.id, response.assignment_id, verdict.value)
