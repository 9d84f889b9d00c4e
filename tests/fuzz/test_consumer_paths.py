"""Every consumer path of the three services, fuzzed in-process on the real PostgreSQL.

The consumers are the real ones: each service's `subscribe` is run with `subscribe_reliably`
intercepted, so every `ReliableConsumer` it would start (with its real routes and handlers) is
captured, and fed generated records through `process` directly. Dead letters go to a recorder.

For every record: `process` does not raise; the outcome is final (APPLIED, DUPLICATE, IGNORED or
DEAD_LETTERED, never RETRY: nothing here is transient); a dead letter has a reason; and the
database agrees (the inbox row exists exactly when the record was applied, so a refused record
left nothing behind).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings

from services.intake import consumers as intake_consumers
from services.intake.adapters.reference_data import load_reference
from services.intake.unit_of_work import pg_units as intake_units
from services.matcher import consumers as matcher_consumers
from services.matcher.domain import MatchPolicy
from services.matcher.handlers.catalog import Catalog
from services.matcher.handlers.saga import Matching
from services.matcher.unit_of_work import pg_units as matcher_units
from services.notifier import consumers as notifier_consumers
from services.notifier.unit_of_work import pg_units as notifier_units
from shared import topics
from shared.consuming import AT_ONCE, Outcome, ReliableConsumer, RetryPolicy
from shared.db import create_pool
from tests.fuzz import strategies
from tests.fuzz.conftest import EXAMPLES


@pytest.fixture(scope="module", autouse=True)
async def _partners_freed_afterwards(pool: asyncpg.Pool) -> AsyncIterator[None]:
    """The examples push many requests through the real matcher, filling every partner to its
    capacity; later tests expect partners with room."""
    yield
    await pool.execute("UPDATE matcher.partners SET open_assignments = 0")


EXAMPLES_PER_CONSUMER = 150


class RecordingDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int, str, str]] = []

    async def send(self, record: Any, reason: str, error: str) -> None:
        self.sent.append((record.topic, record.offset, reason, error))


def _example_topic(topic: str | None, pattern: str | None) -> str:
    if topic:
        return topic
    if pattern == topics.SUBMITTER_REQUESTS_PATTERN:
        return topics.submitter_requests_topic("fuzz")
    if pattern == topics.PARTNER_RESPONSES_PATTERN:
        return topics.partner_responses_topic("unido")
    raise AssertionError(f"no example topic for {pattern}")


def _capture(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> dict[str, tuple[ReliableConsumer[Any], str, str]]:
    """name → (consumer, a topic it reads, its schema), for every consumer the services start."""
    found: dict[str, tuple[ReliableConsumer[Any], str, str]] = {}

    def capturing(schema: str) -> Any:
        def subscribe_reliably(
            _broker: Any,
            consumer: ReliableConsumer[Any],
            topic: str | None = None,
            *,
            pattern: str | None = None,
            **_: Any,
        ) -> None:
            found[consumer.name] = (consumer, _example_topic(topic, pattern), schema)

        return subscribe_reliably

    def capturing_together(schema: str) -> Any:
        def subscribe_together(
            _broker: Any, consumers: dict[str, ReliableConsumer[Any]], **_: Any
        ) -> None:
            for topic, consumer in consumers.items():
                found[consumer.name] = (consumer, topic, schema)

        return subscribe_together

    for module, schema in (
        (intake_consumers, "intake"),
        (matcher_consumers, "matcher"),
        (notifier_consumers, "notifier"),
    ):
        if hasattr(module, "subscribe_reliably"):
            monkeypatch.setattr(module, "subscribe_reliably", capturing(schema))
        monkeypatch.setattr(module, "subscribe_together", capturing_together(schema))

    def clock() -> datetime:
        return datetime.now(UTC)

    intake_consumers.subscribe(
        None,  # type: ignore[arg-type]  # only handed to the captured subscribe_reliably
        intake_units(pool),
        RecordingDeadLetters(),  # each test puts its own sink in place
        reference=load_reference(),
        clock=clock,
        fetching=AT_ONCE,
        timeline_fetching=AT_ONCE,
    )
    matcher_consumers.subscribe(
        None,  # type: ignore[arg-type]
        matcher_units(pool),
        RecordingDeadLetters(),
        matching=Matching(
            Catalog.from_data_files(), MatchPolicy(), clock, timedelta(days=5), timedelta(30)
        ),
        fetching=AT_ONCE,
    )
    notifier_consumers.subscribe(
        None,  # type: ignore[arg-type]
        notifier_units(pool),
        RecordingDeadLetters(),
        fetching=AT_ONCE,
    )
    return found


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """A loop of this module's own: hypothesis drives a sync test, which runs each example."""
    made = asyncio.new_event_loop()
    yield made
    made.close()


