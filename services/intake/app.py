"""intake's composition root: the only place that builds real adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.intake import api, handlers
from services.intake.reference import load_reference
from services.intake.settings import IntakeSettings
from shared.asyncapi import asyncapi_router, declare_emitted
from shared.events import AssignmentResponse, RequestAccepted, RequestRejected
from shared.kafka import make_broker
from shared.probes import probe_router
from shared.runtime import run_http, service_runtime

SERVICE = "intake"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings) -> FastAPI:
    broker = make_broker(settings.kafka_bootstrap_servers, service=SERVICE, registry=REGISTRY)
    declare_emitted(broker, [RequestAccepted, RequestRejected, AssignmentResponse])
    reference = load_reference()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            service=SERVICE,
            schema="intake",
            settings=settings,
            broker=broker,
            migrations_dir=MIGRATIONS,
            wire=lambda _rt: None,
        ) as runtime:
            app.state.deps = handlers.IntakeDeps(
                pool=runtime.pool,
                outbox=runtime.outbox,
                reference=reference,
                clock=lambda: datetime.now(UTC),
            )
            app.state.checks = runtime.checks()
            app.state.authenticator = runtime.authenticator
            yield

    app = FastAPI(
        title="STAX intake",
        version="0.1.0",
        lifespan=lifespan,
        description="Front door of STAX: technical-assistance requests in.",
    )
    app.include_router(api.router())
    app.include_router(probe_router(REGISTRY))
    app.include_router(asyncapi_router(broker, title=app.title, version=app.version))
    return app


def main() -> None:
    settings = IntakeSettings()
    run_http(create_app(settings), settings, port=settings.intake_port)
