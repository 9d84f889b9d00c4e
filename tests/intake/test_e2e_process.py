"""intake as a real process on the real Kafka and PostgreSQL: what a client sees, and a kill -9."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from shared import topics
from shared.kafka_access import KafkaAccess
from tests.intake.conftest import MakeKey
from tests.intake.events import eventually
from tests.intake.samples import submission
from tests.kafka_helpers import collect, data_of, header
from tests.stack_helpers import Services

pytestmark = pytest.mark.e2e


async def test_a_keyed_submission_is_accepted_emitted_and_followed_and_survives_kill_9(
    services: Services, make_key: MakeKey, kafka: KafkaAccess, unique: str
) -> None:
    # Process control blocks; in a thread, the session's event loop (and the in-process intake
    # of the other tests, in the same consumer group) keeps running meanwhile.
    await asyncio.to_thread(services.ensure, "intake")
    principal, headers = await make_key("submitter", name=f"portal-{unique}")
    async with httpx.AsyncClient(base_url=services.url("intake"), timeout=10) as client:
        posted = [
            await client.post("/v1/requests", json=submission(f"e2e-{unique}-{n}"), headers=headers)
            for n in range(5)
        ]
        assert {p.status_code for p in posted} == {202}
        # Killed maybe before its relay sent everything: the outbox rows wait for a relay.
        await asyncio.to_thread(services.kill, "intake")
        await asyncio.to_thread(services.ensure, "intake")
        ids = {p.json()["request_id"].encode() for p in posted}
        emitted = await collect(
            kafka,
            topics.REQUESTS,
            matching=lambda r: r.key in ids,
            until=lambda rs: {r.key for r in rs} == ids,
        )
        assert {r.key for r in emitted} == ids
        assert {header(r, "ce_type") for r in emitted} == {"ta.request.accepted"}
        assert {data_of(r)["submitter"] for r in emitted} == {principal.submitter_id}

        url = f"/v1/requests/{posted[0].json()['request_id']}"

        async def view() -> httpx.Response:
            return await client.get(url, headers={"X-API-Key": headers["Authorization"][7:]})

        seen = await eventually(view, lambda r: r.status_code == 200)
        assert seen.json()["status"] == "accepted"
        assert [e["event"] for e in seen.json()["timeline"]] == ["ta.request.accepted"]
