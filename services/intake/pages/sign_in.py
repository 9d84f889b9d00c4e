"""Signing in to the portal (a partner key) or the console (an operator key), and out.

The sign-in form itself has no session yet, so its CSRF token is a double-submit cookie (as on
the answer pages): a page of another site cannot sign a browser in with the attacker's key
("login CSRF") without reading that cookie. Failed attempts spend the client address's budget."""

from __future__ import annotations

import hmac
import secrets

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from services.intake.pages.forms import busy, language, read_form
from services.intake.pages.rendering import Pages
from services.intake.pages.sessions import CSRF_FIELD, MAX_CSRF, ROLE_OF, Area, Sessions
from shared.http_limits import RateLimit

SIGN_IN_COOKIE = "stax_sign_in"
AREAS: tuple[Area, ...] = ("portal", "console")


def router(*, sessions: Sessions, pages: Pages, rate_limit: RateLimit) -> APIRouter:
    route = APIRouter(include_in_schema=False)
    for area in AREAS:
        _install(route, area, sessions, pages, rate_limit)
    return route


def _install(
    route: APIRouter, area: Area, sessions: Sessions, pages: Pages, rate_limit: RateLimit
) -> None:
    @route.get(f"/{area}/sign-in", name=f"{area}_sign_in")
    async def form(request: Request) -> Response:
        if not sessions.enabled:
            return pages.message(language(request), 404, "signin_off")
        return _form(pages, request, area, status=200, failed=False)

    @route.post(f"/{area}/sign-in")
    async def sign_in(request: Request) -> Response:
        lang = language(request)
        if not sessions.enabled:
            return pages.message(lang, 404, "signin_off")
        if (refusal := busy(pages, rate_limit, request, "sign-in")) is not None:
            return refusal
        fields = await read_form(request, max_fields=4)
        if fields is None or not _double_submitted(request, fields.get(CSRF_FIELD)):
            return pages.message(lang, 403, "csrf")
        key = fields.get("key", "").strip()
        principal = await sessions.principal_of(key) if key else None
        if principal is None or principal.role != ROLE_OF[area]:
            return _form(pages, request, area, status=401, failed=True)
        done = RedirectResponse(f"/{area}/", status_code=303)
        sessions.start(done, request, key)
        done.delete_cookie(SIGN_IN_COOKIE, path=f"/{area}/")
        return done

    @route.post(f"/{area}/sign-out")
    async def sign_out(request: Request) -> Response:
        # No CSRF check: the worst another site can do is sign someone out.
        done = RedirectResponse(f"/{area}/sign-in", status_code=303)
        Sessions.end(done)
        return done


def _form(pages: Pages, request: Request, area: Area, *, status: int, failed: bool) -> Response:
    lang = language(request)
    csrf = secrets.token_urlsafe(32)
    page = pages.page(
        "sign_in.html.j2",
        lang,
        status,
        pages.text(lang, f"{area}.sign_in"),
        area=area,
        csrf=csrf,
        failed=failed,
    )
    page.set_cookie(
        SIGN_IN_COOKIE,
        csrf,
        max_age=3600,
        path=f"/{area}/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return page


def _double_submitted(request: Request, sent: str | None) -> bool:
    cookie = request.cookies.get(SIGN_IN_COOKIE)
    if not cookie or not sent or len(cookie) > MAX_CSRF or len(sent) > MAX_CSRF:
        return False
    return hmac.compare_digest(cookie.encode(), sent.encode())
