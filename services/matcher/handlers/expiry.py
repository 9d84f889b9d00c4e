"""Offers nobody answered in time expire, and their slots are offered to the next partner."""

from __future__ import annotations

from datetime import timedelta

from services.matcher.handlers import saga
from services.matcher.handlers.catalog import Catalog
from services.matcher.unit_of_work import MatcherUnitOfWork, MatcherUnits


async def expire_due(
    units: MatcherUnits, *, catalog: Catalog, clock: saga.Clock, respond_within: timedelta
) -> int:
    """Expire every overdue offer, one request per unit of work (so one request's failure
    rolls back only its own expiry). Returns how many requests were handled."""
    handled = 0
    while True:
        async with units() as uow:
            if not await expire_next(
                uow, catalog=catalog, clock=clock, respond_within=respond_within
            ):
                return handled
        handled += 1


async def expire_next(
    uow: MatcherUnitOfWork, *, catalog: Catalog, clock: saga.Clock, respond_within: timedelta
) -> bool:
    """Expire the overdue offers of one request and re-offer their slots; False if none due.

    The request row is claimed with SKIP LOCKED, so replicas' workers share the work and a
    restart forgets nothing (deadlines are rows)."""
    now = clock()
    request_id = await uow.requests.claim_due(now)
    if request_id is None:
        return False
    request = await uow.requests.lock(request_id)
    assert request is not None
    for offer in await uow.offers.due(request_id, now):
        reason = f"no answer by {offer.respond_by.isoformat()}"
        await saga.close(uow, offer, "expired", reason)
        await saga.refill(uow, catalog, request, saga.slot_of(offer), now + respond_within)
    await saga.settle_if_done(uow, request)
    return True