@pytest.fixture(scope="module")
def own_pool(loop: asyncio.AbstractEventLoop, database_url: str) -> Iterator[asyncpg.Pool]:
    made = loop.run_until_complete(create_pool(database_url, max_size=4))
    # What the fuzz queues is not for Kafka: it is marked published when the module ends
    # (tests/conftest.py, _forget_unrelayed), before a later module's services could relay it.
    yield made
    loop.run_until_complete(made.close())


CONSUMERS = [
    "intake.submissions",
    "intake.tenant-submissions",
    "intake.requests",
    "intake.assignments",
    "intake.notifications",
    "matcher.requests",
    "matcher.responses",
    "matcher.partner-answers",
    "notifier.requests",
    "notifier.assignments",
    "notifier.sign-in",
]


def test_the_fuzzed_consumers_are_all_the_services_consumers(
    own_pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sorted(_capture(own_pool, monkeypatch)) == sorted(CONSUMERS)


def _ce_id(raw: strategies.Raw) -> UUID | None:
    ids = [v for k, v in raw.headers if k == "ce_id"]
    try:
        return UUID((ids[-1] or b"").decode())
    except (ValueError, UnicodeDecodeError, IndexError):
        return None


@pytest.mark.parametrize("name", CONSUMERS)
def test_no_record_raises_retries_or_leaves_a_trace_when_refused(
    name: str,
    loop: asyncio.AbstractEventLoop,
    own_pool: asyncpg.Pool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer, topic, schema = _capture(own_pool, monkeypatch)[name]
    sink = RecordingDeadLetters()
    consumer._dead_letters = sink
    consumer._retry = RetryPolicy(base_seconds=0.001, max_seconds=0.001, max_failures=0)
    offsets = itertools.count()
    ce_types = consumer.handled_types
    applied: set[UUID] = set()

    @given(raw=strategies.records(ce_types))
    @settings(
        max_examples=EXAMPLES_PER_CONSUMER,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def prop(raw: strategies.Raw) -> None:
        EXAMPLES[f"in-process {name}"] += 1
        record = strategies.consumer_record(raw, topic, next(offsets))
        before = len(sink.sent)
        outcome = loop.run_until_complete(consumer.process(record))
        EXAMPLES[f"in-process {name}: {outcome.value}"] += 1
        assert outcome is not Outcome.RETRY, f"{raw.kind}: a non-transient record was retried"
        if outcome is Outcome.DEAD_LETTERED:
            assert len(sink.sent) == before + 1
            assert sink.sent[-1][2], "a dead letter without a reason"
            reason, error = sink.sent[-1][2:]
            # A bug caught by the catch-all is not a verdict on the record: report it as one.
            assert reason != "processing_failed", f"{raw.kind}: handler failed: {error}"
        else:
            assert len(sink.sent) == before
        ce_id = _ce_id(raw)
        if ce_id is not None:
            claimed = loop.run_until_complete(
                own_pool.fetchval(
                    f"SELECT count(*) FROM {schema}.inbox WHERE consumer = $1 AND ce_id = $2",
                    name,
                    ce_id,
                )
            )
            if outcome is Outcome.APPLIED:
                assert claimed == 1
                applied.add(ce_id)
            elif outcome is Outcome.DEAD_LETTERED:
                # A refused record left nothing (its transaction rolled back).
                assert claimed == (ce_id in applied)

    prop()
