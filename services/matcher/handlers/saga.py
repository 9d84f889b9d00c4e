"""The offer saga's steps shared by the use cases: offer, close, re-offer, wait, settle,
complete."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from uuid import UUID, uuid4

from services.matcher import domain
from services.matcher.adapters import metrics
from services.matcher.domain import (
    Assignment,
    Choice,
    MatchPolicy,
    MatchRequest,
    Plan,
    Query,
    Registry,
    Slot,
)
from services.matcher.handlers.catalog import Catalog
from services.matcher.unit_of_work import MatcherUnitOfWork, PartnerRepository
from shared.envelope import build_record
from shared.events import (
    AssignmentAccepted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    AssignmentOutcome,
    AssignmentWithdrawn,
    Event,
    RequestCompleted,
    RequestMatched,
    RequestUnmatched,
    RequestWaiting,
    Role,
)
from shared.lifecycle import HOLDS_CAPACITY
from shared.logs import log_context

SOURCE = "/stax/matcher"
Clock = Callable[[], datetime]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Matching:
    """What every use case that may offer work needs (built once, in app.py)."""

    catalog: Catalog
    policy: MatchPolicy
    clock: Clock
    respond_within: timedelta  # how long a partner has to answer an offer
    max_wait: timedelta  # how long a request may wait for capacity before it is unmatched


async def emit(uow: MatcherUnitOfWork, request_id: UUID, *events: Event) -> None:
    """Queue events about one request (its id is the key: one partition, in order)."""
    await uow.emit([build_record(e, source=SOURCE, subject=str(request_id)) for e in events])


async def record_offers(
    uow: MatcherUnitOfWork, request_id: UUID, choices: Sequence[Choice], respond_by: datetime
) -> list[AssignmentOffered]:
    """The offers for `choices` (their capacity already taken), stored in one statement; an
    offer refused gives its partner's capacity back and is left out."""
    offers = [
        AssignmentOffered(
            assignment_id=uuid4(),
            request_id=request_id,
            partner_id=c.partner.partner_id,
            partner_name=c.partner.spec.name,
            role=Role(c.role),
            score=c.score,
            reasons=list(c.reasons),
            covers_topics=list(c.covers_topics),
            respond_by=respond_by,
        )
        for c in choices
    ]
    # The request row is locked, so this cannot conflict; if it ever did (a bug), the unique
    # constraints refuse the second live offer and nothing is announced.
    added = await uow.offers.add([(o, c.slot) for o, c in zip(offers, choices, strict=True)])
    made = []
    for offer, choice in zip(offers, choices, strict=True):
        if offer.assignment_id not in added:
            log.error("refused a second live offer for %s slot %d", request_id, choice.slot)
            await uow.partners.release_capacity(choice.partner.partner_id)
            continue
        uow.after_commit(partial(metrics.offer_made, choice.role))
        with log_context(request_id=str(request_id)):
            log.info("offered slot %d to %s as %s", choice.slot, offer.partner_id, offer.role)
        made.append(offer)
    return made


def slot_of(assignment: Assignment) -> int:
    assert assignment.slot is not None, "offers made before the saga existed have no slot"
    return assignment.slot


_OUTCOMES: dict[str, type[AssignmentOutcome]] = {
    "accepted": AssignmentAccepted,
    "declined": AssignmentDeclined,
    "expired": AssignmentExpired,
    "withdrawn": AssignmentWithdrawn,
}


async def close(uow: MatcherUnitOfWork, assignment: Assignment, status: str, reason: str) -> None:
    """Move an offer to accepted, declined, expired or withdrawn, and announce it."""
    await uow.offers.close(assignment.assignment_id, status, reason)
    if status not in HOLDS_CAPACITY:  # accepted work stays open against the partner's capacity
        await uow.partners.release_capacity(assignment.partner_id)
    outcome = _OUTCOMES[status](
        assignment_id=assignment.assignment_id,
        request_id=assignment.request_id,
        partner_id=assignment.partner_id,
        reason=reason,
    )
    await emit(uow, assignment.request_id, outcome)
    uow.after_commit(partial(metrics.offer_closed, assignment.role, status))


