"""POST /v1/requests/{id}/erasure on the real PostgreSQL and Kafka: who may, once, and what."""

from __future__ import annotations

from uuid import UUID, uuid4

import asyncpg
import httpx

from shared import topics
from shared.kafka_access import KafkaAccess
from tests.intake.conftest import MakeKey
from tests.intake.samples import submission
from tests.kafka_helpers import collect, header


async def _submitted(client: httpx.AsyncClient, make_key: MakeKey, ref: str) -> str:
    _, headers = await make_key("submitter")
    answer = await client.post("/v1/requests", json=submission(ref), headers=headers)
    assert answer.status_code == 202, answer.text
    request_id: str = answer.json()["request_id"]
    return request_id


async def test_an_operator_erases_a_request_once_and_ta_request_erased_goes_out_once(
    client: httpx.AsyncClient,
    make_key: MakeKey,
    kafka: KafkaAccess,
    pool: asyncpg.Pool,
    unique: str,
) -> None:
    request_id = await _submitted(client, make_key, f"erase-{unique}")
    _, operator = await make_key("operator")

    first = await client.post(f"/v1/requests/{request_id}/erasure", headers=operator)
    again = await client.post(f"/v1/requests/{request_id}/erasure", headers=operator)

    assert first.status_code == again.status_code == 202, first.text
    assert first.json() == again.json()
    stored = await pool.fetchval(
        "SELECT submission FROM intake.requests WHERE request_id = $1", UUID(request_id)
    )
    assert '"contact"' not in stored and '"party": "SEN"' in stored  # the rest is kept
    erased = await collect(
        kafka,
        topics.REQUESTS,
        matching=lambda r: (
            r.key == request_id.encode() and header(r, "ce_type") == "ta.request.erased"
        ),
        until=lambda rs: len(rs) >= 2,
        wait=5,
    )
    assert len(erased) == 1


async def test_only_an_operator_may_erase_and_only_a_known_request(
    client: httpx.AsyncClient, make_key: MakeKey, unique: str
) -> None:
    request_id = await _submitted(client, make_key, f"erase-who-{unique}")
    _, submitter = await make_key("submitter", name=f"other-{unique}")
    _, operator = await make_key("operator")

    refused = await client.post(f"/v1/requests/{request_id}/erasure", headers=submitter)
    unknown = await client.post(f"/v1/requests/{uuid4()}/erasure", headers=operator)

    assert refused.status_code == 403, refused.text
    assert unknown.status_code == 404, unknown.text
