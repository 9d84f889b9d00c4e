"""matcher's composition root: the only place that builds real adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.matcher import consumers, handlers
from services.matcher.settings import MatcherSettings
from shared.asyncapi import asyncapi_router, declare_emitted
from shared.events import (
    AssignmentAccepted,
    AssignmentDeclined,
    AssignmentExpired,
    AssignmentOffered,
    RequestMatched,
    RequestUnmatched,
)
from shared.kafka import make_broker
from shared.probes import probe_router
from shared.runtime import Runtime, run_http, service_runtime

SERVICE = "matcher"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: MatcherSettings) -> FastAPI:
    broker = make_broker(settings.kafka_bootstrap_servers, service=SERVICE, registry=REGISTRY)
    declare_emitted(
        broker,
        [
            AssignmentOffered,
            AssignmentAccepted,
            AssignmentDeclined,
            AssignmentExpired,
            RequestMatched,
            RequestUnmatched,
        ],
    )

    def wire(runtime: Runtime) -> None:
        deps = handlers.MatcherDeps(
            outbox=runtime.outbox,
            clock=lambda: datetime.now(UTC),
            respond_within=timedelta(days=settings.matcher_respond_days),
        )
        consumers.subscribe(broker, runtime, deps)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            service=SERVICE,
            schema=SERVICE,
            settings=settings,
            broker=broker,
            migrations_dir=MIGRATIONS,
            wire=wire,
        ) as runtime:
            app.state.checks = runtime.checks()
            app.state.authenticator = runtime.authenticator
            yield

    app = FastAPI(
        title="STAX matcher",
        version="0.1.0",
        lifespan=lifespan,
        description="Scores partners and offers them the work.",
    )
    app.include_router(probe_router(REGISTRY))
    app.include_router(asyncapi_router(broker, title=app.title, version=app.version))
    return app


def main() -> None:
    settings = MatcherSettings()
    run_http(create_app(settings), settings, port=settings.matcher_port)
