"""Test infrastructure: a real Kafka and a real PostgreSQL for the whole session.

The session always starts its own Kafka (KRaft, Maven Central jars) and embedded PostgreSQL on
test ports (`STAX_TEST_PORT_BASE`) in a temporary folder, with the benchmarks' harness
(`deploy.local.harness`): a running development stack is never disturbed, and the tests that stop
and restart the broker or the database own what they restart. `STAX_KAFKA_BOOTSTRAP_SERVERS` /
`STAX_DATABASE_URL` in the environment are deliberately ignored here.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
from faststream.kafka import KafkaBroker

from deploy.containers.fixtures import container_stack
from deploy.local import stack
from deploy.local.harness import Outages, ProcessOutages, private_stack
from shared.db import create_pool
from shared.kafka import make_broker
from shared.kafka_access import KafkaAccess
from tests.stack_helpers import Services


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fuzz tests run last. They publish garbage on the shared topics on purpose and push
    many requests through the real matcher; tests that read those topics from the start, or
    count offers, are robust to it only as far as they were written to be (a stable sort keeps
    every other order as collected)."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/fuzz/"))


BACKENDS = ("processes", "containers")


# The session's stack once it is up, for the clean-up between modules (which must not start it).
_STACK = pytest.StashKey[stack.StackSettings]()


@pytest.fixture(scope="session")
def _infrastructure(
    request: pytest.FixtureRequest,
) -> Iterator[tuple[stack.StackSettings, Outages]]:
    """Kafka + PostgreSQL up, topics created, every migration applied: as processes (Maven
    Central jars, embedded PostgreSQL), or with STAX_TEST_BACKEND=containers as containers of
    the images `make images` builds, started through testcontainers."""
    ports = int(os.environ.get("STAX_TEST_PORT_BASE", "19000"))
    backend = os.environ.get("STAX_TEST_BACKEND", "processes")
    log = lambda line: print(f"[infra] {line}")  # noqa: E731
    if backend == "containers":
        with container_stack(ports, name="stax-test", log=log) as (cfg, outages):
            request.session.stash[_STACK] = cfg
            yield cfg, outages
    elif backend == "processes":
        with private_stack(ports, name="stax-test", log=log) as cfg:
            request.session.stash[_STACK] = cfg
            yield cfg, ProcessOutages(cfg)
    else:
        raise pytest.UsageError(f"STAX_TEST_BACKEND={backend!r}: choose one of {BACKENDS}")
    del request.session.stash[_STACK]


@pytest.fixture(scope="session")
def infra(_infrastructure: tuple[stack.StackSettings, Outages]) -> stack.StackSettings:
    return _infrastructure[0]


@pytest.fixture(scope="session")
def outages(_infrastructure: tuple[stack.StackSettings, Outages]) -> Outages:
    """Stop and start Kafka or PostgreSQL, on either backend."""
    return _infrastructure[1]


@pytest.fixture(scope="session")
def kafka(infra: stack.StackSettings) -> KafkaAccess:
    """The admin principal (a super user): tests play trusted producers and read any topic."""
    return infra.kafka_access()


@pytest.fixture
async def broker(kafka: KafkaAccess) -> AsyncIterator[KafkaBroker]:
    """A connected broker as the admin principal, for a test to publish with."""
    made = make_broker(kafka, service="test")
    await made.connect()
    yield made
    await made.stop()


@pytest.fixture(scope="session")
def database_url(infra: stack.StackSettings) -> str:
    return infra.db_url


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    made = await create_pool(database_url, max_size=10)
    yield made
    await made.close()


@pytest.fixture
async def idle_partners(pool: asyncpg.Pool) -> None:
    """Every partner with no open assignment, so a test that expects a ranking sees the one the
    registry gives, not one shaped by the offers earlier tests left open (headroom is scored).
    Tests only: it rewrites a counter the saga keeps (and the fuzz tests, which push many
    requests through the real matcher, leave partners at capacity)."""
    await pool.execute("UPDATE matcher.partners SET open_assignments = 0")


SCHEMAS = ("intake", "matcher", "notifier")


@pytest.fixture
def unique() -> str:
    """A fresh suffix, so each test makes its own ids, topics and groups."""
    return uuid.uuid4().hex[:12]


@pytest.fixture(scope="module", autouse=True)
def _no_service_outlives_its_module(request: pytest.FixtureRequest) -> Iterator[None]:
    """Service processes a module started would consume the next module's events (and a
    notifier would claim its deliveries): each module starts from none running. Nor does the
    module's unrelayed outbox outlive it (see `_forget_unrelayed`)."""
    yield
    for control in Services.live:
        control.stop_all()
    cfg = request.session.stash.get(_STACK, None)
    if cfg is not None:  # a module that never started the stack left nothing in it
        for line in asyncio.run(_forget_unrelayed(cfg.db_url)):
            print(f"[outbox] {request.module.__name__} left {line}: marked published")


async def _forget_unrelayed(database_url: str) -> list[str]:
    """Mark published every outbox row still waiting for a relay once a module's services are
    stopped: rows its tests queued with no relay running, or its services had no time to send.
    The next module's services would relay them first (rows leave in id order), into that
    module's tests; and a row for a topic the service may not write (a test playing another
    service in its schema) would be held back, its refusal logged, for the rest of the session.
    (Before relays held such rows back, one stalled every row behind it: see shared.outbox.)"""
    conn = await asyncpg.connect(database_url)
    try:
        left = []
        for schema in SCHEMAS:
            rows = await conn.fetch(
                f"UPDATE {schema}.outbox SET published_at = now() "
                "WHERE published_at IS NULL AND quarantined_at IS NULL RETURNING topic"
            )
            for topic, n in sorted(Counter(r["topic"] for r in rows).items()):
                left.append(f"{n} row(s) in {schema}.outbox for {topic}")
        return left
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def services(infra: stack.StackSettings) -> Iterator[Services]:
    """Start with `services.ensure()`; all are stopped at the end of the session."""
    control = Services(infra)
    yield control
    control.stop_all()
