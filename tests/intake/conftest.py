"""intake in-process on the real Kafka and PostgreSQL, an HTTP client for it, and API keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from deploy.local import stack
from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared import auth
from tests.stack_helpers import service_kafka

MakeKey = Callable[..., Awaitable[tuple[auth.Principal, dict[str, str]]]]
# How long an answer to an offer intake has not read waits for it here (3 s by default): each
# test of an unknown assignment's 404 waits this long.
OFFER_WAIT_S = 2.0


@pytest.fixture(scope="package")
async def intake_app(infra: stack.StackSettings) -> AsyncIterator[FastAPI]:
    """One intake for these tests: its lifespan runs (pool, consumers, outbox relay). Its
    consumers heartbeat only while the tests' event loop runs, that is during async tests: kept
    for the rest of the session, they made every later start of the intake process wait for the
    group to expel them (its 10 s session timeout)."""
    settings = IntakeSettings(
        **service_kafka(infra, "intake"),
        database_url=infra.db_url,
        outbox_poll_seconds=0.2,
        intake_offer_wait_ms=round(OFFER_WAIT_S * 1000),
    )
    app = create_app(settings, registry=CollectorRegistry())
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="package")
async def client(intake_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=intake_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake") as made:
        yield made


@pytest.fixture
def make_key(pool: asyncpg.Pool, unique: str) -> MakeKey:
    """Creates a key; returns its principal and the headers that send it."""

    async def make(role: auth.Role, partner_id: str | None = None, name: str = "") -> Any:
        name = name or f"{role}-{unique}"
        async with pool.acquire() as conn:
            principal, key = await auth.create_key(
                conn,
                role=role,
                name=name,
                partner_id=partner_id,
                # A submitter key's namespace is named after it, so tests can assert on it.
                submitter_id=name if role == "submitter" else None,
            )
        return principal, {"Authorization": f"Bearer {key}"}

    return make
