"""A new request is matched (offers to a lead and support partners), or waits for capacity; an
erased one forgotten; a closing one closed."""

from __future__ import annotations

import logging

from services.matcher import domain
from services.matcher.domain import MatchRequest
from services.matcher.handlers import saga
from services.matcher.handlers.saga import Matching
from services.matcher.unit_of_work import MatcherUnitOfWork
from shared.envelope import Envelope
from shared.events import RequestAccepted, RequestClosed, RequestClosing, RequestErased

log = logging.getLogger(__name__)


async def on_request_accepted(
    uow: MatcherUnitOfWork, _envelope: Envelope, accepted: RequestAccepted, *, matching: Matching
) -> None:
    """Score the partners, offer a lead and support partners; wait if every partner who could
    help is full; unmatched if nobody could ever help."""
    request = MatchRequest.of(accepted)  # the Party's contact is not matcher's to keep
    # The new row is this request's lock from now on; a second copy of the request (same id,
    # another ce_id) conflicts here and changes nothing.
    if not await uow.requests.add(request):
        log.info("request %s is already being matched; ignoring the copy", request.request_id)
        return
    offering = await saga.offer_plan(uow, matching, request)
    if offering.waiting_for:
        await saga.wait(uow, request, offering.waiting_for, matching.clock(), replace=True)
    elif not offering.offered:  # nobody could ever serve it: unmatched, every topic uncovered
        await saga.settle_if_done(uow, request)


async def on_request_erased(
    uow: MatcherUnitOfWork, _envelope: Envelope, erased: RequestErased
) -> None:
    """matcher keeps no contact (MatchRequest); this catches an older replica's row, and the
    submitter's feedback comment."""
    await uow.requests.erase_contact(erased.request_id)


async def on_request_closing(
    uow: MatcherUnitOfWork, envelope: Envelope, closing: RequestClosing
) -> None:
    """Close a request nobody works on any more, with the submitter's feedback (intake checked
    who may close it and when; this is checked again against matcher's own state, which is
    authoritative: a request that got work meanwhile stays open, and the refusal is logged)."""
    request = await uow.requests.lock(closing.request_id)
    if request is None:
        log.warning("closing %s: no such request here; ignored", closing.request_id)
        return
    status = await uow.requests.status(closing.request_id)
    if status == "closed":
        return  # closed before: the same closing again, or a second one, changes nothing
    if not domain.closable(status, await uow.offers.live_count(closing.request_id)):
        log.warning("closing %s (%s) refused: it is %s", closing.request_id, envelope.id, status)
        return
    await saga.stop_waiting(uow, closing.request_id)
    await uow.requests.record_closure(
        closing.request_id, closing.closed_by, closing.rating, closing.comment
    )
    closed = RequestClosed(
        request_id=closing.request_id,
        closed_by=closing.closed_by,
        rating=closing.rating,
        comment=closing.comment,
    )
    await saga.emit(uow, closing.request_id, closed)
