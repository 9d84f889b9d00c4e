"""intake's HTTP error shapes: the body limit (413) and validation answers (422)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class BodyLimit:
    """ASGI middleware: a body larger than `limit` bytes is answered 413 before anyone parses
    it, whether announced by Content-Length or only found while streaming (chunked)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        if self._announced(scope) > self.limit:
            await self._too_large(scope, receive, send)
            return
        body = await self._read(receive)
        if body is None:
            await self._too_large(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _announced(self, scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return int(value) if value.isdigit() else self.limit + 1
        return 0

    async def _read(self, receive: Receive) -> bytes | None:
        # Buffering is safe: at most `limit` bytes are kept; the rest is refused unread.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks)  # disconnect: the app sees a short body and gives up
            size += len(message.get("body", b""))
            if size > self.limit:
                return None
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = JSONResponse(
            {"detail": f"request body larger than {self.limit} bytes"}, status_code=413
        )
        await answer(scope, receive, send)


def _replay(body: bytes, original: Receive) -> Receive:
    """The buffered body as one message; after it, the real channel (for disconnects)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return await original()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive
