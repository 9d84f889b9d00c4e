"""A request offered to a partner over the real intake: the first step of the answer tests."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

import httpx

from shared.events import AssignmentOffered
from shared.kafka_access import KafkaAccess
from tests.intake.conftest import MakeKey
from tests.intake.events import eventually, offer, publish
from tests.intake.samples import submission


async def offered_to(
    client: httpx.AsyncClient, make_key: MakeKey, kafka: KafkaAccess, partner_id: str, n: int = 1
) -> tuple[list[AssignmentOffered], dict[str, str]]:
    """A request, offered `n` times to `partner_id`, once intake lists the offers to that
    partner; and the headers of the submitter who made it."""
    request_id, submitter = await _new_request(client, make_key, "offered")
    offers = [offer(request_id, partner_id) for _ in range(n)]
    await publish(kafka, *[(o, str(request_id)) for o in offers])
    _, partner = await make_key("partner", partner_id=partner_id, name=f"key-{uuid4().hex[:6]}")

    async def listing() -> dict[str, Any]:
        body: dict[str, Any] = (
            await client.get("/v1/partners/me/assignments", headers=partner)
        ).json()
        return body

    await eventually(listing, lambda b: len(b["open"]) >= n)
    return offers, submitter


async def not_yet_offered(
    client: httpx.AsyncClient, make_key: MakeKey, partner_id: str
) -> tuple[AssignmentOffered, str]:
    """An offer to `partner_id` on a new request, not yet published (so unknown to intake), and
    the request's id as the record's subject."""
    request_id, _ = await _new_request(client, make_key, "early")
    return offer(request_id, partner_id), str(request_id)


async def _new_request(
    client: httpx.AsyncClient, make_key: MakeKey, prefix: str
) -> tuple[UUID, dict[str, str]]:
    """A request submitted over `client` by a new submitter; its id and the submitter's headers."""
    _, submitter = await make_key("submitter", name=f"sub-{uuid4().hex[:8]}")
    body = submission(f"{prefix}-{uuid4().hex[:8]}")
    posted = await client.post("/v1/requests", json=body, headers=submitter)
    return UUID(posted.json()["request_id"]), submitter
