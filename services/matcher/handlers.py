"""matcher's use cases: match a request, follow the answers, expire the silent. Dependencies
arrive as arguments (wired in app.py); each runs inside the caller's transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID, uuid4

from services.matcher import domain, repository
from services.matcher.catalog import Catalog
from services.matcher.domain import Choice, MatchPolicy, MatchRequest, Query, Registry, Verdict
from services.matcher.repository import Assignment, Slot
from shared.db import Conn
from shared.envelope import Envelope, PoisonRecord, build_record
from shared.events import (
    AssignmentAccepted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    AssignmentResponse,
    Event,
    RequestAccepted,
    RequestErased,
    RequestMatched,
    RequestUnmatched,
    Role,
)
from shared.outbox import Outbox

SOURCE = "/stax/matcher"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatcherDeps:
    outbox: Outbox
    clock: Callable[[], datetime]
    respond_within: timedelta
    policy: MatchPolicy = field(default_factory=MatchPolicy)
    catalog: Catalog = field(default_factory=Catalog.from_data_files)


async def _emit(deps: MatcherDeps, conn: Conn, request_id: UUID, *events: Event) -> None:
    records = [build_record(e, source=SOURCE, subject=str(request_id)) for e in events]
    await deps.outbox.add(conn, records)


# ----------------------------------------------------------------------------- an erasure


async def on_request_erased(
    _deps: MatcherDeps, conn: Conn, _envelope: Envelope, erased: RequestErased
) -> None:
    """matcher keeps no personal data (MatchRequest); this only catches an older replica's row."""
    await repository.erase_contact(conn, erased.request_id)


# ----------------------------------------------------------------------------- a new request


async def on_request_accepted(
    deps: MatcherDeps, conn: Conn, _envelope: Envelope, accepted: RequestAccepted
) -> None:
    """Score the partners, offer a lead and support partners; unmatched if nobody can help."""
    request = MatchRequest.of(accepted)  # the Party's contact is not matcher's to keep
    # The new row is this request's lock from now on; a second copy of the request (same id,
    # another ce_id) conflicts here and changes nothing.
    if not await repository.insert_request(conn, request):
        log.info("request %s is already being matched; ignoring the copy", request.request_id)
        return
    registry = await deps.catalog.current(conn)
    query = registry.query(deps.catalog.profile(request))
    choices = await _plan_within_capacity(conn, registry, query, deps.policy)
    if not choices:  # nobody eligible: unmatched at once, with every topic uncovered
        return await _settle_if_done(deps, conn, request)
    await repository.insert_slots(
        conn, request.request_id, [Slot(c.slot, c.role, c.slot_topics) for c in choices]
    )
    offers = [o for c in choices if (o := await _record_offer(deps, conn, request.request_id, c))]
    return await _emit(deps, conn, request.request_id, *offers)


async def _plan_within_capacity(
    conn: Conn, registry: Registry, query: Query, policy: MatchPolicy
) -> tuple[Choice, ...]:
    """Plan on the load we read, then take each partner's capacity atomically; a partner that
    filled up in between is left out and the plan made again without it.

    Two transactions taking capacity of the same two partners in opposite orders can deadlock;
    PostgreSQL breaks it and the consumer retries the event (a transient error), so the
    conditional UPDATE stays the single guard against exceeding capacity."""
    refused: set[str] = set()
    while True:
        loads = await repository.open_counts(conn, registry.candidate_ids(query))
        plan = registry.plan(query, loads, policy, exclude=refused)
        taken: list[str] = []
        for choice in plan.choices:
            if not await repository.take_capacity(conn, choice.partner.partner_id):
                refused.add(choice.partner.partner_id)
                break
            taken.append(choice.partner.partner_id)
        else:
            return plan.choices
        for partner_id in taken:  # give back what this attempt took, then plan again
            await repository.release_capacity(conn, partner_id)


async def _offer(deps: MatcherDeps, conn: Conn, request_id: UUID, choice: Choice) -> None:
    offer = await _record_offer(deps, conn, request_id, choice)
    if offer is not None:
        await _emit(deps, conn, request_id, offer)


async def _record_offer(
    deps: MatcherDeps, conn: Conn, request_id: UUID, choice: Choice
) -> AssignmentOffered | None:
    offer = AssignmentOffered(
        assignment_id=uuid4(),
        request_id=request_id,
        partner_id=choice.partner.partner_id,
        partner_name=choice.partner.spec.name,
        role=Role(choice.role),
        score=choice.score,
        reasons=list(choice.reasons),
        covers_topics=list(choice.covers_topics),
        respond_by=deps.clock() + deps.respond_within,
    )
    # The request row is locked, so this cannot conflict; if it ever did (a bug), the unique
    # constraints refuse the second live offer and nothing is announced.
    if await repository.insert_offer(conn, offer, choice.slot):
        return offer
    log.error("refused a second live offer for %s slot %d", request_id, choice.slot)
    await repository.release_capacity(conn, choice.partner.partner_id)
    return None


# ----------------------------------------------------------------------------- answers


