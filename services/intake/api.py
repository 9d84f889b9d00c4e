"""intake's HTTP routes: parse once → authorise → open a unit → call one handler → answer.

Every input is validated once: path and query parameters and the small bodies by FastAPI, the
submission's body by `domain.submissions.validate` alone (shape and reference data in one pass, so
a 422 lists every bad field), which is why `POST /v1/requests` reads its body itself.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from services.intake.domain import reporting
from services.intake.domain.errors import (
    AnswerConflict,
    IdempotencyConflict,
    InvalidSubmission,
    NotClosable,
    NotYourAssignment,
    UnknownAssignment,
    UnknownRequest,
)
from services.intake.domain.model import Clock, Decision, PartnerOffer, TrackedRequest
from services.intake.domain.reference import Reference
from services.intake.handlers import answers, closing, erasure, reports, submissions, views
from services.intake.schemas import (
    AnswerBody,
    AnswerView,
    AssistanceReportView,
    CloseBody,
    ClosingView,
    CompletionBody,
    ErasureAnswer,
    FeedbackBody,
    MedianSeconds,
    OfferView,
    PartnerFiguresView,
    PartnerOffers,
    ReportWindow,
    RequestCounts,
    RequestView,
    SubmitAnswer,
    TimelineEntry,
    WithdrawalBody,
)
from services.intake.unit_of_work import IntakeUnits
from shared.auth import Principal, require_role
from shared.errors import ApiError
from shared.events import RequestSubmission

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


async def _units(request: Request) -> IntakeUnits:
    units: IntakeUnits = request.app.state.units  # set by app.py's lifespan
    return units


Units = Annotated[IntakeUnits, Depends(_units)]


def _submitter_of(who: Principal) -> str:
    assert who.submitter_id is not None, "the database keeps one on every submitter key"
    return who.submitter_id


Submitter = Annotated[Principal, Depends(require_role("submitter"))]
Reader = Annotated[Principal, Depends(require_role("submitter", "operator"))]
Partner = Annotated[Principal, Depends(require_role("partner"))]
Operator = Annotated[Principal, Depends(require_role("operator"))]


def router(*, reference: Reference, clock: Clock) -> APIRouter:
    api = APIRouter(prefix="/v1")
    _requests(api, reference, clock)
    _erasure(api, clock)
    _answers(api, clock)
    _closing(api, clock)
    _reports(api)
    return api


def _submission_body() -> dict[str, Any]:
    """The body `POST /v1/requests` documents (FastAPI does not see it: the route reads it)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": _inlined(RequestSubmission.model_json_schema()),
                    "examples": {"senegal": {"value": _EXAMPLE}},
                }
            },
        }
    }


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with its `$defs` put in place: a `#/$defs/…` reference means nothing inside an
    OpenAPI document, whose root is not the schema's."""
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(item) for item in node]
        if not isinstance(node, dict):
            return node
        done = {key: inline(value) for key, value in node.items() if key != "$ref"}
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return inline(definitions[ref.removeprefix("#/$defs/")]) | done
        return done

    inlined: dict[str, Any] = inline(schema)
    return inlined


async def _json_body(request: Request) -> object:
    """The body, decoded once; its validation is the use case's."""
    try:
        return json.loads(await request.body())
    except json.JSONDecodeError as exc:
        raise ApiError.one(422, "invalid_json", f"JSON decode error: {exc}") from exc
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ApiError.one(400, "bad_request", "the body could not be read as JSON") from exc


