"""ta.requests.submitted.v1 on the real Kafka: accepted, rejected with reasons, or dead-lettered;
the partition keeps moving either way."""

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


@pytest.fixture
async def producer(kafka: KafkaAccess) -> AsyncIterator[AIOKafkaProducer]:
    made = AIOKafkaProducer(**kafka.aiokafka(), acks="all")
    await made.start()
    yield made
    await made.stop()


def _ce_headers(ce_id: str, source: str, ce_type: str = "ta.request.submitted") -> list[Any]:
    attributes = {
        "ce_specversion": "1.0",
        "ce_id": ce_id,
        "ce_source": source,
        "ce_type": ce_type,
        "ce_time": datetime.now(UTC).isoformat(),
        "content-type": "application/json",
    }
    return [(k, v.encode()) for k, v in attributes.items()]


async def _send(
    producer: AIOKafkaProducer, key: str, value: bytes, headers: list[Any] | None = None
) -> str:
    ce_id = str(uuid4())
    await producer.send_and_wait(
        topics.REQUESTS_SUBMITTED,
        value,
        key=key.encode(),
        partition=0,  # one partition, so order (and a stall) would show
        headers=headers if headers is not None else _ce_headers(ce_id, f"/portal/{key}"),
    )
    return ce_id


def _data(record: Record) -> dict[str, Any]:
    loaded: dict[str, Any] = data_of(record)
    return loaded


async def test_good_bad_and_unparseable_submissions_are_each_answered_and_never_stall(
    intake_app: FastAPI, producer: AIOKafkaProducer, kafka: KafkaAccess, unique: str
) -> None:
    source = f"/portal/{unique}"
    await _send(producer, unique, b"{not json")  # poison first: must not block the rest
    invalid_id = await _send(
        producer, unique, json.dumps(submission(f"bad-{unique}", party="USA", topics=[])).encode()
    )
    await _send(producer, unique, json.dumps(submission(f"good-{unique}")).encode())

    def mine(record: Record) -> bool:
        return header(record, "ce_source") == "/stax/intake" and (
            record.key == invalid_id.encode() or _data(record).get("submitter") == source
        )

    answers = await collect(kafka, topics.REQUESTS, matching=mine, until=lambda r: len(r) >= 2)
    by_type = {header(r, "ce_type"): _data(r) for r in answers}
    assert by_type["ta.request.accepted"]["external_ref"] == f"good-{unique}"
    rejected = by_type["ta.request.rejected"]
    assert rejected["external_ref"] == f"bad-{unique}"
    assert {(e["field"], e["code"]) for e in rejected["errors"]} == {
        ("party", "not_a_party"),
        ("topics", "too_few"),
    }
    dead = await collect(
        kafka,
        topics.DEADLETTER,
        matching=lambda r: r.key == unique.encode(),
        until=lambda r: len(r) >= 1,
    )
    assert [header(r, "x-dlq-reason") for r in dead] == ["not_json"]
    assert header(dead[0], "x-dlq-service") == "intake"


async def test_a_kafka_resubmission_is_one_request_and_a_changed_one_is_rejected_as_conflict(
    intake_app: FastAPI, producer: AIOKafkaProducer, kafka: KafkaAccess, unique: str
) -> None:
    source = f"/portal/{unique}"
    body = submission(f"twice-{unique}")
    await _send(producer, unique, json.dumps(body).encode())
    await _send(producer, unique, json.dumps(body).encode())  # a new ce_id: not an inbox repeat
    changed_id = await _send(producer, unique, json.dumps(body | {"title": "Changed"}).encode())

    def mine(record: Record) -> bool:
        return record.key == changed_id.encode() or _data(record).get("submitter") == source

    answers = await collect(kafka, topics.REQUESTS, matching=mine, until=lambda r: len(r) >= 2)
    await_more = await collect(  # give a duplicate acceptance the chance to show up
        kafka, topics.REQUESTS, matching=mine, until=lambda r: False, wait=2.0
    )
    assert sorted(header(r, "ce_type") or "" for r in await_more) == [
        "ta.request.accepted",
        "ta.request.rejected",
    ]
    rejected = next(r for r in answers if header(r, "ce_type") == "ta.request.rejected")
    assert _data(rejected)["errors"][0]["code"] == "conflict"


async def test_a_record_of_another_type_on_the_submissions_topic_is_dead_lettered(
    intake_app: FastAPI, producer: AIOKafkaProducer, kafka: KafkaAccess, unique: str
) -> None:
    headers = _ce_headers(str(uuid4()), "/portal/x", ce_type="ta.request.accepted")
    await _send(producer, unique, json.dumps(submission(f"t-{unique}")).encode(), headers)
    dead = await collect(
        kafka,
        topics.DEADLETTER,
        matching=lambda r: r.key == unique.encode(),
        until=lambda r: len(r) >= 1,
    )
    assert [header(r, "x-dlq-reason") for r in dead] == ["unknown_type"]
