"""Signing in to the portal (a partner key, or a link e-mailed to a partner contact) or the
console (an operator key), and out.

The sign-in forms have no session yet, so their CSRF token is a double-submit cookie (as on the
answer pages): a page of another site cannot sign a browser in with the attacker's key ("login
CSRF") without reading that cookie. Every attempt spends the client address's budget."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from services.intake.domain.errors import LinkUsed
from services.intake.domain.model import Clock
from services.intake.handlers import sign_in_links as handlers
from services.intake.pages.forms import Units, busy, language, read_form
from services.intake.pages.rendering import Pages
from services.intake.pages.sessions import (
    CSRF_FIELD,
    MAX_CSRF,
    ROLE_OF,
    Area,
    Sessions,
    csrf_holds,
)
from shared import sign_in_links
from shared.http_limits import RateLimit
from shared.sign_in_links import BadLink, ExpiredLink

SIGN_IN_COOKIE = "stax_sign_in"
AREAS: tuple[Area, ...] = ("portal", "console")
MAX_EMAIL = 254  # RFC 5321's longest path


class SignIn:
    def __init__(
        self, *, sessions: Sessions, pages: Pages, rate_limit: RateLimit, secret: str
    ) -> None:
        self.sessions = sessions
        self.pages = pages
        self.rate_limit = rate_limit
        self.secret = secret

    def form(self, request: Request, area: Area, *, status: int, said: str = "") -> Response:
        """The sign-in page, with a fresh double-submit token in its forms and a cookie."""
        lang = language(request)
        csrf = secrets.token_urlsafe(32)
        page = self.pages.page(
            "sign_in.html.j2",
            lang,
            status,
            self.pages.text(lang, f"{area}.sign_in"),
            area=area,
            csrf=csrf,
            said=said,
            by_link=bool(self.secret) and area == "portal",
        )
        _set_csrf_cookie(page, request, csrf, area, secure=self.sessions.secure(request))
        return page

    async def checked_form(self, request: Request, max_fields: int) -> dict[str, str] | Response:
        """A sign-in form's fields, or the page refusing it (off, too many tries, bad token)."""
        lang = language(request)
        if not self.sessions.enabled:
            return self.pages.message(lang, 404, "signin_off")
        if (refusal := busy(self.pages, self.rate_limit, request, "sign-in")) is not None:
            return refusal
        fields = await read_form(request, max_fields)
        if fields is None or not _double_submitted(request, fields.get(CSRF_FIELD)):
            return self.pages.message(lang, 403, "csrf")
        return fields


def router(
    *, sessions: Sessions, pages: Pages, rate_limit: RateLimit, secret: str, clock: Clock
) -> APIRouter:
    route = APIRouter(include_in_schema=False)
    door = SignIn(sessions=sessions, pages=pages, rate_limit=rate_limit, secret=secret)
    for area in AREAS:
        _install_key(route, area, door)
    _install_links(route, door, clock)
    return route


def _install_key(route: APIRouter, area: Area, door: SignIn) -> None:
    @route.get(f"/{area}/sign-in")
    async def form(request: Request) -> Response:
        if not door.sessions.enabled:
            return door.pages.message(language(request), 404, "signin_off")
        return door.form(request, area, status=200)

    @route.post(f"/{area}/sign-in")
    async def sign_in(request: Request) -> Response:
        fields = await door.checked_form(request, max_fields=4)
        if isinstance(fields, Response):
            return fields
        key = fields.get("key", "").strip()
        principal = await door.sessions.principal_of(key) if key else None
        if principal is None or principal.role != ROLE_OF[area]:
            return door.form(request, area, status=401, said="failed")
        done = RedirectResponse(f"/{area}/", status_code=303)
        door.sessions.start(done, request, key)
        done.delete_cookie(SIGN_IN_COOKIE, path=f"/{area}/")
        return done

    @route.post(f"/{area}/sign-out")
    async def sign_out(request: Request) -> Response:
        # CSRF-checked like every form: another site must not sign someone out either.
        session = await door.sessions.current(request, area)
        fields = await read_form(request, max_fields=2)
        if session is not None and not csrf_holds(session, request, (fields or {}).get(CSRF_FIELD)):
            return door.pages.message(language(request), 403, "csrf")
        done = RedirectResponse(f"/{area}/sign-in", status_code=303)
        Sessions.end(done)
        return done


