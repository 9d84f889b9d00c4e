"""intake's HTTP error shapes: validation answers (422); the body limit is shared.http_limits."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.intake import domain
from services.intake.handlers import IntakeDeps, InvalidSubmission
from shared.events import FieldError


class ValidationAnswer(BaseModel):
    """422: every bad field at once, in the same shape as ta.request.rejected's errors."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": "invalid request",
                    "errors": [
                        {
                            "field": "party",
                            "code": "not_a_party",
                            "message": "United States is not a Party to the Stockholm Convention",
                        },
                        {
                            "field": "topics.1",
                            "code": "unknown_topic",
                            "message": "'X' is not known",
                        },
                    ],
                }
            ]
        }
    )

    detail: str = Field(default="invalid request", description="Summary")
    errors: list[FieldError] = Field(description="Every bad field: {field, code, message}")


class Problem(BaseModel):
    detail: str = Field(description="What went wrong")


def invalid(errors: list[FieldError]) -> JSONResponse:
    return JSONResponse(ValidationAnswer(errors=errors).model_dump(mode="json"), status_code=422)


async def on_invalid_submission(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidSubmission)
    return invalid(exc.errors)


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422 → our shape, plus the reference-data errors of the same body."""
    assert isinstance(exc, RequestValidationError)
    errors = domain.from_pydantic(exc.errors())
    body = exc.body
    if isinstance(body, Mapping) and request.url.path == "/v1/requests":
        deps: IntakeDeps = request.app.state.deps
        today = deps.clock().date()
        errors = domain.dedupe(errors + domain.reference_errors(body, deps.reference, today))
    return invalid(errors)
