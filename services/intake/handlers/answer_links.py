"""One-click answers from offer e-mails: the offer a link stands for, and confirming it through
the same use case as the HTTP API (answers.answer_offer), once per link."""

from __future__ import annotations

from services.intake.domain.errors import LinkUsed, NotYourAssignment, UnknownAssignment
from services.intake.domain.model import Clock, OfferSummary
from services.intake.handlers import answers
from services.intake.unit_of_work import IntakeUnitOfWork
from shared.answer_links import AnswerLink


async def offer_of_link(uow: IntakeUnitOfWork, link: AnswerLink, digest: str) -> OfferSummary:
    """What the link's page shows; reads only (mail scanners follow links: a GET changes
    nothing). Raises UnknownAssignment, NotYourAssignment or LinkUsed."""
    offer = await uow.assignments.summary(link.assignment_id)
    if offer is None:
        raise UnknownAssignment
    if offer.partner_id != link.partner_id:
        raise NotYourAssignment  # a leaked secret only: a signed link names its offer's partner
    if await uow.links.is_used(digest):
        raise LinkUsed
    return offer


async def answer_by_link(
    uow: IntakeUnitOfWork, link: AnswerLink, digest: str, *, clock: Clock
) -> bool:
    """Answer as the partner's API key would, and mark the link used, in the caller's unit: both
    commit or neither (a contradiction, AnswerConflict, leaves the link usable and unanswered).
    False when the same answer had been given before (by link or by API): nothing new is sent."""
    if not await uow.links.use(digest, link.assignment_id, clock()):
        raise LinkUsed
    return await answers.answer_offer(
        uow,
        assignment_id=link.assignment_id,
        partner_id=link.partner_id,
        decision=link.decision,
        reason="",
        clock=clock,
    )
