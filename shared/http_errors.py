"""The one error body (shared.errors) in a FastAPI app: its exception handlers and its OpenAPI.

`install(app)` makes every 4xx the app answers — pydantic's validation errors, `HTTPException`s
(FastAPI's own 404/405 included), `ApiError`s raised by routes — `{"errors": [...]}`, and rewrites
the app's OpenAPI document so that every 4xx response it lists says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import errors
from shared.events import FieldError

SCHEMA_NAME = "ErrorBody"


class ErrorBody(BaseModel):
    """Every 4xx of every STAX service (brief §7.3)."""

    errors: list[FieldError] = Field(description="Every reason at once: {field, code, message}")


def answer(
    status: int, reasons: Sequence[FieldError], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(errors.body(reasons), status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_invalid)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(errors.ApiError, _on_api_error)
    _document(app)


async def _on_invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return answer(422, errors.from_pydantic(exc.errors()))


async def _on_http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return answer(exc.status_code, errors.for_status(exc.status_code, str(exc.detail)), exc.headers)


async def _on_api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.ApiError)
    return answer(exc.status, exc.errors, exc.headers or None)


def _document(app: FastAPI) -> None:
    """Every 4xx response of the generated document gets the ErrorBody schema (FastAPI's
    documented way to extend the document: wrap `app.openapi`)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            restate_errors(generate())
        return generate()  # FastAPI keeps the document once made: the same one, amended

    app.openapi = openapi  # type: ignore[method-assign]


def restate_errors(document: dict[str, Any]) -> None:
    """Point every 4xx response at `ErrorBody`; drop FastAPI's own validation-error schemas."""
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    definition = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(definition.pop("$defs", {}))
    schemas[SCHEMA_NAME] = definition
    reference = {"$ref": f"#/components/schemas/{SCHEMA_NAME}"}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if str(status).startswith("4"):
                    content = response.setdefault("content", {})
                    content["application/json"] = {"schema": reference}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
