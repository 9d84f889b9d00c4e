"""Requests waiting for capacity (brief §7.2): served as soon as a partner they wait for has
room — in the very transaction that freed it (completion, withdrawal, decline, expiry, an
operator raising capacity), so a request arriving later cannot take it first — and by the
worker's pass, which also gives up on requests that waited their longest."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from services.matcher.domain import MatchRequest
from services.matcher.handlers import saga
from services.matcher.handlers.saga import Matching
from services.matcher.unit_of_work import MatcherUnitOfWork, MatcherUnits

# The most waiting requests one transaction serves: the one that freed capacity stays short,
# and the worker's pass serves whoever is left.
MOST_PER_UNIT = 20
# The most units one pass of the worker opens: a pass ends, whatever the data says.
MOST_UNITS_PER_PASS = 100


async def serve(uow: MatcherUnitOfWork, m: Matching, *, freed: Sequence[str] | None) -> list[UUID]:
    """Serve waiting requests, urgent before routine, then oldest first, that a partner they
    wait for (one of `freed`, or any when None) now has room for. Each is tried once: it gets
    its offers, or waits on for partners that are all full again."""
    tried: list[UUID] = []
    while len(tried) < MOST_PER_UNIT:
        request_id = await uow.requests.claim_waiting(freed, tried)
        if request_id is None:
            break
        tried.append(request_id)
        request = await uow.requests.lock(request_id)
        assert request is not None
        await serve_one(uow, m, request)
    return tried


async def pass_over(units: MatcherUnits, m: Matching) -> int:
    """The worker's pass: give up on requests that waited longer than the maximum, then serve
    whoever a partner has room for (capacity raised by an operator, a partner reactivated, or
    more waiting than one transaction serves). One request per unit. Returns how many."""
    handled = 0
    for _ in range(MOST_UNITS_PER_PASS):
        async with units() as uow:
            request_id = await uow.requests.claim_overdue_waiting(m.clock() - m.max_wait)
            if request_id is not None:
                request = await uow.requests.lock(request_id)
                assert request is not None
                await give_up(uow, request)
        if request_id is None:
            break
        handled += 1
    for _ in range(MOST_UNITS_PER_PASS):
        async with units() as uow:
            served = await serve(uow, m, freed=None)
        if not served:
            break
        handled += len(served)
    return handled


async def serve_one(uow: MatcherUnitOfWork, m: Matching, request: MatchRequest) -> None:
    """Try again a waiting request: its whole plan if it waited from the start, else each slot
    that waits; it waits on for whoever is still full, or resumes matching."""
    now = m.clock()
    if not await uow.requests.has_slots(request.request_id):
        waiting_for = (await saga.offer_plan(uow, m, request)).waiting_for
    else:
        waiting_for = []
        for slot in await uow.requests.slots_in(request.request_id, "waiting"):
            waiting_for += await saga.refill(uow, m.catalog, request, slot, now + m.respond_within)
    if waiting_for:
        await saga.wait(uow, request, waiting_for, now, replace=True)
    else:  # offered, or nobody could ever serve it any more (settled unmatched below)
        await uow.requests.set_status(request.request_id, "matching")
    await saga.settle_if_done(uow, request)


async def give_up(uow: MatcherUnitOfWork, request: MatchRequest) -> None:
    """It waited its longest: waiting slots are exhausted, and it is settled without them."""
    await saga.stop_waiting(uow, request.request_id)
    await uow.requests.set_status(request.request_id, "matching")
    await saga.settle_if_done(uow, request)
