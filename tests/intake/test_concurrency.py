"""Twins racing each other on the real PostgreSQL: one request, one answer."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from shared import topics
from shared.kafka_access import KafkaAccess
from tests.intake.conftest import MakeKey
from tests.intake.samples import submission
from tests.kafka_helpers import collect, data_of


async def test_concurrent_twins_with_one_idempotency_key_make_one_request(
    client: httpx.AsyncClient,
    make_key: MakeKey,
    pool: asyncpg.Pool,
    kafka: KafkaAccess,
    unique: str,
) -> None:
    principal, headers = await make_key("submitter")
    headers |= {"Idempotency-Key": f"twin-{unique}"}
    body = submission(f"twin-{unique}")
    answers = await asyncio.gather(
        *(client.post("/v1/requests", json=body, headers=headers) for _ in range(8))
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["request_id"] for a in answers}) == 1
    rows = await pool.fetchval(
        "SELECT count(*) FROM intake.requests WHERE submitter = $1", principal.submitter_id
    )
    assert rows == 1
    request_id = answers[0].json()["request_id"]
    emitted = await collect(
        kafka,
        topics.REQUESTS,
        matching=lambda r: data_of(r).get("submitter") == principal.submitter_id,
        until=lambda rs: False,  # read all there is: a twin's event would be here too
        wait=2.0,
    )
    assert [r.key for r in emitted] == [request_id.encode()]
