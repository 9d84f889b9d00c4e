"""The gate in front of every service's `/v1` routes: who is calling, and whether they may, is
settled from the headers alone, before the body is read or parsed.

Why a middleware, not a dependency: FastAPI reads and parses a route's body before it runs the
route's dependencies, and a body that does not parse is answered 422 before any of them runs.
An authentication dependency therefore comes too late: a caller without a key could make the
service read and parse whatever it sends, and learn from the 422s. An ASGI middleware runs
before any of that. `install` wires, outermost first:

  BodyLimit  every request: a body over the limit is 413, and at most `limit` bytes are read —
             for anyone, before authentication, so no caller makes a service hold more
  ApiGate    `/v1/*`: no valid key is 401, over budget is 429; the principal goes to the
             request's state, where `shared.auth.require_role` finds it
  StorableBody  a JSON body with text PostgreSQL cannot store is 422 (shared.storable); an
             authenticated caller may hear this before a role check's 403
  routes     role checks (403), then the body is parsed (422) and the use case runs
"""

from __future__ import annotations

import ipaddress
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shared import errors, http_errors
from shared.auth import PRINCIPAL, Authenticator, Principal, presented_key
from shared.http_limits import BodyLimit, RateLimit, StorableBody, too_many_requests

PREFIX = "/v1/"


def install(app: FastAPI, *, max_body_bytes: int, rate_limit: str) -> None:
    """The body limit and the gate in front of `app`, and their answers in its OpenAPI
    document; call once its routes are included."""
    # Added in reverse: the body limit runs first, then the gate, then the storable-text check
    # (an unauthenticated caller hears 401 whatever its body holds).
    app.add_middleware(StorableBody)
    app.add_middleware(ApiGate, rate_limit=RateLimit(rate_limit))
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    _document(app, max_body_bytes)


class ApiGate:
    """ASGI middleware: authenticates `/v1/*` requests, then spends one from their budget."""

    def __init__(self, app: ASGIApp, rate_limit: RateLimit) -> None:
        self.app = app
        self.rate_limit = rate_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            refusal = await self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    async def _refusal(self, scope: Scope) -> Response | None:
        key = presented_key(Headers(scope=scope))
        principal = await _authenticator(scope)(key) if key else None
        if principal is None:
            # Failures are counted per client address: a flood of bad keys is slowed to the
            # budget, while valid keys behind the same address (a proxy, a NAT) keep budgets of
            # their own — a stranger's failures never lock a real caller out. For the same
            # reason the budget is checked after the lookup, not before: a well-formed unknown
            # key still costs one indexed query (malformed ones none, see Authenticator).
            wait = self.rate_limit.hit(f"address:{client_address(scope)}")
            return _unauthorized(key) if wait is None else too_many_requests(wait)
        wait = self.rate_limit.hit(f"key:{principal.key_id}")
        if wait is not None:
            return too_many_requests(wait)
        _admit(scope, principal)
        return None


def _authenticator(scope: Scope) -> Authenticator:
    authenticate: Authenticator = scope["app"].state.authenticator  # set in app.py's lifespan
    return authenticate


def client_address(scope: Scope) -> str:
    """The peer as the server saw it, never a header (anyone sets those): behind a proxy,
    uvicorn's --forwarded-allow-ips decides whether X-Forwarded-For may replace it."""
    client = scope.get("client")
    host = str(client[0]) if client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # a Unix socket's peer, a test client's name: as it is
    return _owner(address)


def _owner(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    # One host commonly holds a whole /64: counted per address, it would have 2^64 budgets.
    return str(ipaddress.IPv6Network((address, 64), strict=False))


def _admit(scope: Scope, principal: Principal) -> None:
    state: dict[str, Any] = scope.setdefault("state", {})
    state[PRINCIPAL] = principal


def _unauthorized(key: str | None) -> JSONResponse:
    message = "unknown or revoked API key" if key else "an API key is required"
    return http_errors.answer(
        401, errors.for_status(401, message), headers={"WWW-Authenticate": "Bearer"}
    )


def _document(app: FastAPI, max_body_bytes: int) -> None:
    """Every `/v1` operation may answer 401, 413 and 429: the generated document says so where
    a route does not already (FastAPI's documented way to extend it: wrap `app.openapi`)."""
    generate = app.openapi
    answers = _answers(max_body_bytes)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _add_answers(generate(), answers)
        return generate()  # FastAPI keeps the document once made: the same one, amended

    app.openapi = openapi  # type: ignore[method-assign]


def _add_answers(document: dict[str, Any], answers: dict[str, dict[str, Any]]) -> None:
    for path, operations in document["paths"].items():
        for operation in operations.values() if path.startswith(PREFIX) else ():
            for status, answer in answers.items():
                operation["responses"].setdefault(status, answer)


def _answers(max_body_bytes: int) -> dict[str, dict[str, Any]]:
    body = {"$ref": f"#/components/schemas/{http_errors.SCHEMA_NAME}"}
    retry_after = {"description": "Seconds to wait", "schema": {"type": "integer"}}
    return {
        "401": _answer("No API key, or an unknown or revoked one", body),
        "413": _answer(f"Body larger than {max_body_bytes} bytes", body),
        "429": {
            **_answer("Over budget: this key's, or this address's failed authentications", body),
            "headers": {"Retry-After": retry_after},
        },
    }


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}
