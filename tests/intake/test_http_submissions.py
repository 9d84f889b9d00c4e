"""POST /v1/requests on the real PostgreSQL and Kafka: auth, validation, limits, idempotency."""

from __future__ import annotations

import json
from typing import Any

import httpx

from shared import topics
from shared.kafka_access import KafkaAccess
from tests.intake.conftest import MakeKey
from tests.intake.samples import submission
from tests.kafka_helpers import collect, data_of, header


async def _submitter(make_key: MakeKey) -> dict[str, str]:
    _, headers = await make_key("submitter")
    return headers


def _errors(answer: httpx.Response) -> set[tuple[str, str]]:
    assert answer.status_code == 422, answer.text
    return {(e["field"], e["code"]) for e in answer.json()["errors"]}


async def test_an_accepted_request_leaves_through_the_outbox_as_ta_request_accepted(
    client: httpx.AsyncClient, make_key: MakeKey, kafka: KafkaAccess, unique: str
) -> None:
    principal, headers = await make_key("submitter")
    answer = await client.post("/v1/requests", json=submission(f"ok-{unique}"), headers=headers)
    assert answer.status_code == 202, answer.text
    request_id = answer.json()["request_id"]

    found = await collect(
        kafka,
        topics.REQUESTS,
        matching=lambda r: r.key == request_id.encode(),
        until=lambda rs: len(rs) >= 1,
    )
    assert [header(r, "ce_type") for r in found] == ["ta.request.accepted"]
    data: dict[str, Any] = data_of(found[0])
    assert data["submitter"] == principal.submitter_id
    assert data["region"] == "AFR"
    assert data["eligibility"] == {
        "developing": True,
        "economy_in_transition": False,
        "ldc": True,
        "sids": False,
    }


async def test_a_request_without_a_key_is_401_and_with_the_wrong_role_403(
    client: httpx.AsyncClient, make_key: MakeKey, unique: str
) -> None:
    body = submission(f"auth-{unique}")
    assert (await client.post("/v1/requests", json=body)).status_code == 401
    bad = {"X-API-Key": "stax_nope_nope"}
    assert (await client.post("/v1/requests", json=body, headers=bad)).status_code == 401
    _, partner = await make_key("partner", partner_id=f"p-{unique}")
    assert (await client.post("/v1/requests", json=body, headers=partner)).status_code == 403


async def test_422_lists_every_bad_field_with_its_code(
    client: httpx.AsyncClient, make_key: MakeKey, unique: str
) -> None:
    body = submission(
        f"bad-{unique}",
        party="USA",
        title="x" * 301,
        topics=["PCB", "NOPE"],
        assistance_types=["lunch"],
        pops=["99"],
        languages=["pt"],
        needed_by="2001-05-22",
        contact={"name": "n", "email": "not-an-address", "organisation": "o"},
    )
    answer = await client.post("/v1/requests", json=body, headers=await _submitter(make_key))
    assert _errors(answer) == {
        ("party", "not_a_party"),
        ("title", "too_long"),
        ("topics.1", "unknown_topic"),
        ("assistance_types.0", "unknown_assistance_type"),
        ("pops.0", "unknown_chemical"),
        ("languages.0", "unknown_language"),
        ("needed_by", "in_the_past"),
        ("contact.email", "invalid_email"),
    }


async def test_a_body_over_the_limit_is_413_before_it_is_parsed(
    client: httpx.AsyncClient, make_key: MakeKey, unique: str
) -> None:
    headers = await _submitter(make_key)
    big = json.dumps(submission(f"big-{unique}", description="x" * 70_000)).encode()
    announced = await client.post(
        "/v1/requests", content=big, headers=headers | {"Content-Type": "application/json"}
    )
    assert announced.status_code == 413

    async def chunks() -> Any:  # no Content-Length: the limit is found while streaming
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    streamed = await client.post(
        "/v1/requests", content=chunks(), headers=headers | {"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert "larger than" in streamed.json()["errors"][0]["message"]


async def test_an_idempotency_key_returns_the_same_request_and_a_changed_body_is_409(
    client: httpx.AsyncClient, make_key: MakeKey, unique: str
) -> None:
    headers = await _submitter(make_key) | {"Idempotency-Key": f"k-{unique}"}
    first = await client.post("/v1/requests", json=submission(f"a-{unique}"), headers=headers)
    again = await client.post("/v1/requests", json=submission(f"a-{unique}"), headers=headers)
    other = await client.post("/v1/requests", json=submission(f"b-{unique}"), headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json()["request_id"] == again.json()["request_id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert other.status_code == 409


async def test_a_body_that_is_not_json_is_422_and_one_that_is_not_utf8_is_400(
    client: httpx.AsyncClient, make_key: MakeKey
) -> None:
    headers = await _submitter(make_key) | {"Content-Type": "application/json"}
    garbled = await client.post("/v1/requests", content=b'{"party": ', headers=headers)
    undecodable = await client.post("/v1/requests", content=b'{"party": "\xff"}', headers=headers)
    assert [(e["field"], e["code"]) for e in garbled.json()["errors"]] == [(None, "invalid_json")]
    assert garbled.status_code == 422
    assert undecodable.status_code == 400, undecodable.text
