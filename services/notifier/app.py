"""notifier's composition root: the only place that builds real adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.notifier import api, consumers, handlers
from services.notifier.sender import WebhookSender
from services.notifier.settings import NotifierSettings
from services.notifier.worker import run_worker
from shared.asyncapi import asyncapi_router, declare_emitted
from shared.events import NotificationDelivered, NotificationFailed
from shared.kafka import make_broker
from shared.probes import probe_router
from shared.runtime import Runtime, run_http, service_runtime

SERVICE = "notifier"
MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: NotifierSettings) -> FastAPI:
    broker = make_broker(settings.kafka_bootstrap_servers, service=SERVICE, registry=REGISTRY)
    declare_emitted(broker, [NotificationDelivered, NotificationFailed])

    def wire(runtime: Runtime) -> None:
        consumers.subscribe(broker, runtime)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        timeout = httpx.Timeout(settings.notifier_timeout_seconds)
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client,
            service_runtime(
                service=SERVICE,
                schema=SERVICE,
                settings=settings,
                broker=broker,
                migrations_dir=MIGRATIONS,
                wire=wire,
            ) as runtime,
        ):
            deps = handlers.NotifierDeps(
                pool=runtime.pool,
                outbox=runtime.outbox,
                sender=WebhookSender(client),
                clock=lambda: datetime.now(UTC),
                schedule=settings.notifier_retry_schedule,
            )
            for n in range(settings.notifier_workers):
                runtime.spawn(run_worker(deps, settings.notifier_poll_seconds), f"delivery-{n}")
            app.state.deps = deps
            app.state.checks = runtime.checks()
            app.state.authenticator = runtime.authenticator
            yield

    app = FastAPI(
        title="STAX notifier",
        version="0.1.0",
        lifespan=lifespan,
        description="Tells partners and Parties: signed webhooks, e-mail, topics.",
    )
    app.include_router(api.router())
    app.include_router(probe_router(REGISTRY))
    app.include_router(asyncapi_router(broker, title=app.title, version=app.version))
    return app


def main() -> None:
    settings = NotifierSettings()
    run_http(create_app(settings), settings, port=settings.notifier_port)
