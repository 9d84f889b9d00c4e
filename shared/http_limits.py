"""What one HTTP caller may cost a service, or send it: a body limit (413), a rate limit (429),
and no text PostgreSQL cannot store (422).

All are plain ASGI pieces, the same in every service; `shared.api_gate` puts them in front of
the routes (see there for the order and why).
"""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Annotated

import limits
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from pydantic import AfterValidator
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import errors, storable
from shared.events import FieldError

DEFAULT_MAX_BODY_BYTES = 64 * 1024
DEFAULT_RATE_LIMIT = "100/second"


def _parses(text: str) -> str:
    limits.parse(text)  # ValueError (a settings error at start) unless like "100/second"
    return text


RateLimitText = Annotated[str, AfterValidator(_parses)]


class BodyLimit:
    """ASGI middleware: a body larger than `limit` bytes is answered 413 before anyone parses
    it, whether announced by Content-Length or only found while streaming (chunked)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._announced(scope) > self.limit:
            await self._too_large(scope, receive, send)
            return
        body = await _read(receive, self.limit)
        if body is None:
            await self._too_large(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _announced(self, scope: Scope) -> int:
        for name, value in scope["headers"]:
            if name == b"content-length":
                return int(value) if value.isdigit() else self.limit + 1
        return 0

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = JSONResponse(
            errors.body(errors.for_status(413, f"request body larger than {self.limit} bytes")),
            status_code=413,
        )
        await answer(scope, receive, send)


class StorableBody:
    """ASGI middleware: a JSON body holding a string or number PostgreSQL cannot store (U+0000,
    a lone surrogate, NaN: shared.storable) is answered 422, naming the field, before any route
    sees it. Each route's model would accept such a string, and the database then refused it
    inside the route's transaction: a 500, or an event no consumer could apply. Runs behind
    BodyLimit, so the body it buffers is bounded; a body that is not JSON is the route's to
    refuse."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        body = await _read(receive) or b""
        found = _unstorable(body)
        if found is None:
            await self.app(scope, _replay(body, receive), send)
            return
        reason = FieldError(field=found.field, code=found.code, message=found.message)
        await JSONResponse(errors.body([reason]), status_code=422)(scope, receive, send)


async def _read(receive: Receive, limit: float = math.inf) -> bytes | None:
    """The whole body, or None past `limit` bytes (the rest refused unread). Buffering is safe:
    at most `limit` bytes are kept; StorableBody reads unbounded behind BodyLimit, which has
    bounded the body already."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)  # disconnect: the app sees a short body and gives up
        size += len(message.get("body", b""))
        if size > limit:
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _unstorable(body: bytes) -> storable.Unstorable | None:
    if not body:
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON (a form, garbage): the route decides
        return None
    return storable.first_unstorable(data)


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


# How often expired buckets leave memory. Between sweeps, an expired bucket already counts as
# empty (MemoryStorage.get checks the expiry): only its memory waits.
SWEEP_SECONDS = 1.0


class SweptMemoryStorage(MemoryStorage):
    """limits' memory storage, sweeping expired buckets once a second, not 10 ms after each
    request: its timer thread is started anew by the first request after the last sweep, so
    under load it was a new thread every 10 ms (2.5 % of intake's CPU in bench-e2e's profile,
    in Thread.start and its wait).

    The base class starts its timer in a private method, `__schedule_expiry`; this overrides it
    under its mangled name. tests/unit/test_http_limits.py fails if that name ever changes."""

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - its mangled name
        if not self.timer.is_alive():
            sweep = self._MemoryStorage__expire_events  # type: ignore[attr-defined]
            self.timer = threading.Timer(SWEEP_SECONDS, sweep)
            self.timer.daemon = True  # a process that stops does not wait for a sweep
            self.timer.start()


class RateLimit:
    """A budget per bucket (an API key id, a client address), e.g. "100/second" each.

    The counts live in this process's memory: each replica of a service has its own budget, so
    a caller spread over N replicas gets up to N times the limit. Acceptable for now; a shared
    storage (limits supports Redis and others) would make it one budget per cluster.

    The sliding-window counter keeps two counters per bucket (not one timestamp per request,
    as a moving window does), so a flood from many addresses costs little memory, and it has
    no fixed window's double burst at the window's edge. Buckets expire two windows after use.
    The synchronous storage, not `limits.aio`'s, on purpose: its calls touch only memory, and
    it sweeps expired buckets from a timer thread, where the asyncio one sweeps every bucket
    after nearly every request — measured at 20,000 live buckets (one per address of a flood),
    about 4 ms per request against 0.03 ms. See `SweptMemoryStorage` for how often.
    """

    def __init__(self, text: str) -> None:
        self.item = limits.parse(text)
        self._limiter = SlidingWindowCounterRateLimiter(SweptMemoryStorage())

    def hit(self, bucket: str) -> float | None:
        """Spends one request; None while within budget, else the seconds until the next."""
        if self._limiter.hit(self.item, bucket):
            return None
        stats = self._limiter.get_window_stats(self.item, bucket)
        return max(stats.reset_time - time.time(), 0.0)


def too_many_requests(retry_after: float) -> JSONResponse:
    """429 in the errors shape every service uses; Retry-After in whole seconds, at least 1."""
    seconds = max(math.ceil(retry_after), 1)
    reasons = errors.for_status(429, f"too many requests; retry in {seconds} s")
    return JSONResponse(
        errors.body(reasons), status_code=429, headers={"Retry-After": str(seconds)}
    )
