"""Product brief §4: a broker or database restart stalls the flow; it resumes by itself,
without restarting any service."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import httpx
import pytest

from deploy.local import stack
from deploy.local.harness import Outages
from deploy.local.receiver import Received, WebhookReceiver
from shared.auth import create_key
from tests.e2e.test_walking_skeleton import LEAD, _submission
from tests.stack_helpers import Services

pytestmark = pytest.mark.e2e


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    started = WebhookReceiver().start()
    yield started
    started.stop()


async def _subscribe_and_keys(
    cfg: stack.StackSettings, pool: asyncpg.Pool, receiver: WebhookReceiver
) -> str:
    async with pool.acquire() as conn:
        _, operator = await create_key(conn, role="operator", name="outage-operator")
        _, submitter = await create_key(conn, role="submitter", name="outage-portal")
    async with httpx.AsyncClient(timeout=10) as http:
        made = await http.post(
            f"http://127.0.0.1:{cfg.notifier_port}/v1/partners/{LEAD}/endpoints",
            json={"url": receiver.url, "event_types": ["ta.assignment.offered"]},
            headers={"Authorization": f"Bearer {operator}"},
        )
    receiver.secrets.append(made.raise_for_status().json()["secret"])
    return submitter


async def _submit(cfg: stack.StackSettings, submitter: str, ref: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            f"http://127.0.0.1:{cfg.intake_port}/v1/requests",
            json=_submission(ref),
            headers={"Authorization": f"Bearer {submitter}"},
        )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["request_id"])


async def _offer_arrives(receiver: WebhookReceiver, request_id: str, within: float) -> bool:
    def offer(r: Received) -> bool:
        return bool(r.verified and r.body and r.body["data"]["request_id"] == request_id)

    return bool(await asyncio.to_thread(receiver.wait_for, offer, within))


@pytest.fixture
async def running(
    services: Services, pool: asyncpg.Pool, receiver: WebhookReceiver
) -> tuple[stack.StackSettings, str, dict[str, int | None]]:
    """The services up, the receiver subscribed; returns the stack, a submitter key and pids."""
    services.ensure()
    submitter = await _subscribe_and_keys(services.cfg, pool, receiver)
    return services.cfg, submitter, {s: services.pid(s) for s in stack.SERVICES}


async def test_a_request_accepted_while_kafka_is_down_is_offered_once_kafka_is_back(
    running: tuple[stack.StackSettings, str, dict[str, int | None]],
    services: Services,
    receiver: WebhookReceiver,
    unique: str,
    outages: Outages,
) -> None:
    cfg, submitter, pids = running

    await asyncio.to_thread(outages.stop_kafka)
    try:
        # intake still answers: the request and its event wait in intake's outbox.
        request_id = await _submit(cfg, submitter, f"kafka-down-{unique}")
        assert not await _offer_arrives(receiver, request_id, 2.0)
    finally:
        await asyncio.to_thread(outages.start_kafka)

    assert await _offer_arrives(receiver, request_id, 120.0)
    assert {s: services.pid(s) for s in stack.SERVICES} == pids  # no service was restarted


async def test_a_request_submitted_across_a_database_restart_is_offered(
    running: tuple[stack.StackSettings, str, dict[str, int | None]],
    services: Services,
    receiver: WebhookReceiver,
    unique: str,
    outages: Outages,
) -> None:
    cfg, submitter, pids = running

    await asyncio.to_thread(outages.stop_postgres)
    await asyncio.sleep(1.0)  # relays, consumers and workers meet a dead database
    await asyncio.to_thread(outages.start_postgres)

    request_id = await _submit(cfg, submitter, f"db-restart-{unique}")
    assert await _offer_arrives(receiver, request_id, 120.0)
    assert {s: services.pid(s) for s in stack.SERVICES} == pids
