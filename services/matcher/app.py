"""matcher's composition root: the only place that builds real adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial

from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.matcher import api, consumers, workers
from services.matcher.domain import MatchPolicy
from services.matcher.handlers.catalog import Catalog
from services.matcher.handlers.saga import Matching
from services.matcher.migrations import MIGRATIONS
from services.matcher.settings import MatcherSettings
from services.matcher.unit_of_work import PgMatcherUnitOfWork, pg_units
from shared import api_gate, http_errors, telemetry
from shared.asyncapi import asyncapi_router, declare_emitted
from shared.consuming import Fetching
from shared.events import (
    AssignmentAccepted,
    AssignmentCompleted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    AssignmentStarted,
    AssignmentWithdrawn,
    RequestClosed,
    RequestCompleted,
    RequestMatched,
    RequestUnmatched,
    RequestWaiting,
)
from shared.kafka import DeadLetters, make_broker
from shared.probes import probe_router
from shared.runtime import Runtime, run_http, service_runtime
from shared.sampling import SAMPLE_SECONDS, sample_every

SERVICE = "matcher"


def create_app(settings: MatcherSettings) -> FastAPI:
    broker = make_broker(
        settings.kafka,
        service=SERVICE,
        registry=REGISTRY,
        discovery_ms=settings.kafka_tenant_discovery_ms,
    )
    declare_emitted(
        broker,
        [
            AssignmentOffered,
            AssignmentAccepted,
            AssignmentDeclined,
            AssignmentExpired,
            AssignmentStarted,
            AssignmentCompleted,
            AssignmentWithdrawn,
            RequestMatched,
            RequestUnmatched,
            RequestWaiting,
            RequestCompleted,
            RequestClosed,
        ],
    )

    catalog = Catalog.from_data_files()  # a bad data file stops the start, loudly

    def clock() -> datetime:
        return datetime.now(UTC)

    matching = Matching(
        catalog=catalog,
        policy=MatchPolicy(
            max_offers=settings.matcher_max_offers, min_offers=settings.matcher_min_offers
        ),
        clock=clock,
        respond_within=settings.respond_within,
        max_wait=settings.max_wait,
    )

    def wire(runtime: Runtime) -> None:
        units = pg_units(runtime.pool)
        consumers.subscribe(
            broker,
            units,
            DeadLetters(broker, SERVICE),
            matching=matching,
            fetching=Fetching.gathering(settings.kafka_fetch_wait_ms),
        )
        runtime.spawn(
            workers.run_timers(
                units, matching=matching, poll_seconds=settings.matcher_expiry_poll_seconds
            ),
            f"{SERVICE}-timers",
        )
        waiting = partial(workers.sample_waiting, units)
        runtime.spawn(
            sample_every(SAMPLE_SECONDS, waiting, "waiting requests"), f"{SERVICE}-waiting-gauge"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            service=SERVICE,
            settings=settings,
            broker=broker,
            migrations=MIGRATIONS,
            wire=wire,
        ) as runtime:
            async with PgMatcherUnitOfWork(runtime.pool) as uow:
                await catalog.ensure_seeded(uow.partners)  # the registry, seeded on first start
            app.state.checks = runtime.checks()
            app.state.authenticator = runtime.authenticator
            app.state.units = pg_units(runtime.pool)
            app.state.catalog = catalog
            app.state.matching = matching
            yield

    app = FastAPI(
        title="STAX matcher",
        version="0.1.0",
        lifespan=lifespan,
        description="Scores partners, offers them the work, follows their answers.",
    )
    http_errors.install(app)
    api.install(app)
    app.include_router(probe_router(REGISTRY))
    app.include_router(asyncapi_router(broker, title=app.title, version=app.version))
    api_gate.install(
        app, max_body_bytes=settings.matcher_max_body_bytes, rate_limit=settings.rate_limit
    )
    telemetry.instrument_app(app)
    return app


def main() -> None:
    settings = MatcherSettings()
    telemetry.setup(SERVICE)  # before the app and its broker are built: they are instrumented
    run_http(lambda: create_app(settings), settings, service=SERVICE, port=settings.matcher_port)
