"""notifier's composition root: the only place that builds real adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager
from datetime import UTC, datetime

import asyncpg
import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from services.notifier import api, consumers, domain
from services.notifier.adapters import metrics
from services.notifier.adapters.answer_links import link_maker
from services.notifier.adapters.mailer import Mailer, SmtpConfig, Templates
from services.notifier.adapters.ssrf import SsrfGuard
from services.notifier.adapters.webhook import WebhookSender, webhook_client
from services.notifier.handlers.contacts import configure_secretariat
from services.notifier.handlers.delivery import Channels, DeliveryRules, OutcomeRecorder
from services.notifier.migrations import MIGRATIONS
from services.notifier.repositories.deliveries import DUE_CHANNEL
from services.notifier.settings import NotifierSettings
from services.notifier.unit_of_work import NotifierUnits, pg_units
from services.notifier.workers import Workers, finish_recording, run_worker
from shared import api_gate, http_errors, telemetry
from shared.asyncapi import asyncapi_router, declare_emitted
from shared.consuming import Fetching
from shared.doorbell import Doorbell
from shared.events import NotificationDelivered, NotificationFailed
from shared.kafka import DeadLetters, make_broker, visible_topics
from shared.probes import probe_router
from shared.runtime import Runtime, run_http, service_runtime

SERVICE = "notifier"


def now() -> datetime:
    return datetime.now(UTC)


def mailer(settings: NotifierSettings) -> Mailer:
    config = SmtpConfig(
        host=settings.notifier_smtp_host,
        port=settings.notifier_smtp_port,
        sender=settings.notifier_smtp_from,
        timeout=settings.notifier_smtp_timeout_seconds,
        username=settings.notifier_smtp_username,
        password=settings.notifier_smtp_password,
        start_tls=settings.notifier_smtp_starttls,
        connections=settings.notifier_smtp_connections,
    )
    links = link_maker(settings.public_url, settings.answer_link_secret.get_secret_value())
    return Mailer(config, Templates(links=links))


def channels(
    settings: NotifierSettings, client: httpx.AsyncClient, guard: SsrfGuard, email: Mailer
) -> Channels:
    return Channels(
        webhooks=WebhookSender(client, guard, settings.notifier_timeout_seconds),
        email=email,
    )


def delivery_rules(settings: NotifierSettings) -> DeliveryRules:
    return DeliveryRules(
        policy=domain.RetryPolicy(
            schedule=settings.notifier_retry_schedule,
            overload_penalty=settings.notifier_overload_penalty_seconds,
            max_retry_after=settings.notifier_max_retry_after_seconds,
        ),
        lease_seconds=settings.notifier_lease_seconds,
        max_in_flight_per_endpoint=settings.notifier_max_in_flight_per_endpoint,
        batch=settings.notifier_delivery_batch,
        disable_after_days=settings.notifier_disable_after_days,
    )


async def configured_secretariat(units: NotifierUnits, email: str | None) -> None:
    if email:
        async with units() as uow:
            await configure_secretariat(uow, email)


def start_workers(
    runtime: Runtime, units: NotifierUnits, settings: NotifierSettings, sending: Channels
) -> Workers:
    rules = delivery_rules(settings)
    due = Doorbell(DUE_CHANNEL)
    # Its own connection, not one of the pool's: it is held for as long as the process runs.
    runtime.spawn(due.listen(lambda: asyncpg.connect(settings.database_url)), "deliveries-due")
    workers = Workers(due)
    # One for the process: outcomes of every worker's sends share its transactions.
    recorder = OutcomeRecorder(units, rules, now)
    runtime.spawn(finish_recording(recorder), "delivery-outcomes")
    for n in range(settings.notifier_workers):
        worker = run_worker(
            units,
            sending,
            rules,
            now,
            due=due,
            poll_seconds=settings.notifier_poll_seconds,
            recorder=recorder,
            stopping=workers.stopping,
        )
        workers.tasks.append(runtime.spawn(worker, f"delivery-{n}"))
    return workers


def create_app(settings: NotifierSettings) -> FastAPI:
    broker = make_broker(
        settings.kafka,
        service=SERVICE,
        registry=REGISTRY,
        discovery_ms=settings.kafka_tenant_discovery_ms,
    )
    declare_emitted(broker, [NotificationDelivered, NotificationFailed])

    def wire(runtime: Runtime) -> None:
        consumers.subscribe(
            broker,
            pg_units(runtime.pool),
            DeadLetters(broker, SERVICE),
            fetching=Fetching.gathering(settings.kafka_fetch_wait_ms),
        )

    async def topic_writable(topic: str) -> bool:
        # The broker lists only topics this principal has an ACL for: a tenant's grant adds
        # notifier's WRITE on that partner's topic.
        return topic in await visible_topics(settings.kafka)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        guard = SsrfGuard(settings.notifier_allow_subnets)
        client = webhook_client(
            guard,
            timeout=settings.notifier_timeout_seconds,
            max_connections=settings.notifier_workers * settings.notifier_delivery_batch,
        )
        # Left in reverse: the runtime stops the delivery workers first, then the mailer QUITs the
        # SMTP connections they leave open.
        async with (
            client,
            aclosing(mailer(settings)) as email,
            service_runtime(
                service=SERVICE,
                settings=settings,
                broker=broker,
                migrations=MIGRATIONS,
                wire=wire,
                on_relayed=metrics.mirrors_relayed,
            ) as runtime,
        ):
            units = pg_units(runtime.pool)
            await configured_secretariat(units, settings.notifier_secretariat_email)
            workers = start_workers(
                runtime, units, settings, channels(settings, client, guard, email)
            )
            app.state.notifier = api.ApiDeps(
                units=units,
                guard=guard,
                topic_writable=topic_writable,
                clock=now,
                secret_overlap_seconds=settings.notifier_secret_overlap_seconds,
                quotas=domain.Quotas(
                    endpoints=settings.notifier_max_endpoints_per_partner,
                    contacts=settings.notifier_max_contacts_per_partner,
                ),
            )
            app.state.checks = runtime.checks()
            app.state.authenticator = runtime.authenticator
            yield
            # Stopping: sends under way finish (and are recorded) before the runtime cancels
            # what is left and the mailer QUITs the connections they leave idle.
            await workers.finish()

    app = FastAPI(
        title="STAX notifier",
        version="0.2.0",
        lifespan=lifespan,
        description="Tells partners and Parties: signed webhooks, e-mail, partner topics.",
    )
    app.include_router(api.subscriptions_router())
    app.include_router(api.deliveries_router())
    app.include_router(probe_router(REGISTRY))
    app.include_router(asyncapi_router(broker, title=app.title, version=app.version))
    http_errors.install(app)
    api_gate.install(
        app, max_body_bytes=settings.notifier_max_body_bytes, rate_limit=settings.rate_limit
    )
    telemetry.instrument_app(app)
    return app


def main() -> None:
    settings = NotifierSettings()
    telemetry.setup(SERVICE)  # before the app and its broker are built: they are instrumented
    run_http(lambda: create_app(settings), settings, service=SERVICE, port=settings.notifier_port)
