"""intake's HTTP routes: parse → call one handler → shape the response."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from services.intake import handlers, repository
from services.intake.domain import UnknownPartyError
from shared.events import RequestSubmission

# Until API keys exist (the intake issue), HTTP submissions are attributed to this submitter.
ANONYMOUS_SUBMITTER = "http"


class SubmitAnswer(BaseModel):
    request_id: UUID = Field(description="STAX id of the request")
    status: str = Field(description="Current status, e.g. accepted")


def _deps(request: Request) -> handlers.IntakeDeps:
    deps: handlers.IntakeDeps = request.app.state.deps  # set by app.py's lifespan
    return deps


Deps = Annotated[handlers.IntakeDeps, Depends(_deps)]


def router() -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["requests"])

    @api.post(
        "/requests",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=SubmitAnswer,
        responses={
            409: {"description": "Same external_ref, different body"},
            422: {"description": "Invalid submission"},
        },
    )
    async def submit(submission: RequestSubmission, deps: Deps) -> SubmitAnswer:
        try:
            done = await handlers.submit_request(deps, submission, submitter=ANONYMOUS_SUBMITTER)
        except UnknownPartyError as exc:
            raise HTTPException(
                422,
                [
                    {
                        "field": "party",
                        "code": "unknown_party",
                        "message": f"{exc} is not a known Party code",
                    }
                ],
            ) from exc
        except handlers.IdempotencyConflict as exc:
            raise HTTPException(409, "external_ref already used with a different body") from exc
        return SubmitAnswer(request_id=done.request_id, status=done.status)

    @api.get(
        "/requests/{request_id}",
        response_model=SubmitAnswer,
        responses={404: {"description": "No such request"}},
    )
    async def get_request(request_id: UUID, deps: Deps) -> SubmitAnswer:
        async with deps.pool.acquire() as conn:
            row = await repository.get_status(conn, request_id)
        if row is None:
            raise HTTPException(404, "no such request")
        return SubmitAnswer(request_id=row["request_id"], status=row["status"])

    return api