async def on_assignment_response(
    deps: MatcherDeps, conn: Conn, envelope: Envelope, response: AssignmentResponse
) -> None:
    """Apply a partner's answer; answers that cannot apply are recorded, never raised."""
    found = await repository.find_assignment(conn, response.assignment_id)
    locked = await repository.lock_request(conn, found.request_id) if found else None
    if found is None or locked is None:
        return await _record(conn, envelope, response, Verdict.UNKNOWN_ASSIGNMENT)
    if found.partner_id != response.partner_id:
        return await _record(conn, envelope, response, Verdict.WRONG_PARTNER)
    # Read again under the request's lock: an expiry or another answer may have closed it.
    current = await repository.find_assignment(conn, response.assignment_id)
    assert current is not None
    verdict = domain.judge_response(current.status, response.decision)
    await _record(conn, envelope, response, verdict)
    if verdict is not Verdict.APPLIED:
        return None
    request, _ = locked
    if response.decision == "accept":
        await _close(deps, conn, current, "accepted", response.reason)
        await repository.set_slot_status(conn, current.request_id, _slot_of(current), "filled")
    else:
        await _close(deps, conn, current, "declined", response.reason)
        await _refill(deps, conn, request, _slot_of(current))
    return await _settle_if_done(deps, conn, request)


async def on_partner_answer(
    deps: MatcherDeps, conn: Conn, envelope: Envelope, response: AssignmentResponse
) -> None:
    """An answer from a partner's own topic: the partner is the topic's (brief §7.1). An answer
    naming another partner, or another partner's offer, is refused whole (dead-lettered)."""
    partner = envelope.tenant
    if partner is None or response.partner_id != partner:
        raise PoisonRecord(
            "identity_mismatch",
            f"an answer on {partner}'s topic names partner {response.partner_id!r}",
        )
    found = await repository.find_assignment(conn, response.assignment_id)
    if found is not None and found.partner_id != partner:
        raise PoisonRecord(
            "not_your_assignment",
            f"{partner} answered assignment {response.assignment_id}, offered to someone else",
        )
    await on_assignment_response(deps, conn, envelope, response)


async def _record(
    conn: Conn, envelope: Envelope, response: AssignmentResponse, verdict: Verdict
) -> None:
    await repository.record_response(conn, envelope.id, response, verdict.value)
    if verdict is not Verdict.APPLIED:
        level = logging.INFO if verdict is Verdict.REPEATED else logging.WARNING
        log.log(level, "answer %s to %s: %s", envelope.id, response.assignment_id, verdict.value)


def _slot_of(assignment: Assignment) -> int:
    assert assignment.slot is not None, "offers made before the saga existed have no slot"
    return assignment.slot


_OUTCOMES: dict[str, type[AssignmentAccepted | AssignmentDeclined | AssignmentExpired]] = {
    "accepted": AssignmentAccepted,
    "declined": AssignmentDeclined,
    "expired": AssignmentExpired,
}


async def _close(
    deps: MatcherDeps, conn: Conn, assignment: Assignment, status: str, reason: str
) -> None:
    await repository.close_assignment(conn, assignment.assignment_id, status, reason)
    if status != "accepted":  # accepted work stays open against the partner's capacity
        await repository.release_capacity(conn, assignment.partner_id)
    outcome = _OUTCOMES[status](
        assignment_id=assignment.assignment_id,
        request_id=assignment.request_id,
        partner_id=assignment.partner_id,
        reason=reason,
    )
    await _emit(deps, conn, assignment.request_id, outcome)


async def _refill(deps: MatcherDeps, conn: Conn, request: MatchRequest, slot_no: int) -> None:
    """Offer a declined or expired slot to the next best partner not yet asked."""
    slot = await repository.get_slot(conn, request.request_id, slot_no)
    registry = await deps.catalog.current(conn)
    query = registry.query(deps.catalog.profile(request))
    exclude = await repository.asked_partners(conn, request.request_id)
    while True:
        loads = await repository.open_counts(conn, registry.candidate_ids(query))
        choice = registry.next_for_slot(
            query, loads, slot=slot.slot, role=slot.role, slot_topics=slot.topics, exclude=exclude
        )
        if choice is None:
            return await repository.set_slot_status(conn, request.request_id, slot_no, "exhausted")
        if await repository.take_capacity(conn, choice.partner.partner_id):
            return await _offer(deps, conn, request.request_id, choice)
        exclude.add(choice.partner.partner_id)  # filled up meanwhile: try the next one


async def _settle_if_done(deps: MatcherDeps, conn: Conn, request: MatchRequest) -> None:
    """Once no offer is open: matched if accepting partners cover every topic, else unmatched."""
    settlement = domain.settle(
        request.topics,
        await repository.accepted(conn, request.request_id),
        await repository.open_offer_count(conn, request.request_id),
    )
    if settlement is None:
        return
    kind = RequestMatched if settlement.matched else RequestUnmatched
    status = "matched" if settlement.matched else "unmatched"
    await repository.close_request(conn, request.request_id, status)
    outcome = kind(
        request_id=request.request_id,
        partners=list(settlement.partners),
        uncovered_topics=list(settlement.uncovered),
    )
    await _emit(deps, conn, request.request_id, outcome)


# ----------------------------------------------------------------------------- expiry


async def expire_due_in(deps: MatcherDeps, conn: Conn) -> bool:
    """Expire the overdue offers of one request and re-offer their slots; False if none due.

    Runs in the caller's transaction; the request row is claimed with SKIP LOCKED, so
    replicas' workers share the work and a restart forgets nothing (deadlines are rows).
    """
    now = deps.clock()
    request_id = await repository.claim_due_request(conn, now)
    if request_id is None:
        return False
    locked = await repository.lock_request(conn, request_id)
    assert locked is not None
    request, _ = locked
    for offer in await repository.due_offers(conn, request_id, now):
        reason = f"no answer by {offer.respond_by.isoformat()}"
        await _close(deps, conn, offer, "expired", reason)
        await _refill(deps, conn, request, _slot_of(offer))
    await _settle_if_done(deps, conn, request)
    return True
