"""The operator console (`/console/`): requests by status with their time to a first offer, a
request's timeline, waiting and unmatched requests (intake's own data); the partner registry and
the deliveries (matcher's and notifier's APIs, called with the operator's own key)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from services.intake.adapters.service_apis import Answer, ServiceApis, UnreachableError
from services.intake.domain import console
from services.intake.domain import dead_letters as rules
from services.intake.domain.errors import (
    DeadLettersUnavailable,
    NotReplayable,
    UnknownDeadLetter,
    UnknownRequest,
)
from services.intake.domain.model import Clock, RequestStatus
from services.intake.handlers import console as handlers
from services.intake.handlers import dead_letters as letters
from services.intake.handlers import views
from services.intake.pages.forms import DeadLetters, Units
from services.intake.pages.guard import Guard

Days = Annotated[int, Query(ge=1, le=366)]
DELIVERY_STATUSES = ("pending", "delivered", "failed")
MAX_TOPICS = 40
LETTERS_LISTED = 50
PREVIEW_CHARS = 300


def router(*, guard: Guard, clock: Clock, apis: ServiceApis) -> APIRouter:
    route = APIRouter(include_in_schema=False)
    _install_requests(route, guard, clock)
    _install_partners(route, guard, apis)
    _install_deliveries(route, guard, apis)
    _install_dead_letters(route, guard, clock)
    return route


def _install_requests(route: APIRouter, guard: Guard, clock: Clock) -> None:
    @route.get("/console/")
    async def home(request: Request, units: Units, days: Days = 7) -> Response:
        session = await guard.session(request)
        if isinstance(session, Response):
            return session
        async with units() as uow:
            summary = await handlers.overview(uow, console.window_start(clock(), days))
        bars = summary.first_offer
        chart = {"labels": [b for b, _ in bars], "counts": [n for _, n in bars]}
        return guard.show(
            request,
            session,
            "console_home.html.j2",
            "console.title",
            overview=summary,
            days=days,
            chart=chart,
        )

    @route.get("/console/requests")
    async def listing(
        request: Request, units: Units, status: RequestStatus | None = None, days: Days = 30
    ) -> Response:
        session = await guard.session(request)
        if isinstance(session, Response):
            return session
        async with units() as uow:
            found = await handlers.requests(uow, console.window_start(clock(), days), status)
        return guard.show(
            request,
            session,
            "console_requests.html.j2",
            "console.requests",
            requests=found,
            status=status or "",
            statuses=console.STATUSES,
            days=days,
        )

    @route.get("/console/requests/{request_id}")
    async def timeline(request: Request, request_id: UUID, units: Units) -> Response:
        session = await guard.session(request)
        if isinstance(session, Response):
            return session
        try:
            async with units() as uow:
                found = await views.request_view(uow, request_id, only_of=None)
        except UnknownRequest:
            return guard.say(request, 404, "no_request")
        return guard.show(
            request, session, "console_timeline.html.j2", "console.timeline", found=found
        )


def _install_partners(route: APIRouter, guard: Guard, apis: ServiceApis) -> None:
    @route.get("/console/partners")
    async def partners(request: Request) -> Response:
        session = await guard.session(request)
        if isinstance(session, Response):
            return session
        answer = await _called(guard, request, lambda: apis.partners(session.operator_key))
        if isinstance(answer, Response):
            return answer
        body = answer.body if isinstance(answer.body, dict) else {}
        listed = body.get("partners", [])  # matcher answers {"partners": [...]}
        return guard.show(
            request, session, "console_partners.html.j2", "console.partners", partners=listed
        )

    @route.post("/console/partners/{partner_id}")
    async def edit_partner(request: Request, partner_id: str) -> Response:
        got = await guard.form(request, max_fields=6)
        if isinstance(got, Response):
            return got
        session, fields = got
        patch = _partner_patch(fields)
        if isinstance(patch, str):
            return guard.say(request, 422, "refused", reason=patch)
        answer = await _called(
            guard, request, lambda: apis.edit_partner(session.operator_key, partner_id, patch)
        )
        if isinstance(answer, Response):
            return answer
        return RedirectResponse("/console/partners?said=saved", status_code=303)


def _install_deliveries(route: APIRouter, guard: Guard, apis: ServiceApis) -> None:
    @route.get("/console/deliveries")
    async def deliveries(request: Request, status: str | None = None) -> Response:
        session = await guard.session(request)
        if isinstance(session, Response):
            return session
        chosen = status if status in DELIVERY_STATUSES else None
        answer = await _called(
            guard, request, lambda: apis.deliveries(session.operator_key, chosen)
        )
        if isinstance(answer, Response):
            return answer
        return guard.show(
            request,
            session,
            "console_deliveries.html.j2",
            "console.deliveries",
            deliveries=answer.body if isinstance(answer.body, list) else [],
            status=chosen or "",
            statuses=DELIVERY_STATUSES,
        )

    @route.post("/console/deliveries/{delivery_id}/resend")
    async def resend(request: Request, delivery_id: UUID) -> Response:
        got = await guard.form(request, max_fields=2)
        if isinstance(got, Response):
            return got
        session, _ = got
        answer = await _called(
            guard, request, lambda: apis.resend(session.operator_key, delivery_id)
        )
        if isinstance(answer, Response):
            return answer
        return RedirectResponse("/console/deliveries?said=resent", status_code=303)


async def _called(
    guard: Guard, request: Request, call: Callable[[], Awaitable[Answer]]
) -> Answer | Response:
    """The service's answer if it is a success, else the page saying why (its reasons, or that
    it did not answer)."""
    try:
        answer = await call()
    except UnreachableError as exc:
        return guard.say(request, 502, "unreachable", reason=str(exc))
    if not answer.ok:
        status = answer.status if 400 <= answer.status < 500 else 502
        return guard.say(request, status, "refused", reason=answer.reasons())
    return answer


def _partner_patch(fields: dict[str, str]) -> dict[str, Any] | str:
    """The registry edit a form asks for (capacity, topics, active), or why it is none; the
    matcher checks the values again (codes, bounds) and its refusal is shown as it says it."""
    try:
        capacity = int(fields.get("capacity", ""))
    except ValueError:
        return "capacity: a whole number is needed"
    topics = [t.strip() for t in fields.get("topics", "").split(",") if t.strip()]
    if not topics or len(topics) > MAX_TOPICS:
        return f"topics: between 1 and {MAX_TOPICS} codes, separated by commas"
    return {"capacity": capacity, "topics": topics, "active": fields.get("active") == "on"}


def _install_dead_letters(route: APIRouter, guard: Guard, clock: Clock) -> None:
    @route.get("/console/dead-letters")
    async def dead_letters(
        request: Request,
        units: Units,
        topic: DeadLetters,
        before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    ) -> Response:
        session = await guard.session(request)
        if isinstance(session, Response):
            return session
        try:
            page, older = await letters.newest(topic, units, before=before, limit=LETTERS_LISTED)
        except DeadLettersUnavailable:
            return guard.say(request, 503, "unreachable", reason="Kafka did not answer in time")
        shown = [(i, rules.origin(i.letter), rules.preview(i.letter)[:PREVIEW_CHARS]) for i in page]
        return guard.show(
            request,
            session,
            "console_dead_letters.html.j2",
            "console.dead_letters",
            letters=shown,
            older=older,
        )

    @route.post("/console/dead-letters/{offset}/replay")
    async def replay(request: Request, offset: int, units: Units, topic: DeadLetters) -> Response:
        got = await guard.form(request, max_fields=2)
        if isinstance(got, Response):
            return got
        session, _ = got
        try:
            await letters.replay(topic, units, offset, by=session.principal.key_id, clock=clock)
        except UnknownDeadLetter:
            return guard.say(request, 404, "refused", reason=f"no dead letter at offset {offset}")
        except NotReplayable as exc:
            return guard.say(request, 409, "refused", reason=exc.refusal.message)
        except DeadLettersUnavailable:
            return guard.say(request, 503, "unreachable", reason="Kafka did not answer in time")
        return RedirectResponse(f"/console/dead-letters?said=replayed#d-{offset}", status_code=303)
