"""A new request is matched (offers to a lead and support partners); an erased one forgotten."""

from __future__ import annotations

import logging
from datetime import timedelta

from services.matcher.domain import Choice, MatchPolicy, MatchRequest, Query, Registry, Slot
from services.matcher.handlers import saga
from services.matcher.handlers.catalog import Catalog
from services.matcher.unit_of_work import MatcherUnitOfWork, PartnerRepository
from shared.envelope import Envelope
from shared.events import RequestAccepted, RequestErased

log = logging.getLogger(__name__)


async def on_request_accepted(
    uow: MatcherUnitOfWork,
    _envelope: Envelope,
    accepted: RequestAccepted,
    *,
    catalog: Catalog,
    policy: MatchPolicy,
    clock: saga.Clock,
    respond_within: timedelta,
) -> None:
    """Score the partners, offer a lead and support partners; unmatched if nobody can help."""
    request = MatchRequest.of(accepted)  # the Party's contact is not matcher's to keep
    # The new row is this request's lock from now on; a second copy of the request (same id,
    # another ce_id) conflicts here and changes nothing.
    if not await uow.requests.add(request):
        log.info("request %s is already being matched; ignoring the copy", request.request_id)
        return
    registry = await catalog.current(uow.partners)
    query = registry.query(catalog.profile(request))
    choices = await _plan_within_capacity(uow.partners, registry, query, policy)
    if not choices:  # nobody eligible: unmatched at once, with every topic uncovered
        return await saga.settle_if_done(uow, request)
    await uow.requests.add_slots(
        request.request_id, [Slot(c.slot, c.role, c.slot_topics) for c in choices]
    )
    respond_by = clock() + respond_within
    offers = [
        offer
        for c in choices
        if (offer := await saga.record_offer(uow, request.request_id, c, respond_by))
    ]
    return await saga.emit(uow, request.request_id, *offers)


async def _plan_within_capacity(
    partners: PartnerRepository, registry: Registry, query: Query, policy: MatchPolicy
) -> tuple[Choice, ...]:
    """Plan on the load we read, then take each partner's capacity atomically; a partner that
    filled up in between is left out and the plan made again without it.

    Two transactions taking capacity of the same two partners in opposite orders can deadlock;
    PostgreSQL breaks it and the consumer retries the event (a transient error), so the
    conditional UPDATE stays the single guard against exceeding capacity."""
    refused: set[str] = set()
    while True:
        loads = await partners.open_counts(registry.candidate_ids(query))
        plan = registry.plan(query, loads, policy, exclude=refused)
        taken: list[str] = []
        for choice in plan.choices:
            if not await partners.take_capacity(choice.partner.partner_id):
                refused.add(choice.partner.partner_id)
                break
            taken.append(choice.partner.partner_id)
        else:
            return plan.choices
        for partner_id in taken:  # give back what this attempt took, then plan again
            await partners.release_capacity(partner_id)


async def on_request_erased(
    uow: MatcherUnitOfWork, _envelope: Envelope, erased: RequestErased
) -> None:
    """matcher keeps no personal data (MatchRequest); this only catches an older replica's row."""
    await uow.requests.erase_contact(erased.request_id)
