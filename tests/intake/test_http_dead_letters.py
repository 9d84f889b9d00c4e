"""/v1/dead-letters on the real intake, Kafka and PostgreSQL: a record a running intake
dead-letters is listed, read and replayed once to its topic and partition, exactly as it was;
dead letters that cannot go back are refused with the reason; only operators get in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from deploy.local.stack import StackSettings
from services.intake.adapters.dead_letters import KafkaDeadLetterTopic
from shared import bounds, topics
from shared.kafka import DeadLetters, make_broker
from shared.kafka_access import KafkaAccess
from tests.intake.conftest import MakeKey
from tests.intake.dead_letters import original
from tests.intake.events import eventually
from tests.kafka_helpers import Record, collect
from tests.tenants import grant

Headers = list[tuple[str, bytes]]


@pytest.fixture
async def operator(make_key: MakeKey) -> dict[str, str]:
    _, headers = await make_key("operator")
    return headers


@pytest.fixture
async def sender(kafka: KafkaAccess) -> AsyncIterator[DeadLetters]:
    """A service's dead-letter sink: shared.kafka.DeadLetters on a broker of its own."""
    broker: KafkaBroker = make_broker(kafka, service="test-dead-letters")
    await broker.start()
    yield DeadLetters(broker, "matcher")
    await broker.stop()


async def _produce(kafka: KafkaAccess, topic: str, record: Record) -> None:
    producer = AIOKafkaProducer(**kafka.aiokafka(), enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic,
            record.value,
            key=record.key,
            partition=record.partition,
            headers=list(record.headers),
        )
    finally:
        await producer.stop()


async def _find(client: httpx.AsyncClient, auth: dict[str, str], key: str) -> list[Any]:
    """Every dead letter with this key, newest first, paging back through the topic."""
    found: list[Any] = []
    before: int | None = None
    for _ in range(20):
        params = {"limit": 100} | ({} if before is None else {"before": before})
        page = (await client.get("/v1/dead-letters", params=params, headers=auth)).json()
        found += [d for d in page["dead_letters"] if d["key"] == key]
        before = page["next_before"]
        if before is None:
            break
    return found


async def _dead_letter(client: httpx.AsyncClient, auth: dict[str, str], key: str) -> Any:
    [letter] = await eventually(lambda: _find(client, auth, key), lambda found: len(found) == 1)
    return letter


def _submission_headers(unique: str) -> Headers:
    """A submission's headers as a STAX producer (FastStream) writes them, of a CloudEvents type
    intake does not know: poison to it."""
    return [
        ("content-type", b"application/json"),
        ("correlation_id", unique.encode()),
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid4()).encode()),
        ("ce_source", f"/portal/{unique}".encode()),
        ("ce_type", f"ta.request.unheard-of-{unique}".encode()),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
    ]


async def test_a_record_intake_dead_lettered_is_listed_replayed_once_and_arrives_as_it_was(
    client: httpx.AsyncClient, operator: dict[str, str], kafka: KafkaAccess, unique: str
) -> None:
    key = f"dlq-{unique}"
    poison = original(
        topics.REQUESTS_SUBMITTED,
        key=key.encode(),
        value=b'{"title": "a submission of a type nobody knows"}',
        headers=_submission_headers(unique),
        partition=3,
    )
    await _produce(kafka, topics.REQUESTS_SUBMITTED, poison)  # intake's consumer dead-letters it

    letter = await _dead_letter(client, operator, key)
    assert (letter["topic"], letter["partition"], letter["service"]) == (
        topics.REQUESTS_SUBMITTED,
        3,
        "intake",
    )
    assert letter["headers"] == {k: v.decode() for k, v in poison.headers}
    assert letter["value_preview"] == (poison.value or b"").decode()
    assert (letter["replayable"], letter["refusal"], letter["replayed"]) == (True, None, None)
    one = await client.get(f"/v1/dead-letters/{letter['offset']}", headers=operator)
    assert one.status_code == 200 and one.json() == letter

    replay = await client.post(f"/v1/dead-letters/{letter['offset']}/replay", headers=operator)
    assert replay.status_code == 202, replay.text
    assert replay.json()["topic"] == topics.REQUESTS_SUBMITTED

    mine = await collect(
        kafka,
        topics.REQUESTS_SUBMITTED,
        matching=lambda r: r.key == key.encode(),
        until=lambda found: len(found) >= 2,
    )
    first, again = mine
    assert (again.partition, again.key, again.value) == (3, poison.key, poison.value)
    assert list(again.headers) == list(poison.headers) == list(first.headers)
    assert again.offset > first.offset

    twice = await client.post(f"/v1/dead-letters/{letter['offset']}/replay", headers=operator)
    assert twice.status_code == 409
    assert twice.json()["errors"][0]["code"] == "already_replayed"
    after = (await client.get(f"/v1/dead-letters/{letter['offset']}", headers=operator)).json()
    assert after["replayable"] is False and after["refusal"]["code"] == "already_replayed"
    assert after["replayed"] == replay.json()
    # Still poison to intake, so it comes back to the dead-letter topic as a new dead letter.
    both = await eventually(lambda: _find(client, operator, key), lambda found: len(found) == 2)
    assert both[0]["original_offset"] == again.offset


