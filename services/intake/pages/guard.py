"""The door of every signed-in page (portal and console): the session or the sign-in page; for
a form, also the rate limit and the CSRF token; and the page in the reader's language."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.responses import RedirectResponse, Response

from services.intake.pages.forms import busy, language, read_form
from services.intake.pages.rendering import Pages
from services.intake.pages.sessions import CSRF_FIELD, Area, Session, Sessions, csrf_holds
from shared.http_limits import RateLimit


class Guard:
    def __init__(
        self, area: Area, *, sessions: Sessions, pages: Pages, rate_limit: RateLimit
    ) -> None:
        self.area = area
        self.pages = pages
        self._sessions = sessions
        self._rate_limit = rate_limit

    async def session(self, request: Request) -> Session | Response:
        """The signed-in person, or the redirect to the area's sign-in page."""
        session = await self._sessions.current(request, self.area)
        return session or RedirectResponse(f"/{self.area}/sign-in", status_code=303)

    async def form(
        self, request: Request, max_fields: int
    ) -> tuple[Session, dict[str, str]] | Response:
        """The session and form of a state-changing request, or the page refusing it."""
        session = await self.session(request)
        if isinstance(session, Response):
            return session
        if (refusal := busy(self.pages, self._rate_limit, request, self.area)) is not None:
            return refusal
        fields = await read_form(request, max_fields)
        if fields is None or not csrf_holds(session, request, fields.get(CSRF_FIELD)):
            return self.pages.message(language(request), 403, "csrf")
        return session, fields

    def show(
        self, request: Request, session: Session, template: str, title: str, **context: Any
    ) -> Response:
        lang = language(request)
        return self.pages.page(
            template,
            lang,
            200,
            self.pages.text(lang, title),
            session=session,
            area=self.area,
            said=request.query_params.get("said", "")[:20],
            **context,
        )

    def say(self, request: Request, status: int, key: str, **fill: str) -> Response:
        return self.pages.message(language(request), status, key, **fill)
