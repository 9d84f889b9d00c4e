"""Requests: submitted, read, erased and closed (submitters and operators)."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Request, Response, status

from services.intake.api.common import (
    AUTH,
    INVALID,
    UNREADABLE,
    Operator,
    Reader,
    Submitter,
    Units,
    submitter_of,
)
from services.intake.domain.errors import (
    IdempotencyConflict,
    InvalidSubmission,
    NotClosable,
    UnknownRequest,
)
from services.intake.domain.model import Clock, TrackedRequest
from services.intake.domain.reference import Reference
from services.intake.handlers import closing, erasure, submissions, views
from services.intake.schemas import (
    CloseBody,
    ClosingView,
    ErasureAnswer,
    FeedbackBody,
    RequestView,
    SubmitAnswer,
    TimelineEntry,
)
from services.intake.unit_of_work import IntakeUnits
from shared.errors import ApiError
from shared.events import ClosedBy, RequestSubmission
from shared.logs import log_context

log = logging.getLogger(__name__)

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
_SUBMIT = {
    **AUTH,
    **UNREADABLE,
    409: {"description": "Same Idempotency-Key or external_ref, other body"},
    413: {"description": "Body larger than the limit (64 KiB)"},
    422: {"description": "Every bad field, {field, code, message}"},
}


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


def install_requests(api: APIRouter, reference: Reference, clock: Clock) -> None:
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
                submitter=submitter_of(who),
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
            **AUTH,
            **INVALID,
            404: {"description": "No such request (for you)"},
        },
        summary="Status and timeline of a request (its submitter, or an operator)",
    )
    async def get_request(request_id: UUID, units: Units, who: Reader) -> RequestView:
        only_of = who.submitter_id if who.role == "submitter" else None
        try:
            with log_context(request_id=str(request_id)):
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


def install_erasure(api: APIRouter, clock: Clock) -> None:
    @api.post(
        "/requests/{request_id}/erasure",
        tags=["requests"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=ErasureAnswer,
        responses={
            **AUTH,
            **INVALID,
            404: {"description": "No such request"},
        },
        summary="Erase a request's personal data everywhere (operator key; idempotent)",
    )
    async def erase(request_id: UUID, units: Units, who: Operator) -> ErasureAnswer:
        try:
            with log_context(request_id=str(request_id)):
                async with units() as uow:
                    erased_at = await erasure.erase_request(uow, request_id, clock=clock)
                log.info("request erased (by operator key %s)", who.key_id)
        except UnknownRequest as exc:
            raise ApiError.one(404, "not_found", "no such request") from exc
        return ErasureAnswer(request_id=request_id, erased_at=erased_at)


def install_closing(api: APIRouter, clock: Clock) -> None:
    responses = {
        **AUTH,
        **UNREADABLE,
        **INVALID,
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
        closed_by: ClosedBy = "submitter" if submitter else "operator"
        try:
            with log_context(request_id=str(request_id)):
                async with units() as uow:
                    await closing.ask_closing(
                        uow,
                        request_id,
                        closed_by=closed_by,
                        submitter=submitter,
                        rating=rating,
                        comment=comment,
                        clock=clock,
                    )
                log.info("closing asked by the %s", closed_by)  # never the comment: free text
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
            submitter=submitter_of(who),
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
