"""End to end: the three services as processes, a request over HTTP, a signed webhook out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, timedelta

import asyncpg
import httpx
import pytest

from deploy.local import stack
from deploy.local.receiver import Received, WebhookReceiver
from shared.auth import create_key
from tests.e2e.service_logs import ServiceLog
from tests.stack_helpers import Services

pytestmark = pytest.mark.e2e

# matcher's pick for a French-speaking Senegal PCB training request (see docs/matcher.md)
LEAD = "scrc-senegal"


@pytest.fixture
def services_up(services: Services) -> stack.StackSettings:
    services.ensure()
    return services.cfg


@pytest.fixture(scope="module")
async def keys(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        _, operator = await create_key(conn, role="operator", name="e2e-operator")
        _, submitter = await create_key(conn, role="submitter", name="e2e-portal")
    return {"operator": operator, "submitter": submitter}


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    started = WebhookReceiver().start()
    yield started
    started.stop()


def _submission(ref: str) -> dict[str, object]:
    return {
        "external_ref": ref,
        "party": "SEN",
        "title": "PCB inventory support",
        "description": "Help to finish the national PCB inventory.",
        "topics": ["PCB"],
        "assistance_types": ["training"],
        "languages": ["fr"],
        "urgency": "urgent",
        "needed_by": (date.today() + timedelta(days=60)).isoformat(),
        "contact": {
            "name": "A. Ndiaye",
            "email": "a.ndiaye@example.sn",
            "organisation": "Ministry of Environment",
        },
    }


async def test_a_request_reaches_the_partner_as_a_verified_signed_webhook(
    services_up: stack.StackSettings, receiver: WebhookReceiver, keys: dict[str, str], unique: str
) -> None:
    cfg = services_up
    async with httpx.AsyncClient(timeout=10) as client:
        made = await client.post(
            f"http://127.0.0.1:{cfg.notifier_port}/v1/partners/{LEAD}/endpoints",
            json={"url": receiver.url, "event_types": ["ta.assignment.offered"]},
            headers=_auth(keys["operator"]),
        )
        assert made.status_code == 201, made.text
        receiver.secrets.append(made.json()["secret"])

        answer = await client.post(
            f"http://127.0.0.1:{cfg.intake_port}/v1/requests",
            json=_submission(f"e2e-{unique}"),
            headers=_auth(keys["submitter"]),
        )
        assert answer.status_code == 202, answer.text
        request_id = answer.json()["request_id"]

    def about_this_request(r: Received) -> bool:
        return bool(r.body and r.body["data"]["request_id"] == request_id)

    mine = await asyncio.to_thread(receiver.wait_for, about_this_request, 60)
    assert len(mine) == 1, receiver.received
    assert mine[0].verified  # checked by the standardwebhooks library against the secret
    assert mine[0].body is not None
    assert mine[0].body["type"] == "ta.assignment.offered"
    assert mine[0].body["data"]["partner_id"] == LEAD
    assert mine[0].body["data"]["role"] == "lead"
    assert mine[0].headers["webhook-signature"].startswith("v1,")
    assert not [r for r in receiver.received if not r.verified]
    for service in stack.SERVICES:  # each consumed records for this request: none logged a line
        assert ServiceLog.read(cfg, service).per_message_lines() == [], service


async def test_each_service_serves_health_readiness_and_metrics(
    services_up: stack.StackSettings,
) -> None:
    async with httpx.AsyncClient(timeout=5) as client:
        for service in stack.SERVICES:
            base = f"http://127.0.0.1:{services_up.port_of(service)}"
            assert (await client.get(f"{base}/healthz")).status_code == 200
            ready = await client.get(f"{base}/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"] == {"database": True, "kafka": True}
            metrics = await client.get(f"{base}/metrics")
            assert metrics.status_code == 200
            assert "process_cpu_seconds_total" in metrics.text


async def test_a_resubmission_returns_the_same_request_id(
    services_up: stack.StackSettings, keys: dict[str, str], unique: str
) -> None:
    url = f"http://127.0.0.1:{services_up.intake_port}/v1/requests"
    async with httpx.AsyncClient(timeout=10, headers=_auth(keys["submitter"])) as client:
        first = await client.post(url, json=_submission(f"again-{unique}"))
        second = await client.post(url, json=_submission(f"again-{unique}"))
        changed = await client.post(
            url, json={**_submission(f"again-{unique}"), "title": "another title"}
        )
    assert first.status_code == second.status_code == 202
    assert first.json()["request_id"] == second.json()["request_id"]
    assert changed.status_code == 409


async def test_each_service_publishes_an_asyncapi_document_with_its_event_schemas(
    services_up: stack.StackSettings,
) -> None:
    emitted = {
        "intake": {
            "RequestAccepted",
            "RequestRejected",
            "AssignmentResponse",
            "PortalSignInRequested",
        },
        "matcher": {"AssignmentOffered", "RequestMatched", "RequestUnmatched"},
        "notifier": {"NotificationDelivered", "NotificationFailed"},
    }
    async with httpx.AsyncClient(timeout=5) as client:
        for service, schemas in emitted.items():
            url = f"http://127.0.0.1:{services_up.port_of(service)}/docs/asyncapi.json"
            document = (await client.get(url)).json()
            assert document["asyncapi"] == "3.0.0"
            assert schemas <= set(document["components"]["schemas"])
            # Clients learn from the document how to connect: TLS + SCRAM-SHA-512 (brief §7.1).
            assert document["components"]["securitySchemes"] == {
                "scram512": {"type": "scramSha512"}
            }
            for server in document["servers"].values():
                assert server["protocol"] == "kafka-secure"
                assert server["security"] == [{"$ref": "#/components/securitySchemes/scram512"}]