def _install_links(route: APIRouter, door: SignIn, clock: Clock) -> None:
    @route.post("/portal/sign-in/email")
    async def ask(request: Request, units: Units) -> Response:
        fields = await door.checked_form(request, max_fields=4)
        if isinstance(fields, Response):
            return fields
        if not door.secret:
            return door.pages.message(language(request), 404, "signin_off")
        email = fields.get("email", "").strip()
        if not _email_like(email):
            return door.form(request, "portal", status=422, said="bad_email")
        async with units() as uow:
            await handlers.ask_for_link(uow, email, language(request), clock=clock)
        # The same page whether or not the address is a contact's: nothing to learn here.
        return door.form(request, "portal", status=202, said="link_sent")

    @route.get("/portal/sign-in/link/{token}")
    async def open_link(token: str, request: Request) -> Response:
        """Shows whom the link signs in, and a button: a GET changes nothing (mail scanners
        follow links, and would spend a single-use link)."""
        lang = language(request)
        if (refusal := busy(door.pages, door.rate_limit, request, "sign-in")) is not None:
            return refusal
        try:
            link = sign_in_links.verify(token, door.secret, clock())
        except (BadLink, ExpiredLink) as exc:
            return door.pages.message(lang, *_link_failure(exc))
        csrf = secrets.token_urlsafe(32)
        page = door.pages.page(
            "sign_in_link.html.j2",
            lang,
            200,
            door.pages.text(lang, "portal.sign_in"),
            partner=link.partner_id,
            csrf=csrf,
            action=request.url.path,
        )
        _set_csrf_cookie(page, request, csrf, "portal", secure=door.sessions.secure(request))
        return page

    @route.post("/portal/sign-in/link/{token}")
    async def use_link(token: str, request: Request, units: Units) -> Response:
        lang = language(request)
        fields = await door.checked_form(request, max_fields=2)
        if isinstance(fields, Response):
            return fields
        try:
            link = sign_in_links.verify(token, door.secret, clock())
            async with units() as uow:
                await handlers.use_link(uow, link, sign_in_links.digest(token), clock=clock)
        except (BadLink, ExpiredLink, LinkUsed) as exc:
            return door.pages.message(lang, *_link_failure(exc))
        done = RedirectResponse("/portal/", status_code=303)
        door.sessions.start_by_link(done, request, link.partner_id)
        done.delete_cookie(SIGN_IN_COOKIE, path="/portal/")
        return done


def _link_failure(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, ExpiredLink):
        return 410, "link_expired"
    if isinstance(exc, LinkUsed):
        return 409, "link_used"
    return 400, "bad"


def _email_like(email: str) -> bool:
    """Enough of an address to be worth a digest: anything else could match no contact."""
    local, at, domain = email.rpartition("@")
    return bool(at and local and "." in domain) and len(email) <= MAX_EMAIL and " " not in email


def _set_csrf_cookie(
    page: Response, request: Request, csrf: str, area: Area, *, secure: bool
) -> None:
    page.set_cookie(
        SIGN_IN_COOKIE,
        csrf,
        max_age=3600,
        path=f"/{area}/",
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def _double_submitted(request: Request, sent: str | None) -> bool:
    cookie = request.cookies.get(SIGN_IN_COOKIE)
    if not cookie or not sent or len(cookie) > MAX_CSRF or len(sent) > MAX_CSRF:
        return False
    return hmac.compare_digest(cookie.encode(), sent.encode())