async def refill(
    uow: MatcherUnitOfWork,
    catalog: Catalog,
    request: MatchRequest,
    slot_no: int,
    respond_by: datetime,
) -> list[str]:
    """Offer a declined, expired or withdrawn slot to the next best partner not yet asked.

    Returns the partners the slot now waits for: empty when it was offered, or when nobody is
    left who could ever fill it (the slot is then exhausted); else every capable partner is full,
    and the slot waits for them."""
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
            capable = registry.capable(query, exclude, slot.topics)
            status = "waiting" if capable else "exhausted"
            await uow.requests.set_slot_status(request.request_id, slot_no, status)
            return capable
        if await uow.partners.take_capacity([choice.partner.partner_id]):
            await uow.requests.set_slot_status(request.request_id, slot_no, "open")
            offers = await record_offers(uow, request.request_id, [choice], respond_by)
            if offers:
                await emit(uow, request.request_id, *offers)
            return []
        exclude.add(choice.partner.partner_id)  # filled up meanwhile: try the next one


async def wait_or_resume(
    uow: MatcherUnitOfWork, request: MatchRequest, waiting_for: list[str], now: datetime
) -> None:
    """The request waits while any of its slots (or the whole request, before it has slots)
    waits for capacity; announced once, when it begins to wait. `waiting_for` is added to whom
    it waits for already (other slots may still wait)."""
    if waiting_for:
        await wait(uow, request, waiting_for, now, replace=False)
    elif await uow.requests.status(request.request_id) == "waiting" and not (
        await uow.requests.slots_in(request.request_id, "waiting")
    ):
        await uow.requests.set_status(request.request_id, "matching")


async def wait(
    uow: MatcherUnitOfWork,
    request: MatchRequest,
    waiting_for: list[str],
    now: datetime,
    *,
    replace: bool,
) -> None:
    partners = list(dict.fromkeys(waiting_for))
    if await uow.requests.wait(request.request_id, partners, now, replace=replace):
        waiting = RequestWaiting(
            request_id=request.request_id,
            partners=partners,
            topics=list(request.topics),
            # `partners` names them; the reason says why, in words a person reads in a mail.
            reason=f"all {len(partners)} partner(s) who could help are at capacity",
        )
        await emit(uow, request.request_id, waiting)


@dataclass(frozen=True)
class Offering:
    """What offering a new request came to: offers made, or whom it must wait for (nobody:
    nobody could ever serve it)."""

    offered: bool
    waiting_for: list[str]


async def offer_plan(uow: MatcherUnitOfWork, m: Matching, request: MatchRequest) -> Offering:
    """Offer a request (that has no slots yet) to a lead and support partners within their
    capacity; if nobody has room, the capable partners (all full) are whom it waits for, and if
    some topics are left to full partners only, it waits for them in one more place."""
    registry = await m.catalog.current(uow.partners)
    query = registry.query(m.catalog.profile(request))
    plan = await _plan_within_capacity(uow.partners, registry, query, m.policy)
    choices = plan.choices
    if not choices:
        return Offering(offered=False, waiting_for=registry.capable(query))
    slots = [Slot(c.slot, c.role, c.slot_topics) for c in choices]
    waiting_for = _full_for_the_rest(registry, query, plan, m.policy)
    if waiting_for:  # one more support place, for the topics nobody with room covers
        slots.append(Slot(len(choices), "support", plan.uncovered))
    await uow.requests.add_slots(request.request_id, slots)
    if waiting_for:
        await uow.requests.set_slot_status(request.request_id, len(choices), "waiting")
    now = m.clock()
    respond_by = now + m.respond_within
    offers = await record_offers(uow, request.request_id, choices, respond_by)
    await emit(uow, request.request_id, *offers)
    if offers:  # its first: a request is planned once, when it has no slots yet
        count_since_accepted(uow, request, now, metrics.first_offer_after)
    return Offering(offered=True, waiting_for=waiting_for)


