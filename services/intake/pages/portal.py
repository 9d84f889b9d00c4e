"""The partner portal (`/portal/`): a partner's open offers, its work and its history, answered
there. Every answer goes through the HTTP API's use case (handlers.answers), so the same events
leave, a contradiction is the same 409, and the same answer twice is harmless."""

from __future__ import annotations

from typing import Literal, get_args
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from services.intake.domain.errors import AnswerConflict, NotYourAssignment, UnknownAssignment
from services.intake.domain.model import Clock, Decision, PartnerOffer
from services.intake.handlers import answers, views
from services.intake.pages.forms import Units
from services.intake.pages.guard import Guard
from services.intake.pages.sessions import Session
from services.intake.schemas import AnswerBody, CompletionBody, WithdrawalBody

# What a partner may do next, by the offer's status (shared.lifecycle decides; this only chooses
# which buttons to show).
ACTIONS: dict[str, tuple[Decision, ...]] = {
    "offered": ("accept", "decline"),
    "accepted": ("start", "complete", "withdraw"),
    "started": ("complete", "withdraw"),
}
Group = Literal["open", "work", "history"]
Body = AnswerBody | CompletionBody | WithdrawalBody


def router(*, guard: Guard, clock: Clock) -> APIRouter:
    route = APIRouter(include_in_schema=False)

    @route.get("/portal/")
    async def home(request: Request, units: Units) -> Response:
        session = await guard.session(request)
        if isinstance(session, Response):
            return session
        async with units() as uow:
            open_, past = await views.partner_offers(uow, _partner(session))
        return guard.show(
            request,
            session,
            "portal.html.j2",
            "portal.title",
            groups=_grouped([*open_, *past]),
            actions=ACTIONS,
        )

    @route.post("/portal/assignments/{assignment_id}/{decision}")
    async def answer(
        assignment_id: UUID, decision: str, request: Request, units: Units
    ) -> Response:
        got = await guard.form(request, max_fields=6)
        if isinstance(got, Response):
            return got
        session, fields = got
        chosen = _decision(decision)
        if chosen is None:
            return guard.say(request, 404, "unknown")
        body = _body(chosen, fields)
        if isinstance(body, str):
            return guard.say(request, 422, "refused", reason=body)
        try:
            async with units() as uow:
                await answers.answer_offer(
                    uow,
                    assignment_id=assignment_id,
                    partner_id=_partner(session),
                    decision=chosen,
                    reason=body.reason if isinstance(body, AnswerBody | WithdrawalBody) else "",
                    clock=clock,
                    outcome=body.outcome if isinstance(body, CompletionBody) else "",
                    deliverables=body.deliverables if isinstance(body, CompletionBody) else (),
                )
        except (UnknownAssignment, NotYourAssignment):
            return guard.say(request, 404, "unknown")  # another's offer is no offer of yours
        except AnswerConflict as exc:
            return guard.say(request, 409, "conflict", reason=str(exc))
        return RedirectResponse(f"/portal/?said={chosen}", status_code=303)

    return route


def _decision(word: str) -> Decision | None:
    known: tuple[Decision, ...] = get_args(Decision)
    return next((d for d in known if d == word), None)


def _partner(session: Session) -> str:
    assert session.principal.partner_id is not None  # partner keys always name their partner
    return session.principal.partner_id


def _grouped(offers: list[PartnerOffer]) -> dict[Group, list[PartnerOffer]]:
    groups: dict[Group, list[PartnerOffer]] = {"open": [], "work": [], "history": []}
    for offer in offers:
        if offer.is_open:
            groups["open"].append(offer)
        elif offer.status in ("accepted", "started"):
            groups["work"].append(offer)
        else:
            groups["history"].append(offer)
    return groups


def _body(decision: Decision, fields: dict[str, str]) -> Body | str:
    """The form, checked by the same schemas as the API's JSON bodies; or what is wrong."""
    try:
        if decision == "complete":
            links = [line.strip() for line in fields.get("deliverables", "").splitlines()]
            return CompletionBody(
                outcome=fields.get("outcome", ""), deliverables=[u for u in links if u]
            )
        if decision == "withdraw":
            return WithdrawalBody(reason=fields.get("reason", ""))
        return AnswerBody(reason=fields.get("reason", ""))
    except ValidationError as exc:
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
