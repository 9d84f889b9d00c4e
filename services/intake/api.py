"""intake's HTTP routes: parse → call one handler → shape the response."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from services.intake import answers, erasure, handlers, repository
from shared.auth import Principal, require_role
from shared.events import RequestSubmission


class SubmitAnswer(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"request_id": "c19a2179-5b7e-4f0e-9d7a-2f1f3c1b8e42", "status": "accepted"}
            ]
        }
    )
    request_id: UUID = Field(description="STAX id of the request")
    status: str = Field(description="Current status: accepted")


class TimelineEntry(BaseModel):
    at: datetime = Field(description="When it happened (the event's time, UTC)")
    event: str = Field(description="CloudEvents type of the event, e.g. ta.assignment.offered")
    partner_id: str | None = Field(description="The partner concerned, if any")
    summary: str = Field(description="What happened, in words")


class RequestView(BaseModel):
    request_id: UUID
    external_ref: str = Field(description="The submitter's own id")
    submitter: str = Field(
        description="Who submitted it: its submitter id (API key or Kafka tenant), or a trusted "
        "in-cluster producer's ce_source"
    )
    party: str = Field(description="Requesting Party")
    status: str = Field(description="accepted, matching, matched or unmatched")
    accepted_at: datetime
    timeline: list[TimelineEntry] = Field(description="What happened so far, oldest first")


class ErasureAnswer(BaseModel):
    request_id: UUID
    erased_at: datetime = Field(
        description="When the erasure was first asked for; every service applies it in turn"
    )


class AnswerBody(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"reason": "our PCB team can start in March"}]}
    )
    reason: str = Field(default="", max_length=2000, description="Why (optional)")


class AnswerView(BaseModel):
    assignment_id: UUID
    decision: Literal["accept", "decline"]
    status: str = Field(description="recorded: the answer is on its way to the matcher")


class OfferView(BaseModel):
    assignment_id: UUID
    request_id: UUID
    role: str = Field(description="lead or support")
    score: float
    respond_by: datetime
    status: str = Field(description="offered, accepted, declined or expired (matcher's view)")
    answer: str | None = Field(description="The partner's answer, once given: accept or decline")
    offered_at: datetime


class PartnerOffers(BaseModel):
    partner_id: str
    open: list[OfferView] = Field(description="Offers still waiting for this partner's answer")
    past: list[OfferView] = Field(description="Offers answered, accepted, declined or expired")


_EXAMPLE = {
    "external_ref": "SN-2026-0042",
    "party": "SEN",
    "title": "PCB inventory support",
    "description": "Help to finish the national PCB inventory before the 2028 deadline.",
    "topics": ["PCB", "WASTE"],
    "assistance_types": ["training", "expert_advice"],
    "pops": ["9"],
    "languages": ["fr"],
    "urgency": "urgent",
    "needed_by": (date.today() + timedelta(days=90)).isoformat(),
    "contact": {
        "name": "A. Ndiaye",
        "email": "a.ndiaye@example.sn",
        "organisation": "Ministry of Environment",
    },
}
_AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "No API key, or an unknown or revoked one"},
    403: {"description": "The key's role may not do this"},
}
_UNREADABLE: dict[int | str, dict[str, Any]] = {
    400: {"description": "The body could not be read (not UTF-8)"},
}
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"description": "Every bad field, {field, code, message}"},
}
_SUBMIT = {
    **_AUTH,
    **_UNREADABLE,
    409: {"description": "Same Idempotency-Key or external_ref, other body"},
    413: {"description": "Body larger than the limit (64 KiB)"},
    422: {"description": "Every bad field, {field, code, message}"},
}


async def _deps(request: Request) -> handlers.IntakeDeps:
    deps: handlers.IntakeDeps = request.app.state.deps  # set by app.py's lifespan
    return deps


Deps = Annotated[handlers.IntakeDeps, Depends(_deps)]


def _submitter_of(who: Principal) -> str:
    assert who.submitter_id is not None, "the database keeps one on every submitter key"
    return who.submitter_id


Submitter = Annotated[Principal, Depends(require_role("submitter"))]
Reader = Annotated[Principal, Depends(require_role("submitter", "operator"))]
Partner = Annotated[Principal, Depends(require_role("partner"))]
Operator = Annotated[Principal, Depends(require_role("operator"))]


def router() -> APIRouter:
    api = APIRouter(prefix="/v1")
    _requests(api)
    _erasure(api)
    _answers(api)
    return api


def _requests(api: APIRouter) -> None:
    @api.post(
        "/requests",
        tags=["requests"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=SubmitAnswer,
        responses=_SUBMIT,
        summary="Submit a request for technical assistance (submitter key)",
    )
    async def submit(
        submission: Annotated[
            RequestSubmission, Body(openapi_examples={"senegal": {"value": _EXAMPLE}})
        ],
        deps: Deps,
        who: Submitter,
        response: Response,
        idempotency_key: Annotated[
            str | None,
            Header(
                alias="Idempotency-Key",
                min_length=1,
                max_length=200,
                description="Optional; the same key and body again returns the same request_id",
            ),
        ] = None,
    ) -> SubmitAnswer:
        try:  # handlers.InvalidSubmission → 422 by the handler app.py installs
            done = await handlers.submit_request(
                deps, submission, submitter=_submitter_of(who), idempotency_key=idempotency_key
            )
        except handlers.IdempotencyConflict as exc:
            raise HTTPException(409, "this key was already used with a different body") from exc
        if not done.created:
            response.headers["Idempotent-Replayed"] = "true"
        return SubmitAnswer(request_id=done.request_id, status=done.status)

    @api.get(
        "/requests/{request_id}",
        tags=["requests"],
        response_model=RequestView,
        responses={
            **_AUTH,
            **_INVALID,
            404: {"description": "No such request (for you)"},
        },
        summary="Status and timeline of a request (its submitter, or an operator)",
    )
    async def get_request(request_id: UUID, deps: Deps, who: Reader) -> RequestView:
        # One snapshot for both reads: otherwise a match committed between them shows a
        # timeline that ends "matched" under a status still "matching".
        async with (
            deps.pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            row = await repository.get_request(conn, request_id)
            # A submitter is told "no such request" for another's: its existence is not shared.
            if row is None or (who.role == "submitter" and row["submitter"] != who.submitter_id):
                raise HTTPException(404, "no such request")
            timeline = await repository.get_timeline(conn, request_id)
        return RequestView(
            **dict(row),
            timeline=[
                TimelineEntry(
                    at=t["at"],
                    event=t["event_type"],
                    partner_id=t["partner_id"],
                    summary=t["summary"],
                )
                for t in timeline
            ],
        )


def _erasure(api: APIRouter) -> None:
    @api.post(
        "/requests/{request_id}/erasure",
        tags=["requests"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=ErasureAnswer,
        responses={
            **_AUTH,
            **_INVALID,
            404: {"description": "No such request"},
        },
        summary="Erase a request's personal data everywhere (operator key; idempotent)",
    )
    async def erase(request_id: UUID, deps: Deps, _who: Operator) -> ErasureAnswer:
        try:
            erased_at = await erasure.erase_request(deps, request_id)
        except erasure.UnknownRequest as exc:
            raise HTTPException(404, "no such request") from exc
        return ErasureAnswer(request_id=request_id, erased_at=erased_at)


def _answers(api: APIRouter) -> None:
    responses = {
        **_AUTH,
        **_UNREADABLE,
        **_INVALID,
        404: {"description": "No such offer (or not known to intake yet)"},
        409: {"description": "Contradicts an earlier answer, or expired"},
    }

    async def answer(
        deps: handlers.IntakeDeps,
        who: Principal,
        assignment_id: UUID,
        decision: answers.Decision,
        body: AnswerBody | None,
    ) -> AnswerView:
        assert who.partner_id is not None  # partner keys always carry one (shared.auth)
        try:
            await answers.answer_offer(
                deps,
                assignment_id=assignment_id,
                partner_id=who.partner_id,
                decision=decision,
                reason=body.reason if body else "",
            )
        except answers.UnknownAssignment as exc:
            raise HTTPException(404, "no such assignment") from exc
        except answers.NotYourAssignment as exc:
            raise HTTPException(403, "this assignment was offered to another partner") from exc
        except answers.AnswerConflict as exc:
            raise HTTPException(409, str(exc)) from exc
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
        assignment_id: UUID, deps: Deps, who: Partner, body: AnswerBody | None = None
    ) -> AnswerView:
        return await answer(deps, who, assignment_id, "accept", body)

    @api.post(
        "/assignments/{assignment_id}/decline",
        tags=["partners"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=AnswerView,
        responses=responses,
        summary="Decline an offer (partner key; its own offers only)",
    )
    async def decline(
        assignment_id: UUID, deps: Deps, who: Partner, body: AnswerBody | None = None
    ) -> AnswerView:
        return await answer(deps, who, assignment_id, "decline", body)

    @api.get(
        "/partners/me/assignments",
        tags=["partners"],
        response_model=PartnerOffers,
        responses=_AUTH,
        summary="The calling partner's open and past offers (partner key)",
    )
    async def my_offers(deps: Deps, who: Partner) -> PartnerOffers:
        assert who.partner_id is not None
        async with deps.pool.acquire() as conn:
            rows = await repository.partner_assignments(conn, who.partner_id)
        offers = [OfferView(**dict(r), answer=r["decision"]) for r in rows]
        is_open = [o.status == "offered" and o.answer is None for o in offers]
        return PartnerOffers(
            partner_id=who.partner_id,
            open=[o for o, yes in zip(offers, is_open, strict=True) if yes],
            past=[o for o, yes in zip(offers, is_open, strict=True) if not yes],
        )