async def test_two_replays_at_once_write_the_record_once(
    client: httpx.AsyncClient,
    operator: dict[str, str],
    sender: DeadLetters,
    kafka: KafkaAccess,
    unique: str,
) -> None:
    key = f"twin-{unique}"
    record = original(topics.ASSIGNMENTS, key=key.encode(), partition=1)
    await sender.send(record, "invalid_data", "a test")
    offset = (await _dead_letter(client, operator, key))["offset"]
    answers = await asyncio.gather(
        *(client.post(f"/v1/dead-letters/{offset}/replay", headers=operator) for _ in range(3))
    )
    assert sorted(a.status_code for a in answers) == [202, 409, 409]
    mine = await collect(
        kafka,
        topics.ASSIGNMENTS,
        matching=lambda r: r.key == key.encode(),
        until=lambda found: len(found) > 1,
        wait=5,
    )
    assert len(mine) == 1


async def test_a_partners_dead_lettered_answer_goes_back_to_its_topic(
    client: httpx.AsyncClient,
    operator: dict[str, str],
    sender: DeadLetters,
    kafka: KafkaAccess,
    infra: StackSettings,
    unique: str,
) -> None:
    partner = f"pd-{unique}"
    grant(infra, "partner", partner)  # its topics, and intake's WRITE on its answers topic
    answers = topics.partner_responses_topic(partner)
    key = f"answer-{unique}"
    # As a partner's librdkafka client writes it: none of the headers FastStream adds.
    record = original(answers, key=key.encode(), partition=0, headers=[("ce_type", b"x")])
    await sender.send(record, "invalid_data", "a test")
    offset = (await _dead_letter(client, operator, key))["offset"]
    replay = await client.post(f"/v1/dead-letters/{offset}/replay", headers=operator)
    assert replay.status_code == 202, replay.text
    [back] = await collect(kafka, answers, matching=lambda r: r.key == key.encode(), until=bool)
    assert (back.key, back.value, list(back.headers)) == (
        record.key,
        record.value,
        [("ce_type", b"x")],
    )


async def test_a_dead_letter_whose_value_was_dropped_is_not_replayable_and_says_why(
    client: httpx.AsyncClient, operator: dict[str, str], sender: DeadLetters, unique: str
) -> None:
    key = f"big-{unique}"
    big = original(topics.REQUESTS, key=key.encode(), value=b"x" * bounds.DLQ_MAX_VALUE_BYTES * 2)
    await sender.send(big, "too_large", "a test")
    letter = await _dead_letter(client, operator, key)
    assert (letter["replayable"], letter["refusal"]["code"]) == (False, "value_dropped")
    assert letter["value_bytes"] == 0
    replay = await client.post(f"/v1/dead-letters/{letter['offset']}/replay", headers=operator)
    assert replay.status_code == 409
    [error] = replay.json()["errors"]
    assert (
        error["code"] == "value_dropped"
        and f"{2 * bounds.DLQ_MAX_VALUE_BYTES} bytes" in (error["message"])
    )


