"""GET and POST `/answer/{token}`: the page an offer e-mail's Accept or Decline link opens, and
its confirmation. The signed token is the capability, so no API key is asked for (the `/v1`
gate does not cover these paths); each client address has a budget of attempts instead.

A GET only reads: mail scanners and link previews follow links. Confirming is a POST with a
double-submit CSRF token (cookie + hidden field), answered through the HTTP API's use case."""

from __future__ import annotations

import hmac
import secrets
from functools import partial
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from services.intake.domain.errors import (
    AnswerConflict,
    LinkUsed,
    NotYourAssignment,
    UnknownAssignment,
)
from services.intake.domain.model import Clock, OfferSummary
from services.intake.handlers import answer_links as handlers
from services.intake.handlers.answers import OfferWait, once_offered
from services.intake.pages.rendering import Pages
from services.intake.pages.texts import Language, choose
from services.intake.unit_of_work import IntakeUnits
from shared import answer_links
from shared.answer_links import AnswerLink, BadLink, ExpiredLink
from shared.api_gate import client_address
from shared.http_limits import RateLimit

CSRF_COOKIE = "stax_csrf"
CSRF_FIELD = "csrf"
MAX_CSRF = 64  # secrets.token_urlsafe(32) is 43 characters
MAX_FORM_FIELDS = 4
# What a page answers for each way a link can fail: (status, texts key).
FAILURES: dict[type[Exception], tuple[int, str]] = {
    BadLink: (400, "bad"),
    NotYourAssignment: (400, "bad"),  # a signed link names its offer's partner: a leaked secret
    ExpiredLink: (410, "expired"),
    UnknownAssignment: (404, "unknown"),
    LinkUsed: (409, "used"),
    AnswerConflict: (409, "conflict"),
}
FAILED = tuple(FAILURES)


async def _units(request: Request) -> IntakeUnits:
    units: IntakeUnits = request.app.state.units  # set by app.py's lifespan
    return units


Units = Annotated[IntakeUnits, Depends(_units)]


def router(
    *, secret: str, clock: Clock, rate_limit: RateLimit, pages: Pages, offer_wait: OfferWait
) -> APIRouter:
    """The routes; an empty `secret` turns links off (every link is a 404 page saying so). A
    link opened before intake has read its offer waits for it (`answers.once_offered`)."""
    route = APIRouter(include_in_schema=False)

    def refused(request: Request, lang: Language) -> Response | None:
        wait = rate_limit.hit(f"answer-page:{client_address(request.scope)}")
        if wait is not None:
            busy = pages.message(lang, 429, "busy")
            busy.headers["Retry-After"] = str(max(1, round(wait)))
            return busy
        return None if secret else pages.message(lang, 404, "off")

    @route.get("/answer/{token:path}")
    async def show(token: str, request: Request, units: Units) -> Response:
        lang = choose(request.headers.get("accept-language"))
        if (refusal := refused(request, lang)) is not None:
            return refusal

        digest = answer_links.digest(token)

        async def look(link: AnswerLink) -> OfferSummary:
            async with units() as uow:
                return await handlers.offer_of_link(uow, link, digest)

        try:
            link = answer_links.verify(token, secret, clock())
            offer = await once_offered(
                offer_wait, link.assignment_id, partial(look, link), partner_id=link.partner_id
            )
        except FAILED as exc:
            return _failure(pages, lang, exc)
        if offer.answer is not None and offer.answer != link.decision:
            reason = f"answered {offer.answer}, now {offer.status}"
            return pages.message(lang, 409, "conflict", reason=reason)
        return _confirmation(pages, lang, request, link, offer)

    @route.post("/answer/{token:path}")
    async def confirm(token: str, request: Request, units: Units) -> Response:
        lang = choose(request.headers.get("accept-language"))
        if (refusal := refused(request, lang)) is not None:
            return refusal
        if not _csrf_holds(request.cookies.get(CSRF_COOKIE), await request.body()):
            return pages.message(lang, 403, "csrf")

        digest = answer_links.digest(token)

        async def answer(link: AnswerLink) -> bool:
            async with units() as uow:
                return await handlers.answer_by_link(uow, link, digest, clock=clock)

        try:
            link = answer_links.verify(token, secret, clock())
            new = await once_offered(
                offer_wait, link.assignment_id, partial(answer, link), partner_id=link.partner_id
            )
        except FAILED as exc:
            return _failure(pages, lang, exc)
        said = f"done.{link.decision}" if new else "done.before"
        return pages.say(lang, 200, "done.title", said)

    return route


def _confirmation(
    pages: Pages, lang: Language, request: Request, link: AnswerLink, offer: OfferSummary
) -> Response:
    """The offer and a form that confirms it; a fresh CSRF token, in the form and a cookie."""
    csrf = secrets.token_urlsafe(32)
    page = pages.page(
        "answer.html.j2",
        lang,
        200,
        pages.text(lang, f"title.{link.decision}"),
        offer=offer,
        decision=link.decision,
        respond_by=offer.respond_by.strftime("%Y-%m-%d %H:%M %Z"),
        action=request.url.path,
        csrf=csrf,
    )
    page.set_cookie(
        CSRF_COOKIE,
        csrf,
        max_age=3600,
        path="/answer/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return page


def _csrf_holds(cookie: str | None, body: bytes) -> bool:
    """The double-submit check: the form's field equals the cookie the GET set. A cross-site
    form cannot read the cookie (nor is it sent: SameSite=Strict), so cannot copy it."""
    if not cookie or len(cookie) > MAX_CSRF:
        return False
    try:
        form = parse_qs(body.decode("ascii"), max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):  # not ASCII, or too many fields
        return False
    sent = form.get(CSRF_FIELD, [])
    if len(sent) != 1 or len(sent[0]) > MAX_CSRF:
        return False
    return hmac.compare_digest(sent[0].encode(), cookie.encode())


def _failure(pages: Pages, lang: Language, exc: Exception) -> Response:
    status, key = next(v for t, v in FAILURES.items() if isinstance(exc, t))
    if isinstance(exc, AnswerConflict):
        return pages.message(lang, status, key, reason=str(exc))
    return pages.message(lang, status, key)
