"""The lifecycle's doors under hostile input (brief §7.2, issue 12): someone else's identity,
malformed and oversized bodies at start / complete / withdraw / feedback / close. Every refusal
is a 4xx in the one error body and emits nothing; the owner's valid answers still go through."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from shared import topics
from shared.bounds import MAX_COMMENT, MAX_DELIVERABLES, MAX_OUTCOME, MAX_URL
from shared.kafka_access import KafkaAccess
from tests.intake.conftest import MakeKey
from tests.intake.test_partner_answers import _offered
from tests.kafka_helpers import collect, data_of

OVER_THE_BODY_LIMIT = 70 * 1024  # the gate's default is 64 KiB

BAD_COMPLETIONS: list[tuple[str, Any, int, str | None]] = [
    ("no body", None, 422, None),
    ("not JSON", b"{outcome:", 422, None),
    ("a list", [1, 2], 422, None),
    ("empty outcome", {"outcome": ""}, 422, "outcome"),
    ("outcome too long", {"outcome": "o" * (MAX_OUTCOME + 1)}, 422, "outcome"),
    ("script link", {"outcome": "x", "deliverables": ["javascript:alert(1)"]}, 422, None),
    ("link with a space", {"outcome": "x", "deliverables": ["https://a b"]}, 422, None),
    (
        "link too long",
        {"outcome": "x", "deliverables": ["https://e.org/" + "a" * MAX_URL]},
        422,
        None,
    ),
    (
        "too many links",
        {"outcome": "x", "deliverables": ["https://e.org/r"] * (MAX_DELIVERABLES + 1)},
        422,
        "deliverables",
    ),
    ("oversized", {"outcome": "o" * OVER_THE_BODY_LIMIT}, 413, None),
]


async def _post(
    client: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    if isinstance(body, bytes):
        sent = {**headers, "content-type": "application/json"}
        return await client.post(url, content=body, headers=sent)
    return await client.post(url, json=body, headers=headers)


async def _decisions(kafka: KafkaAccess, assignment_id: UUID) -> list[str]:
    found = await collect(
        kafka,
        topics.ASSIGNMENT_RESPONSES,
        matching=lambda r: data_of(r).get("assignment_id") == str(assignment_id),
        until=lambda rs: False,
        wait=1.5,
    )
    return [data_of(r)["decision"] for r in found]


async def test_nobody_but_the_partner_moves_its_work_and_bad_bodies_are_refused(
    client: httpx.AsyncClient, make_key: MakeKey, kafka: KafkaAccess, unique: str
) -> None:
    owner = f"mine-{unique}"
    (offered,) = await _offered(client, make_key, kafka, owner)
    _, mine = await make_key("partner", partner_id=owner, name=f"own-{unique}")
    _, other = await make_key("partner", partner_id=f"other-{unique}")
    _, submitter = await make_key("submitter")
    base = f"/v1/assignments/{offered.assignment_id}"
    assert (await client.post(f"{base}/accept", headers=mine)).status_code == 202

    done = {"outcome": "done", "deliverables": ["https://example.org/r.pdf"]}
    for decision, body in (("start", None), ("complete", done), ("withdraw", {"reason": "x"})):
        assert (await _post(client, f"{base}/{decision}", body, other)).status_code == 403
        assert (await _post(client, f"{base}/{decision}", body, submitter)).status_code == 403
        assert (await _post(client, f"{base}/{decision}", body, {})).status_code == 401
    unknown = await _post(client, f"/v1/assignments/{uuid4()}/complete", done, mine)
    assert unknown.status_code == 404

    for what, body, status, field in BAD_COMPLETIONS:
        refused = await _post(client, f"{base}/complete", body, mine)
        assert refused.status_code == status, (what, refused.text)
        errors = refused.json()["errors"]
        assert errors and len(refused.content) < 8 * 1024, what  # small, whatever came in
        if field is not None:
            assert any((e["field"] or "").startswith(field) for e in errors), (what, errors)
    for reason in ("", "r" * (MAX_OUTCOME + 1)):
        empty = await _post(client, f"{base}/withdraw", {"reason": reason}, mine)
        assert empty.status_code == 422

    assert (await _post(client, f"{base}/complete", done, mine)).status_code == 202
    await asyncio.sleep(0.5)
    assert await _decisions(kafka, offered.assignment_id) == ["accept", "complete"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"rating": 0}, 422),
        ({"rating": 6}, 422),
        ({"rating": "five"}, 422),
        ({"rating": 2.5}, 422),
        ({}, 422),
        ({"rating": 5, "comment": "c" * (MAX_COMMENT + 1)}, 422),
        ({"rating": 5, "comment": "c" * OVER_THE_BODY_LIMIT}, 413),
    ],
)
async def test_feedback_that_is_malformed_or_oversized_is_refused(
    client: httpx.AsyncClient, make_key: MakeKey, body: dict[str, Any], status: int
) -> None:
    _, submitter = await make_key("submitter", name=f"fb-{uuid4().hex[:6]}")
    refused = await client.post(f"/v1/requests/{uuid4()}/feedback", json=body, headers=submitter)
    assert refused.status_code == status, refused.text
    assert refused.json()["errors"]


async def test_only_the_submitter_gives_feedback_and_only_an_operator_closes(
    client: httpx.AsyncClient, make_key: MakeKey, kafka: KafkaAccess, unique: str
) -> None:
    (offered,) = await _offered(client, make_key, kafka, f"fb-{unique}")
    request = f"/v1/requests/{offered.request_id}"
    _, stranger = await make_key("submitter", name=f"stranger-{unique}")
    _, partner = await make_key("partner", partner_id=f"fb-{unique}")
    feedback = {"rating": 5, "comment": "fine"}

    # Another submitter's request is "no such request": its existence is not shared.
    assert (
        await client.post(f"{request}/feedback", json=feedback, headers=stranger)
    ).status_code == 404
    assert (
        await client.post(f"{request}/feedback", json=feedback, headers=partner)
    ).status_code == 403
    assert (await client.post(f"{request}/feedback", json=feedback)).status_code == 401
    assert (await client.post(f"{request}/close", headers=stranger)).status_code == 403
    assert (await client.post(f"{request}/close", headers=partner)).status_code == 403
    closings = await collect(
        kafka,
        topics.REQUESTS,
        matching=lambda r: (
            data_of(r).get("request_id") == str(offered.request_id) and "closed_by" in data_of(r)
        ),
        until=lambda rs: False,
        wait=1.5,
    )
    assert closings == []
