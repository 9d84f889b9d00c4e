"""Offers nobody answered in time expire, and their slots are offered to the next partner."""

from __future__ import annotations

from services.matcher.handlers import saga, waiting
from services.matcher.handlers.saga import Matching
from services.matcher.unit_of_work import MatcherUnitOfWork, MatcherUnits


async def expire_due(units: MatcherUnits, m: Matching) -> int:
    """Expire every overdue offer, one request per unit of work (so one request's failure
    rolls back only its own expiry). Returns how many requests were handled."""
    handled = 0
    while True:
        async with units() as uow:
            if not await expire_next(uow, m):
                return handled
        handled += 1


async def expire_next(uow: MatcherUnitOfWork, m: Matching) -> bool:
    """Expire the overdue offers of one request and re-offer their slots; False if none due.

    The request row is claimed with SKIP LOCKED, so replicas' workers share the work and a
    restart forgets nothing (deadlines are rows)."""
    now = m.clock()
    request_id = await uow.requests.claim_due(now)
    if request_id is None:
        return False
    request = await uow.requests.lock(request_id)
    assert request is not None
    freed: list[str] = []
    for offer in await uow.offers.due(request_id, now):
        reason = f"no answer by {offer.respond_by.isoformat()}"
        await saga.close(uow, offer, "expired", reason)
        waiting_for = await saga.refill(
            uow, m.catalog, request, saga.slot_of(offer), now + m.respond_within
        )
        await saga.wait_or_resume(uow, request, waiting_for, now)
        freed.append(offer.partner_id)
    await saga.settle_if_done(uow, request)
    await waiting.serve(uow, m, freed=freed)
    return True
