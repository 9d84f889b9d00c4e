"""A poison storm on ta.requests.submitted.v1, intake running as a process: among 400 good
submissions, ~2 % garbage (not JSON; not CloudEvents) and ~0.5 % oversized (~0.9 MB) records.
Every good one is accepted and every bad one is accounted for: answered with ta.request.rejected
(keyed by its ce_id) or dead-lettered with its own partition and offset. Nothing is lost.

The rate (good throughput in the storm vs a clean run) is a benchmark, not a timed test:
`make bench-poison` (bench/poison.py)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import pytest

from bench.poison import latest_consumer, plan, produce, wait_accepted
from shared import topics
from shared.kafka_access import KafkaAccess
from tests.fuzz.conftest import EXAMPLES
from tests.kafka_helpers import collect, header
from tests.stack_helpers import Services

pytestmark = pytest.mark.e2e

GOOD = 400


async def test_in_a_poison_storm_every_good_submission_is_accepted_and_every_bad_one_answered(
    kafka: KafkaAccess, services: Services
) -> None:
    services.ensure("intake")
    source = f"/fuzz/storm/{uuid.uuid4().hex[:8]}"
    records = plan(source, GOOD, storm=True, seed=7)
    kinds = sorted({r.kind for r in records})
    assert kinds == ["good", "not_cloudevent", "not_json", "oversized_blob", "oversized_json"]
    accepted = await latest_consumer(kafka, topics.REQUESTS)
    began = datetime.now(UTC)
    try:
        storm = await produce(kafka, records, source)
        waiting = set(storm.good_refs)
        try:
            await asyncio.wait_for(wait_accepted(accepted, source, waiting), 120)
        except TimeoutError:
            stands = await services.where_it_stands("intake", began)
            pytest.fail(f"{len(waiting)} of {GOOD} good submissions were never accepted\n{stands}")
    finally:
        await accepted.stop()
    EXAMPLES["poison storm: good"] += len(storm.good_refs)
    EXAMPLES["poison storm: bad"] += len(storm.bad)

    bad_ids = {r.ce_id for r in storm.bad.values()}
    rejected = await collect(
        kafka,
        topics.REQUESTS,
        matching=lambda r: (
            header(r, "ce_type") == "ta.request.rejected" and (r.key or b"").decode() in bad_ids
        ),
        until=lambda rs: False,
        wait=3,
    )
    answered = {(r.key or b"").decode() for r in rejected}
    dead = await collect(
        kafka,
        topics.DEADLETTER,
        matching=lambda r: header(r, "x-dlq-topic") == topics.REQUESTS_SUBMITTED,
        until=lambda rs: False,
        wait=3,
    )
    lettered = {
        (int(header(d, "x-dlq-partition") or -1), int(header(d, "x-dlq-offset") or -1)): d
        for d in dead
    }
    unaccounted = [
        (where, r.kind)
        for where, r in storm.bad.items()
        if r.ce_id not in answered and where not in lettered
    ]
    assert not unaccounted, f"bad records neither rejected nor dead-lettered: {unaccounted}"
    for where, r in storm.bad.items():
        if r.kind == "oversized_json":
            assert r.ce_id in answered  # a readable submission: answered, not dead-lettered
            [answer] = [x for x in rejected if (x.key or b"").decode() == r.ce_id]
            assert len(answer.value or b"") < 64 * 1024
            assert {e["code"] for e in json.loads(answer.value or b"")["errors"]} == {"too_many"}
        else:
            letter = lettered[where]
            assert header(letter, "x-dlq-service") == "intake"
            assert header(letter, "x-dlq-reason") in {"not_json", "not_a_cloudevent"}
            if r.kind == "oversized_blob":  # too big to copy: dropped, with a pointer to it
                assert letter.value == b""
                assert header(letter, "x-dlq-value-dropped")
            else:
                assert letter.value == r.value
