"""The offer saga's steps shared by the use cases: offer, close, re-offer, settle."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from uuid import UUID, uuid4

from services.matcher import domain
from services.matcher.domain import Assignment, Choice, MatchRequest
from services.matcher.handlers.catalog import Catalog
from services.matcher.unit_of_work import MatcherUnitOfWork
from shared.envelope import build_record
from shared.events import (
    AssignmentAccepted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    Event,
    RequestMatched,
    RequestUnmatched,
    Role,
)

SOURCE = "/stax/matcher"
Clock = Callable[[], datetime]
log = logging.getLogger(__name__)


async def emit(uow: MatcherUnitOfWork, request_id: UUID, *events: Event) -> None:
    """Queue events about one request (its id is the key: one partition, in order)."""
    await uow.emit([build_record(e, source=SOURCE, subject=str(request_id)) for e in events])


async def record_offer(
    uow: MatcherUnitOfWork, request_id: UUID, choice: Choice, respond_by: datetime
) -> AssignmentOffered | None:
    """The offer for `choice` (its capacity already taken), stored; None if it was refused."""
    offer = AssignmentOffered(
        assignment_id=uuid4(),
        request_id=request_id,
        partner_id=choice.partner.partner_id,
        partner_name=choice.partner.spec.name,
        role=Role(choice.role),
        score=choice.score,
        reasons=list(choice.reasons),
        covers_topics=list(choice.covers_topics),
        respond_by=respond_by,
    )
    # The request row is locked, so this cannot conflict; if it ever did (a bug), the unique
    # constraints refuse the second live offer and nothing is announced.
    if await uow.offers.add(offer, choice.slot):
        return offer
    log.error("refused a second live offer for %s slot %d", request_id, choice.slot)
    await uow.partners.release_capacity(choice.partner.partner_id)
    return None


def slot_of(assignment: Assignment) -> int:
    assert assignment.slot is not None, "offers made before the saga existed have no slot"
    return assignment.slot


_OUTCOMES: dict[str, type[AssignmentAccepted | AssignmentDeclined | AssignmentExpired]] = {
    "accepted": AssignmentAccepted,
    "declined": AssignmentDeclined,
    "expired": AssignmentExpired,
}


async def close(uow: MatcherUnitOfWork, assignment: Assignment, status: str, reason: str) -> None:
    """Close an offer as accepted, declined or expired, and announce it."""
    await uow.offers.close(assignment.assignment_id, status, reason)
    if status != "accepted":  # accepted work stays open against the partner's capacity
        await uow.partners.release_capacity(assignment.partner_id)
    outcome = _OUTCOMES[status](
        assignment_id=assignment.assignment_id,
        request_id=assignment.request_id,
        partner_id=assignment.partner_id,
        reason=reason,
    )
    await emit(uow, assignment.request_id, outcome)


async def refill(
    uow: MatcherUnitOfWork,
    catalog: Catalog,
    request: MatchRequest,
    slot_no: int,
    respond_by: datetime,
) -> None:
    """Offer a declined or expired slot to the next best partner not yet asked."""
    slot = await uow.requests.slot(request.request_id, slot_no)
    registry = await catalog.current(uow.partners)
    query = registry.query(catalog.profile(request))
    exclude = await uow.offers.asked_partners(request.request_id)
    while True:
        loads = await uow.partners.open_counts(registry.candidate_ids(query))
        choice = registry.next_for_slot(
            query, loads, slot=slot.slot, role=slot.role, slot_topics=slot.topics, exclude=exclude
        )
        if choice is None:
            return await uow.requests.set_slot_status(request.request_id, slot_no, "exhausted")
        if await uow.partners.take_capacity(choice.partner.partner_id):
            offer = await record_offer(uow, request.request_id, choice, respond_by)
            if offer is not None:
                await emit(uow, request.request_id, offer)
            return None
        exclude.add(choice.partner.partner_id)  # filled up meanwhile: try the next one


async def settle_if_done(uow: MatcherUnitOfWork, request: MatchRequest) -> None:
    """Once no offer is open: matched if accepting partners cover every topic, else unmatched."""
    settlement = domain.settle(
        request.topics,
        await uow.offers.accepted(request.request_id),
        await uow.offers.open_count(request.request_id),
    )
    if settlement is None:
        return
    kind = RequestMatched if settlement.matched else RequestUnmatched
    await uow.requests.close(request.request_id, "matched" if settlement.matched else "unmatched")
    outcome = kind(
        request_id=request.request_id,
        partners=list(settlement.partners),
        uncovered_topics=list(settlement.uncovered),
    )
    await emit(uow, request.request_id, outcome)