@pytest.mark.parametrize(
    ("dlq", "code"),
    [
        ({"x-dlq-topic": "__consumer_offsets", "x-dlq-partition": "0"}, "invalid_origin"),
        ({"x-dlq-topic": topics.REQUESTS, "x-dlq-partition": "99"}, "gone"),
    ],
)
async def test_a_dead_letter_pointing_where_it_cannot_go_is_refused_and_stays_free(
    client: httpx.AsyncClient,
    operator: dict[str, str],
    kafka: KafkaAccess,
    unique: str,
    dlq: dict[str, str],
    code: str,
) -> None:
    key = f"hostile-{unique}"
    headers = {"x-dlq-reason": "invalid_data", "x-dlq-offset": "5", "x-dlq-service": "x"} | dlq
    written = original(
        topics.DEADLETTER,
        key=key.encode(),
        partition=0,
        headers=[(k, v.encode()) for k, v in headers.items()],
    )
    await _produce(kafka, topics.DEADLETTER, written)
    offset = (await _dead_letter(client, operator, key))["offset"]
    replay = await client.post(f"/v1/dead-letters/{offset}/replay", headers=operator)
    assert replay.status_code == 409 and replay.json()["errors"][0]["code"] == code
    after = (await client.get(f"/v1/dead-letters/{offset}", headers=operator)).json()
    assert after["replayed"] is None  # a refusal by the broker rolled the claim back


@pytest.mark.parametrize("role", ["submitter", "partner"])
async def test_only_an_operator_reads_or_replays_dead_letters(
    client: httpx.AsyncClient, make_key: MakeKey, role: str
) -> None:
    _, auth = await make_key(role, partner_id="some-partner" if role == "partner" else None)
    for method, path in (
        ("GET", "/v1/dead-letters"),
        ("GET", "/v1/dead-letters/0"),
        ("POST", "/v1/dead-letters/0/replay"),
    ):
        answer = await client.request(method, path, headers=auth)
        assert answer.status_code == 403, (method, path)
        assert answer.json()["errors"][0]["code"] == "forbidden"
    assert (await client.get("/v1/dead-letters")).status_code == 401


async def test_offsets_that_are_not_offsets_are_422_and_unknown_ones_404(
    client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    for path in ("/v1/dead-letters/-1", "/v1/dead-letters/abc", f"/v1/dead-letters/{2**63}"):
        answer = await client.get(path, headers=operator)
        assert answer.status_code == 422, path
        assert answer.json()["errors"][0]["field"] == "offset"
    for query in ({"before": -1}, {"limit": 0}, {"limit": 101}, {"before": "x"}):
        answer = await client.get("/v1/dead-letters", params=query, headers=operator)
        assert answer.status_code == 422, query
    beyond = 2**62  # far past anything the topic holds
    for method, path in (
        ("GET", f"/v1/dead-letters/{beyond}"),
        ("POST", f"/v1/dead-letters/{beyond}/replay"),
    ):
        answer = await client.request(method, path, headers=operator)
        assert answer.status_code == 404 and answer.json()["errors"][0]["code"] == "not_found"
    empty = await client.get("/v1/dead-letters", params={"before": 0}, headers=operator)
    assert empty.json() == {"dead_letters": [], "next_before": None}


async def test_a_broker_that_does_not_answer_is_a_503_in_the_one_error_body(
    intake_app: FastAPI, client: httpx.AsyncClient, operator: dict[str, str]
) -> None:
    kept = intake_app.state.dead_letters
    nowhere = KafkaAccess("127.0.0.1:1", "PLAINTEXT")
    async with KafkaDeadLetterTopic(nowhere, wait_seconds=1) as unreachable:
        intake_app.state.dead_letters = unreachable
        try:
            answer = await client.get("/v1/dead-letters", headers=operator)
        finally:
            intake_app.state.dead_letters = kept
    assert answer.status_code == 503
    assert answer.json()["errors"][0]["code"] == "unavailable"
