"""intake's HTTP error shapes: validation answers (422); the body limit is shared.http_limits."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from services.intake import domain
from services.intake.handlers import IntakeDeps, InvalidSubmission
from shared import http_errors as shared_http_errors
from shared.errors import from_pydantic
from shared.events import FieldError


def invalid(errors: list[FieldError]) -> JSONResponse:
    return shared_http_errors.answer(422, errors)


async def on_invalid_submission(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InvalidSubmission)
    return invalid(exc.errors)


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own 422 → our shape, plus the reference-data errors of the same body."""
    assert isinstance(exc, RequestValidationError)
    errors = from_pydantic(exc.errors())
    body = exc.body
    if isinstance(body, Mapping) and request.url.path == "/v1/requests":
        deps: IntakeDeps = request.app.state.deps
        today = deps.clock().date()
        errors = domain.dedupe(errors + domain.reference_errors(body, deps.reference, today))
    return invalid(errors)
