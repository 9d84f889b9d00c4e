"""GET /v1/requests/{id}: status and timeline from the events intake consumes (real Kafka)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx

from shared.events import AssignmentAccepted, Channel, NotificationDelivered, RequestMatched
from shared.kafka_access import KafkaAccess
from tests.intake.conftest import MakeKey
from tests.intake.events import eventually, offer, publish
from tests.intake.samples import submission


async def test_the_timeline_follows_offers_answers_notifications_and_the_match(
    client: httpx.AsyncClient, make_key: MakeKey, kafka: KafkaAccess, unique: str
) -> None:
    _, headers = await make_key("submitter")
    posted = await client.post("/v1/requests", json=submission(f"tl-{unique}"), headers=headers)
    request_id = UUID(posted.json()["request_id"])
    offered = offer(request_id, f"centre-{unique}")
    subject = str(request_id)
    await publish(
        kafka,
        (offered, subject),
        (
            NotificationDelivered(
                delivery_id=uuid4(),
                event_id=uuid4(),
                request_id=request_id,
                partner_id=offered.partner_id,
                channel=Channel.WEBHOOK,
                attempts=1,
            ),
            subject,
        ),
        (
            AssignmentAccepted(
                assignment_id=offered.assignment_id,
                request_id=request_id,
                partner_id=offered.partner_id,
            ),
            subject,
        ),
        (
            RequestMatched(
                request_id=request_id, partners=[offered.partner_id], uncovered_topics=[]
            ),
            subject,
        ),
    )

    async def view() -> dict[str, Any]:
        answer = await client.get(f"/v1/requests/{request_id}", headers=headers)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    seen = await eventually(view, lambda v: len(v["timeline"]) >= 5)
    assert seen["status"] == "matched"
    assert {e["event"] for e in seen["timeline"]} == {
        "ta.request.accepted",
        "ta.assignment.offered",
        "ta.notification.delivered",
        "ta.assignment.accepted",
        "ta.request.matched",
    }
    assert seen["timeline"][0]["event"] == "ta.request.accepted"  # oldest first
    offered_entry = next(e for e in seen["timeline"] if e["event"] == "ta.assignment.offered")
    assert offered_entry["partner_id"] == offered.partner_id
    assert "as lead" in offered_entry["summary"]


async def test_a_submitter_sees_only_its_own_requests_and_an_operator_sees_all(
    client: httpx.AsyncClient, make_key: MakeKey, unique: str
) -> None:
    _, owner = await make_key("submitter", name=f"owner-{unique}")
    _, stranger = await make_key("submitter", name=f"stranger-{unique}")
    _, operator = await make_key("operator")
    _, partner = await make_key("partner", partner_id=f"p-{unique}")
    posted = await client.post("/v1/requests", json=submission(f"own-{unique}"), headers=owner)
    url = f"/v1/requests/{posted.json()['request_id']}"

    assert (await client.get(url, headers=owner)).status_code == 200
    assert (await client.get(url, headers=stranger)).status_code == 404
    assert (await client.get(url, headers=operator)).json()["submitter"] == f"owner-{unique}"
    assert (await client.get(url, headers=partner)).status_code == 403
    assert (await client.get(url)).status_code == 401
    assert (await client.get(f"/v1/requests/{uuid4()}", headers=operator)).status_code == 404