def _requests(api: APIRouter, reference: Reference, clock: Clock) -> None:
    @api.post(
        "/requests",
        tags=["requests"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=SubmitAnswer,
        responses=_SUBMIT,
        summary="Submit a request for technical assistance (submitter key)",
        openapi_extra=_submission_body(),
    )
    async def submit(
        request: Request,
        units: Units,
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
        raw = await _json_body(request)
        try:
            done = await submissions.submit_request(
                units,
                raw,
                submitter=_submitter_of(who),
                idempotency_key=idempotency_key,
                reference=reference,
                clock=clock,
            )
        except InvalidSubmission as exc:
            raise ApiError(422, exc.errors) from exc
        except IdempotencyConflict as exc:
            raise ApiError.one(
                409, "conflict", "this key was already used with a different body"
            ) from exc
        if not done.created:
            response.headers["Idempotent-Replayed"] = "true"
        return SubmitAnswer(request_id=done.request_id, status="accepted")

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
    async def get_request(request_id: UUID, units: Units, who: Reader) -> RequestView:
        only_of = who.submitter_id if who.role == "submitter" else None
        try:
            async with units() as uow:
                found = await views.request_view(uow, request_id, only_of=only_of)
        except UnknownRequest as exc:
            raise ApiError.one(404, "not_found", "no such request") from exc
        return _request_view(found)


def _request_view(found: TrackedRequest) -> RequestView:
    return RequestView(
        request_id=found.request_id,
        external_ref=found.external_ref,
        submitter=found.submitter,
        party=found.party,
        status=found.status,
        accepted_at=found.accepted_at,
        timeline=[
            TimelineEntry(at=t.at, event=t.event_type, partner_id=t.partner_id, summary=t.summary)
            for t in found.timeline
        ],
    )


def _erasure(api: APIRouter, clock: Clock) -> None:
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
    async def erase(request_id: UUID, units: Units, _who: Operator) -> ErasureAnswer:
        try:
            async with units() as uow:
                erased_at = await erasure.erase_request(uow, request_id, clock=clock)
        except UnknownRequest as exc:
            raise ApiError.one(404, "not_found", "no such request") from exc
        return ErasureAnswer(request_id=request_id, erased_at=erased_at)


def _closing(api: APIRouter, clock: Clock) -> None:
    responses = {
        **_AUTH,
        **_UNREADABLE,
        **_INVALID,
        404: {"description": "No such request (for you)"},
        409: {"description": "Partners still work on it (or are being asked to)"},
    }

    async def close(
        units: IntakeUnits,
        request_id: UUID,
        *,
        submitter: str | None,
        rating: int | None,
        comment: str,
    ) -> ClosingView:
        try:
            async with units() as uow:
                await closing.ask_closing(
                    uow,
                    request_id,
                    closed_by="submitter" if submitter else "operator",
                    submitter=submitter,
                    rating=rating,
                    comment=comment,
                    clock=clock,
                )
        except UnknownRequest as exc:
            raise ApiError.one(404, "not_found", "no such request") from exc
        except NotClosable as exc:
            raise ApiError.one(409, "conflict", str(exc)) from exc
        return ClosingView(request_id=request_id, status="closing")

    @api.post(
        "/requests/{request_id}/feedback",
        tags=["requests"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=ClosingView,
        responses=responses,
        summary="Close your request with feedback (submitter key; once nobody works on it)",
    )
    async def feedback(
        request_id: UUID, units: Units, who: Submitter, body: FeedbackBody
    ) -> ClosingView:
        return await close(
            units,
            request_id,
            submitter=_submitter_of(who),
            rating=body.rating,
            comment=body.comment,
        )

    @api.post(
        "/requests/{request_id}/close",
        tags=["requests"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=ClosingView,
        responses=responses,
        summary="Close a request that waits, went unmatched or was completed (operator key)",
    )
    async def close_request(
        request_id: UUID, units: Units, _who: Operator, body: CloseBody | None = None
    ) -> ClosingView:
        comment = body.comment if body else ""
        return await close(units, request_id, submitter=None, rating=None, comment=comment)


def _answers(api: APIRouter, clock: Clock) -> None:
    responses = {
        **_AUTH,
        **_UNREADABLE,
        **_INVALID,
        404: {"description": "No such offer (or not known to intake yet)"},
        409: {"description": "Contradicts an earlier answer, or expired"},
    }

    async def answer(
        units: IntakeUnits,
        who: Principal,
        assignment_id: UUID,
        decision: Decision,
        body: AnswerBody | CompletionBody | WithdrawalBody | None,
    ) -> AnswerView:
        assert who.partner_id is not None  # partner keys always carry one (shared.auth)
        done = body if isinstance(body, CompletionBody) else None
        try:
            async with units() as uow:
                await answers.answer_offer(
                    uow,
                    assignment_id=assignment_id,
                    partner_id=who.partner_id,
                    decision=decision,
                    reason=body.reason if body else "",
                    clock=clock,
                    outcome=done.outcome if done else "",
                    deliverables=done.deliverables if done else (),
                )
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
        responses=_AUTH,
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
_CSV_LAYOUT = "\n".join(
    [
        "With `format=csv`, `text/csv`: the header `dimension,key,metric,value`, then one figure",
        "a row (an empty value is a null: no data):",
        "- `window,,from|to,<ISO time>`; `requests,,count,<n>`;",
        "- `region|party|topic|status,<code>,requests,<n>`;",
        "- `median_seconds,,to_first_offer|to_match|to_completion,<seconds>`;",
        "- `partner,<partner_id>,accepted|completed|completion_rate|rated_requests|mean_rating,"
        "<value>`;",
        "- `uncovered_topic,<code>,requests,<n>`.",
    ]
)


def _reports(api: APIRouter) -> None:
    @api.get(
        "/reports/assistance",
        tags=["reports"],
        response_model=AssistanceReportView,
        responses={
            **_AUTH,
            **_INVALID,
            200: {
                "description": "The report, as JSON or (format=csv) as CSV",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            },
        },
        summary="What happened to the requests accepted in a window (operator key)",
        description="Requests by region, Party, topic and status; median seconds from acceptance "
        "to the first offer, the match and completion; per partner, completion rate (completed "
        "/ accepted assignments) and mean rating (of the closed requests it completed work on); "
        "topics left uncovered. `from` and `to` take ISO dates or date-times (UTC unless they "
        "say otherwise) and bound the requests' acceptance time.\n\n" + _CSV_LAYOUT,
    )
    async def assistance(
        units: Units,
        _who: Operator,
        start: Annotated[
            datetime | None, Query(alias="from", description="Accepted from (inclusive)")
        ] = None,
        end: Annotated[datetime | None, Query(alias="to", description="Until (exclusive)")] = None,
        shape: Annotated[
            Literal["json", "csv"], Query(alias="format", description="json or csv")
        ] = "json",
    ) -> Response | AssistanceReportView:
        scope = reporting.window(start, end)
        if isinstance(scope, list):
            raise ApiError(422, scope)
        async with units() as uow:
            report = await reports.assistance(uow, scope)
        if shape == "csv":
            return Response(reporting.csv_text(report), media_type="text/csv; charset=utf-8")
        return _report_view(report)


def _report_view(report: reporting.AssistanceReport) -> AssistanceReportView:
    medians = report.median_seconds
    return AssistanceReportView(
        window=ReportWindow.model_validate({"from": report.window.start, "to": report.window.end}),
        requests=RequestCounts(
            total=report.requests,
            by_region=report.by_region,
            by_party=report.by_party,
            by_topic=report.by_topic,
            by_status=report.by_status,
        ),
        median_seconds=MedianSeconds(
            to_first_offer=medians.to_first_offer,
            to_match=medians.to_match,
            to_completion=medians.to_completion,
        ),
        partners=[PartnerFiguresView(**dataclasses.asdict(p)) for p in report.partners],
        uncovered_topics=report.uncovered_topics,
    )
