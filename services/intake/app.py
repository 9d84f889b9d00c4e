"""intake's composition root: the only place that builds real adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import httpx
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import REGISTRY, CollectorRegistry

from services.intake import api, consumers, workers
from services.intake.adapters.dead_letters import KafkaDeadLetterTopic
from services.intake.adapters.reference_data import load_reference
from services.intake.adapters.service_apis import ServiceApis
from services.intake.domain.model import Clock
from services.intake.handlers.answers import OfferWait
from services.intake.migrations import MIGRATIONS
from services.intake.pages import answer_links, console, portal, sign_in
from services.intake.pages.guard import Guard
from services.intake.pages.rendering import STATIC, Pages
from services.intake.pages.sessions import Area, Sessions
from services.intake.repositories import OFFERS_CHANNEL
from services.intake.settings import IntakeSettings
from services.intake.unit_of_work import pg_units
from shared import api_gate, telemetry
from shared import http_errors as shared_http_errors
from shared.asyncapi import asyncapi_router, declare_emitted
from shared.consuming import Fetching
from shared.doorbell import Arrivals
from shared.events import (
    AssignmentResponse,
    PortalSignInRequested,
    RequestAccepted,
    RequestClosing,
    RequestErased,
    RequestRejected,
)
from shared.http_limits import RateLimit
from shared.kafka import DeadLetters, make_broker
from shared.probes import probe_router
from shared.runtime import Runtime, run_http, service_runtime

SERVICE = "intake"
# Answers waiting for their offer, at most, in one process and for one partner: beyond, an
# unknown assignment is a 404 at once (each waiter holds a request open, and a partner can name
# assignments at will; the second bound keeps one partner from crowding out the others).
MAX_WAITING_ANSWERS = 256
MAX_WAITING_ANSWERS_PER_PARTNER = 32
DESCRIPTION = """Front door of STAX: technical-assistance requests in, partner answers in.

Every route needs an API key (`stax keys create`), sent as `Authorization: Bearer stax_…` or
`X-API-Key: stax_…`: role `submitter` to submit and follow requests, `partner` to answer offers,
`operator` to read any request. Every 4xx answer is `{"errors": [{field, code, message}]}`,
listing every reason at once (for 422, every bad field).
"""


def create_app(settings: IntakeSettings, registry: CollectorRegistry = REGISTRY) -> FastAPI:
    broker = make_broker(
        settings.kafka,
        service=SERVICE,
        registry=registry,
        discovery_ms=settings.kafka_tenant_discovery_ms,
    )
    declare_emitted(
        broker,
        [RequestAccepted, RequestRejected, RequestErased, RequestClosing, AssignmentResponse],
    )
    declare_emitted(broker, [PortalSignInRequested])  # to notifier, from pages/sign_in.py
    reference = load_reference()  # a bad data file stops intake here, before it serves anyone
    secret = settings.answer_link_secret.get_secret_value()
    sessions = Sessions(secret, https=settings.public_url.startswith("https://"))
    # The console's calls to matcher and notifier: one pool of connections, bounded in time.
    http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0))

    def clock() -> datetime:
        return datetime.now(UTC)

    # Answers to offers intake has not read yet wait for them (handlers.answers.once_offered).
    offers = Arrivals(
        OFFERS_CHANNEL,
        capacity=MAX_WAITING_ANSWERS,
        per_owner=MAX_WAITING_ANSWERS_PER_PARTNER,
    )
    offer_wait = OfferWait(offers, settings.intake_offer_wait_ms / 1000)

    def wire(runtime: Runtime) -> None:
        # Its own connection, not one of the pool's: it is held for as long as the process runs.
        listening = offers.listen(lambda: asyncpg.connect(settings.database_url))
        runtime.spawn(listening, "intake-offers-recorded")
        units = pg_units(runtime.pool)
        consumers.subscribe(
            broker,
            units,
            DeadLetters(broker, SERVICE),
            reference=reference,
            clock=clock,
            fetching=Fetching.gathering(settings.kafka_fetch_wait_ms),
            timeline_fetching=Fetching.gathering(settings.intake_timeline_fetch_wait_ms),
        )
        every = settings.retention_poll_seconds
        runtime.spawn(workers.prune_used_links(units, clock, every), "intake-used-links")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            service=SERVICE,
            settings=settings,
            broker=broker,
            migrations=MIGRATIONS,
            wire=wire,
        ) as runtime:
            app.state.units = pg_units(runtime.pool)
            app.state.checks = runtime.checks()
            app.state.authenticator = runtime.authenticator
            sessions.bind(runtime.authenticator)
            async with http, KafkaDeadLetterTopic(settings.kafka) as dead_letters:
                app.state.dead_letters = dead_letters  # connects on first use
                yield

    app = FastAPI(title="STAX intake", version="0.2.0", lifespan=lifespan, description=DESCRIPTION)
    shared_http_errors.install(app)
    app.include_router(api.router(reference=reference, clock=clock, offer_wait=offer_wait))
    _include_pages(app, settings, clock=clock, sessions=sessions, http=http, offer_wait=offer_wait)
    app.include_router(probe_router(registry))
    app.include_router(asyncapi_router(broker, title=app.title, version=app.version))
    api_gate.install(
        app, max_body_bytes=settings.intake_max_body_bytes, rate_limit=settings.rate_limit
    )
    telemetry.instrument_app(app)
    return app


def _include_pages(
    app: FastAPI,
    settings: IntakeSettings,
    *,
    clock: Clock,
    sessions: Sessions,
    http: httpx.AsyncClient,
    offer_wait: OfferWait,
) -> None:
    """The pages people use: answer links, sign-in, the partner portal, the operator console."""
    pages, rate_limit = Pages(), RateLimit(settings.rate_limit)
    secret = settings.answer_link_secret.get_secret_value()
    app.include_router(
        answer_links.router(
            secret=secret, clock=clock, rate_limit=rate_limit, pages=pages, offer_wait=offer_wait
        )
    )
    app.include_router(
        sign_in.router(
            sessions=sessions, pages=pages, rate_limit=rate_limit, secret=secret, clock=clock
        )
    )

    def guard(area: Area) -> Guard:
        return Guard(area, sessions=sessions, pages=pages, rate_limit=rate_limit)

    app.include_router(portal.router(guard=guard("portal"), clock=clock))
    apis = ServiceApis(http, matcher_url=settings.matcher_url, notifier_url=settings.notifier_url)
    app.include_router(console.router(guard=guard("console"), clock=clock, apis=apis))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def main() -> None:
    settings = IntakeSettings()
    telemetry.setup(SERVICE)  # before the app and its broker are built: they are instrumented
    run_http(lambda: create_app(settings), settings, service=SERVICE, port=settings.intake_port)
