"""What every page shares: reading a small form, the reader's language, the rate limit per
client address, and the route's dependencies."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request
from starlette.responses import Response

from services.intake.handlers.dead_letters import DeadLetterTopic
from services.intake.pages.rendering import Pages
from services.intake.pages.texts import Language, choose
from services.intake.unit_of_work import IntakeUnits
from shared.api_gate import client_address
from shared.http_limits import RateLimit

MAX_FIELD_CHARS = 4000  # the longest field a page has: a withdrawal reason, an outcome


async def _units(request: Request) -> IntakeUnits:
    units: IntakeUnits = request.app.state.units  # set by app.py's lifespan
    return units


Units = Annotated[IntakeUnits, Depends(_units)]


async def _dead_letters(request: Request) -> DeadLetterTopic:
    topic: DeadLetterTopic = request.app.state.dead_letters  # set by app.py's lifespan
    return topic


DeadLetters = Annotated[DeadLetterTopic, Depends(_dead_letters)]


def language(request: Request) -> Language:
    return choose(request.headers.get("accept-language"))


async def read_form(request: Request, max_fields: int) -> dict[str, str] | None:
    """The form's fields (one value each), or None if it is not a small ASCII-or-UTF-8 form:
    the body itself is bounded by the BodyLimit in front of every route."""
    try:
        text = (await request.body()).decode("utf-8")
        fields = parse_qs(text, max_num_fields=max_fields, keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):  # not UTF-8, or too many fields
        return None
    if any(len(v) != 1 or len(v[0]) > MAX_FIELD_CHARS for v in fields.values()):
        return None
    return {name: values[0] for name, values in fields.items()}


def busy(pages: Pages, rate_limit: RateLimit, request: Request, bucket: str) -> Response | None:
    """The page saying "too many attempts" once this client address spent its budget."""
    wait = rate_limit.hit(f"{bucket}:{client_address(request.scope)}")
    if wait is None:
        return None
    page = pages.message(language(request), 429, "busy")
    page.headers["Retry-After"] = str(max(1, round(wait)))
    return page
