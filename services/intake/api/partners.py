"""Partners answer their offers and the work after them, and list their offers."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, status

from services.intake.api.common import (
    AUTH,
    INVALID,
    UNREADABLE,
    Partner,
    Units,
)
from services.intake.domain.errors import (
    AnswerConflict,
    NotYourAssignment,
    UnknownAssignment,
)
from services.intake.domain.model import Clock, Decision, PartnerOffer
from services.intake.handlers import answers, views
from services.intake.schemas import (
    AnswerBody,
    AnswerView,
    CompletionBody,
    OfferView,
    PartnerOffers,
    WithdrawalBody,
)
from services.intake.unit_of_work import IntakeUnits
from shared.auth import Principal
from shared.errors import ApiError


def install(api: APIRouter, clock: Clock, offer_wait: answers.OfferWait) -> None:
    responses = {
        **AUTH,
        **UNREADABLE,
        **INVALID,
        404: {"description": "No such offer (after a wait for one just made: 3 s by default)"},
        409: {"description": "Contradicts an earlier answer, or expired"},
    }

    async def answer(
        units: IntakeUnits,
        who: Principal,
        assignment_id: UUID,
        decision: Decision,
        body: AnswerBody | CompletionBody | WithdrawalBody | None,
    ) -> AnswerView:
        partner_id = who.partner_id
        assert partner_id is not None  # partner keys always carry one (shared.auth)
        done = body if isinstance(body, CompletionBody) else None

        async def attempt() -> None:
            async with units() as uow:
                await answers.answer_offer(
                    uow,
                    assignment_id=assignment_id,
                    partner_id=partner_id,
                    decision=decision,
                    reason=body.reason if body else "",
                    clock=clock,
                    outcome=done.outcome if done else "",
                    deliverables=done.deliverables if done else (),
                )

        try:
            await answers.once_offered(offer_wait, assignment_id, attempt, partner_id=partner_id)
        except UnknownAssignment as exc:
            raise ApiError.one(404, "not_found", "no such assignment") from exc
        except NotYourAssignment as exc:
            raise ApiError.one(
                403, "forbidden", "this assignment was offered to another partner"
            ) from exc
        except AnswerConflict as exc:
            raise ApiError.one(409, "conflict", str(exc)) from exc
        return AnswerView(assignment_id=assignment_id, decision=decision, status="recorded")

    @api.post(
        "/assignments/{assignment_id}/accept",
        tags=["partners"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=AnswerView,
        responses=responses,
        summary="Accept an offer (partner key; its own offers only)",
    )
    async def accept(
        assignment_id: UUID, units: Units, who: Partner, body: AnswerBody | None = None
    ) -> AnswerView:
        return await answer(units, who, assignment_id, "accept", body)

    @api.post(
        "/assignments/{assignment_id}/decline",
        tags=["partners"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=AnswerView,
        responses=responses,
        summary="Decline an offer (partner key; its own offers only)",
    )
    async def decline(
        assignment_id: UUID, units: Units, who: Partner, body: AnswerBody | None = None
    ) -> AnswerView:
        return await answer(units, who, assignment_id, "decline", body)

    @api.post(
        "/assignments/{assignment_id}/start",
        tags=["partners"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=AnswerView,
        responses=responses,
        summary="Start accepted work (partner key; optional)",
    )
    async def start(
        assignment_id: UUID, units: Units, who: Partner, body: AnswerBody | None = None
    ) -> AnswerView:
        return await answer(units, who, assignment_id, "start", body)

    @api.post(
        "/assignments/{assignment_id}/complete",
        tags=["partners"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=AnswerView,
        responses=responses,
        summary="Complete accepted work, with its outcome and deliverables (frees capacity)",
    )
    async def complete(
        assignment_id: UUID, units: Units, who: Partner, body: CompletionBody
    ) -> AnswerView:
        return await answer(units, who, assignment_id, "complete", body)

    @api.post(
        "/assignments/{assignment_id}/withdraw",
        tags=["partners"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=AnswerView,
        responses=responses,
        summary="Withdraw from accepted work, with a reason (the slot is offered to another)",
    )
    async def withdraw(
        assignment_id: UUID, units: Units, who: Partner, body: WithdrawalBody
    ) -> AnswerView:
        return await answer(units, who, assignment_id, "withdraw", body)

    @api.get(
        "/partners/me/assignments",
        tags=["partners"],
        response_model=PartnerOffers,
        responses=AUTH,
        summary="The calling partner's open and past offers (partner key)",
    )
    async def my_offers(units: Units, who: Partner) -> PartnerOffers:
        assert who.partner_id is not None
        async with units() as uow:
            open_, past = await views.partner_offers(uow, who.partner_id)
        return PartnerOffers(
            partner_id=who.partner_id,
            open=[_offer_view(o) for o in open_],
            past=[_offer_view(o) for o in past],
        )


def _offer_view(offer: PartnerOffer) -> OfferView:
    return OfferView(
        assignment_id=offer.assignment_id,
        request_id=offer.request_id,
        role=offer.role,
        score=offer.score,
        respond_by=offer.respond_by,
        status=offer.status,
        answer=offer.answer,
        offered_at=offer.offered_at,
    )


# The CSV layout, as the route's OpenAPI description states it.