def count_since_accepted(
    uow: MatcherUnitOfWork, request: MatchRequest, now: datetime, observe: Callable[[float], None]
) -> None:
    """Observe, once the unit commits, how long since the request was accepted (if known)."""
    seconds = request.seconds_since_accepted(now)
    if seconds is not None:
        uow.after_commit(partial(observe, seconds))


def _full_for_the_rest(
    registry: Registry, query: Query, plan: Plan, policy: MatchPolicy
) -> list[str]:
    """Partners who could cover the topics the plan leaves uncovered, all full: the request
    waits for them too. A plan below `max_offers` stopped for want of room (it takes any
    partner with room that covers an uncovered topic), so whoever is capable is full; a plan
    at `max_offers` stopped by policy, and nothing waits."""
    if not plan.uncovered or len(plan.choices) >= policy.max_offers:
        return []
    chosen = {c.partner.partner_id for c in plan.choices}
    return registry.capable(query, chosen, plan.uncovered)


async def _plan_within_capacity(
    partners: PartnerRepository, registry: Registry, query: Query, policy: MatchPolicy
) -> Plan:
    """Plan on the load we read, then take each partner's capacity atomically; a partner that
    filled up in between is left out and the plan made again without it.

    Two transactions taking capacity of the same two partners in opposite orders can deadlock;
    PostgreSQL breaks it and the consumer retries the event (a transient error), so the
    conditional UPDATE stays the single guard against exceeding capacity."""
    refused: set[str] = set()
    while True:
        loads = await partners.open_counts(registry.candidate_ids(query))
        plan = registry.plan(query, loads, policy, exclude=refused)
        wanted = [choice.partner.partner_id for choice in plan.choices]
        taken = await partners.take_capacity(wanted)
        if len(taken) == len(set(wanted)):
            return plan
        refused.update(set(wanted) - taken)
        for partner_id in taken:  # give back what this attempt took, then plan again
            await partners.release_capacity(partner_id)


async def stop_waiting(uow: MatcherUnitOfWork, request_id: UUID) -> None:
    """Its places that wait for capacity are given up (closed, or waited their longest)."""
    for slot in await uow.requests.slots_in(request_id, "waiting"):
        await uow.requests.set_slot_status(request_id, slot, "exhausted")


async def settle_if_done(uow: MatcherUnitOfWork, request: MatchRequest) -> None:
    """Once no offer is open and no slot waits: matched if accepting partners cover every topic,
    else unmatched; and once settled and every piece of work is done, completed."""
    request_id = request.request_id
    status = await uow.requests.status(request_id)
    if status == "matching":  # a waiting request is settled once it stops waiting
        # Cheapest first: while an offer is open (the usual case), one query decides.
        if await uow.offers.open_count(request_id):
            return
        waiting = len(await uow.requests.slots_in(request_id, "waiting"))
        accepted = [] if waiting else await uow.offers.accepted(request_id)
        settlement = domain.settle(request.topics, accepted, 0, waiting)
        if settlement is None:
            return
        status = "matched" if settlement.matched else "unmatched"
        await uow.requests.close(request.request_id, status)
        kind = RequestMatched if settlement.matched else RequestUnmatched
        outcome = kind(
            request_id=request.request_id,
            partners=list(settlement.partners),
            uncovered_topics=list(settlement.uncovered),
        )
        await emit(uow, request.request_id, outcome)
    await _complete_if_done(uow, request, status)


async def _complete_if_done(uow: MatcherUnitOfWork, request: MatchRequest, status: str) -> None:
    if status not in domain.SETTLED or await uow.offers.live_count(request.request_id):
        return  # not settled, or someone still works on it: no need to look further
    completed = await uow.offers.completed_partners(request.request_id)
    if domain.is_complete(status, 0, completed):
        await uow.requests.close(request.request_id, "completed")
        done = RequestCompleted(request_id=request.request_id, partners=completed)
        await emit(uow, request.request_id, done)
