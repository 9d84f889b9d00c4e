"""One error body for every 4xx of every service (brief §7.3): `{"errors": [FieldError, ...]}`.

Pure: no web framework here, so domains may build FieldErrors from pydantic's details too.
`shared.http_errors` installs the body into a FastAPI app and its OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.events import FieldError, cap_errors

# pydantic's error types → STAX's stable codes; unlisted types keep pydantic's own name.
_PYDANTIC_CODES = {
    "missing": "required",
    "string_too_long": "too_long",
    "string_too_short": "too_short",
    "too_short": "too_few",
    "too_long": "too_many",
    "enum": "unknown_value",
    "literal_error": "unknown_value",
    "json_invalid": "invalid_json",
    "model_attributes_type": "not_an_object",
    "model_type": "not_an_object",
    "dict_type": "not_an_object",
}

# Where a request's input sits in FastAPI's `loc`: not part of the field's path.
_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})

# The code of an error that only an HTTP status explains (a 404 raised without a reason).
STATUS_CODES: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


class ApiError(Exception):
    """An answer other than success, raised by an entry point: rendered as the one error body."""

    def __init__(
        self,
        status: int,
        errors: Sequence[FieldError],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status}: {'; '.join(e.message for e in errors)}")
        self.status = status
        self.errors = list(errors)
        self.headers = dict(headers or {})

    @classmethod
    def one(cls, status: int, code: str, message: str, field: str | None = None) -> ApiError:
        return cls(status, [FieldError(field=field, code=code, message=message)])


def from_pydantic(details: Sequence[Mapping[str, Any]]) -> list[FieldError]:
    """pydantic error details → FieldErrors: `loc` becomes a dotted path without `body`."""
    out = []
    for detail in details:
        kind = str(detail["type"])
        loc = [str(part) for part in detail["loc"] if part not in _LOCATIONS]
        if kind == "json_invalid":
            loc = []  # the position in the text is in the message; the field is the body
        code = _PYDANTIC_CODES.get(kind, kind)
        if loc and loc[-1] == "email" and kind == "value_error":
            code = "invalid_email"
        out.append(FieldError(field=".".join(loc) or None, code=code, message=str(detail["msg"])))
    return out


def body(errors: Sequence[FieldError]) -> dict[str, Any]:
    """The JSON body; capped (shared.bounds), so an answer stays small however bad the input."""
    return {"errors": [e.model_dump(mode="json") for e in cap_errors(errors)]}


def for_status(status: int, message: str) -> list[FieldError]:
    """An error no field explains, coded after its HTTP status."""
    return [FieldError(field=None, code=STATUS_CODES.get(status, "error"), message=message)]
