"""A hostile submission on ta.requests.submitted.v1 (real Kafka, real intake) is answered with a
small rejection, and the submissions behind it are accepted as usual: one record never stops
intake's outbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from shared import topics
from shared.kafka_access import KafkaAccess
from tests.intake.samples import submission
from tests.kafka_helpers import Record, collect, data_of, header

LISTS = ("topics", "assistance_types", "pops", "languages")


@pytest.fixture
async def producer(kafka: KafkaAccess) -> AsyncIterator[AIOKafkaProducer]:
    made = AIOKafkaProducer(**kafka.aiokafka(), acks="all")
    await made.start()
    yield made
    await made.stop()


async def _submit(producer: AIOKafkaProducer, source: str, body: dict[str, Any]) -> str:
    ce_id = str(uuid4())
    headers = {
        "ce_specversion": "1.0",
        "ce_id": ce_id,
        "ce_source": source,
        "ce_type": "ta.request.submitted",
        "ce_time": datetime.now(UTC).isoformat(),
        "content-type": "application/json",
    }
    await producer.send_and_wait(
        topics.REQUESTS_SUBMITTED,
        json.dumps(body, separators=(",", ":")).encode(),
        key=source.encode(),
        partition=0,  # one partition, so a stall behind the hostile record would show
        headers=[(k, v.encode()) for k, v in headers.items()],
    )
    return ce_id


def _data(record: Record) -> dict[str, Any]:
    loaded: dict[str, Any] = data_of(record)
    return loaded


def _size(record: Record) -> int:
    return len(record.value or b"") + sum(len(k) + len(v or b"") for k, v in record.headers)


async def test_a_huge_bad_submission_gets_a_small_rejection_and_never_stops_later_ones(
    intake_app: FastAPI, producer: AIOKafkaProducer, kafka: KafkaAccess, unique: str
) -> None:
    source = f"/portal/{unique}"
    hostile = submission(f"bad-{unique}", **{f: ["zz"] * 45_000 for f in LISTS})
    assert len(json.dumps(hostile)) > 800_000
    bad_id = await _submit(producer, source, hostile)
    good = [f"good-{n}-{unique}" for n in range(3)]
    for ref in good:
        await _submit(producer, source, submission(ref))

    def mine(record: Record) -> bool:
        return record.key == bad_id.encode() or _data(record).get("submitter") == source

    answers = await collect(kafka, topics.REQUESTS, matching=mine, until=lambda r: len(r) >= 4)
    accepted = [_data(r) for r in answers if header(r, "ce_type") == "ta.request.accepted"]
    assert sorted(a["external_ref"] for a in accepted) == sorted(good)
    [rejected] = [r for r in answers if header(r, "ce_type") == "ta.request.rejected"]
    assert _size(rejected) < 64 * 1024
    assert [(e["field"], e["code"]) for e in _data(rejected)["errors"]] == [
        (f, "too_many") for f in LISTS
    ]
