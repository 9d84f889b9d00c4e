"""matcher as a real process on the real Kafka and PostgreSQL: the saga through the topics,
the durable expiry timer across a crash, and the operators' partner registry over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from shared import topics
from shared.auth import create_key
from shared.events import RequestAccepted
from shared.kafka_access import KafkaAccess
from tests.matcher.helpers import accepted, answer
from tests.matcher.kafka_io import count, data, publish, record, wait_for
from tests.stack_helpers import Services

OFFERED, DECLINED, EXPIRED = (
    "ta.assignment.offered",
    "ta.assignment.declined",
    "ta.assignment.expired",
)


@pytest.fixture
def matcher(services: Services) -> Services:
    services.ensure("matcher")
    return services


async def _offers(kafka: KafkaAccess, request: RequestAccepted, n: int) -> list[dict[str, Any]]:
    rid = {str(request.request_id)}
    events = await wait_for(kafka, rid, lambda es: count(es, OFFERED) >= n)
    return data(events, OFFERED)


@pytest.mark.usefixtures("idle_partners")  # the ranking is asserted exactly
async def test_a_request_through_kafka_is_offered_declined_re_offered_and_matched(
    matcher: Services, kafka: KafkaAccess
) -> None:
    request = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await publish(kafka, [record(request, request.request_id)])

    lead, support = await _offers(kafka, request, 2)
    assert (lead["partner_id"], lead["role"]) == ("scrc-senegal", "lead")
    assert support["partner_id"] in {"unep-chemicals", "unido"}  # PCB organisations, tied
    assert "serves SEN directly: +0.20" in lead["reasons"]

    decline = answer(lead, "decline", "busy")
    await publish(kafka, [record(decline, request.request_id)])
    replacement = (await _offers(kafka, request, 3))[2]
    assert replacement["role"] == "lead"
    assert replacement["partner_id"] not in {lead["partner_id"], support["partner_id"]}

    accepts = [answer(o, "accept") for o in (support, replacement)]
    await publish(kafka, [record(a, request.request_id) for a in accepts])
    outcome = await wait_for(
        kafka,
        {str(request.request_id)},
        lambda es: count(es, "ta.request.matched") >= 1,
        topic=topics.REQUESTS,
    )
    (matched,) = data(outcome, "ta.request.matched")
    assert set(matched["partners"]) == {support["partner_id"], replacement["partner_id"]}
    events = await wait_for(kafka, {str(request.request_id)}, lambda es: False, wait=1)
    assert count(events, DECLINED) == 1 and count(events, "ta.assignment.accepted") == 2


async def test_an_offer_deadline_survives_a_crash_and_expires_after_the_restart(
    services: Services, kafka: KafkaAccess
) -> None:
    services.restart(
        "matcher",
        {"STAX_MATCHER_RESPOND_SECONDS": "4", "STAX_MATCHER_EXPIRY_POLL_SECONDS": "0.3"},
    )
    try:
        request = accepted("MLI", ("PCB",), ("training",), ("fr",))
        await publish(kafka, [record(request, request.request_id)])
        first = await _offers(kafka, request, 2)
        services.kill("matcher")  # no shutdown: the deadline is only in PostgreSQL now
        await asyncio.sleep(4)
        services.ensure("matcher")

        events = await wait_for(
            kafka,
            {str(request.request_id)},
            lambda es: count(es, EXPIRED) >= 2 and count(es, OFFERED) >= 4,
        )
        assert {e["partner_id"] for e in data(events, EXPIRED)[:2]} == {
            o["partner_id"] for o in first
        }
        reoffered = data(events, OFFERED)[2:4]
        assert not {o["partner_id"] for o in reoffered} & {o["partner_id"] for o in first}
    finally:
        services.restart("matcher")  # back to the default 5 days


async def _operator_key(pool: asyncpg.Pool, role: str, unique: str) -> str:
    async with pool.acquire() as conn:
        _, key = await create_key(conn, role=role, name=f"matcher-test-{unique}")  # type: ignore[arg-type]
    return key


async def test_operators_manage_partners_and_bad_input_is_refused_with_reasons(
    matcher: Services, pool: asyncpg.Pool, unique: str
) -> None:
    key = await _operator_key(pool, "operator", unique)
    submitter = await _operator_key(pool, "submitter", unique)
    new = {
        "partner_id": f"test-{unique}",
        "name": "Test partner",
        "kind": "igo",
        "serves_regions": ["AFR"],
        "topics": ["PCB"],
        "assistance_types": ["training"],
        "languages": ["fr"],
        "capacity": 3,
    }
    async with httpx.AsyncClient(
        base_url=matcher.url("matcher"), headers={"X-API-Key": key}, timeout=10
    ) as http:
        listed = (await http.get("/v1/partners")).json()["partners"]
        by_id = {p["partner_id"]: p for p in listed}
        assert "SEN" in by_id["scrc-senegal"]["serves_countries"]
        assert by_id["demo-party-fra"]["demo"] is True

        bad = await http.post(
            "/v1/partners", json={**new, "topics": ["PCB", "NOPE"], "capacity": -1}
        )
        assert bad.status_code == 422
        assert {(e["field"], e["code"]) for e in bad.json()["errors"]} >= {
            ("capacity", "greater_than_equal")
        }
        unknown = await http.post("/v1/partners", json={**new, "topics": ["NOPE"]})
        assert unknown.status_code == 422
        assert unknown.json()["errors"][0]["code"] == "unknown_topic"

        created = await http.post("/v1/partners", json=new)
        assert created.status_code == 201, created.text
        assert (await http.post("/v1/partners", json=new)).status_code == 409
        patched = await http.patch(f"/v1/partners/test-{unique}", json={"capacity": 7})
        assert patched.status_code == 200 and patched.json()["capacity"] == 7
        refused = await http.patch(f"/v1/partners/test-{unique}", json={"languages": ["xyz"]})
        assert refused.status_code == 422
        gone = await http.delete(f"/v1/partners/test-{unique}")
        assert gone.status_code == 200 and gone.json()["active"] is False
        inactive = (await http.get("/v1/partners", params={"active": "false"})).json()
        assert f"test-{unique}" in {p["partner_id"] for p in inactive["partners"]}
        assert (await http.get("/v1/partners/nobody-here")).status_code == 404

        assert (await http.get("/v1/partners", headers={"X-API-Key": ""})).status_code == 401
        forbidden = await http.get("/v1/partners", headers={"X-API-Key": submitter})
        assert forbidden.status_code == 403


async def test_an_operator_edit_reaches_matching_on_the_next_request(
    matcher: Services, pool: asyncpg.Pool, kafka: KafkaAccess, unique: str
) -> None:
    key = await _operator_key(pool, "operator", unique)
    partner_id = f"kenya-{unique}"
    async with httpx.AsyncClient(
        base_url=matcher.url("matcher"), headers={"X-API-Key": key}, timeout=10
    ) as http:
        made = await http.post(
            "/v1/partners",
            json={
                "partner_id": partner_id,
                "name": "A new PCB lab serving Kenya",
                "kind": "igo",
                "serves_countries": ["KEN"],
                "topics": ["MONLAB"],
                "assistance_types": ["laboratory"],
                "languages": ["en"],
                "capacity": 5,
            },
        )
        assert made.status_code == 201, made.text
        first = accepted("KEN", ("MONLAB",), ("laboratory",), ("en",))
        await publish(kafka, [record(first, first.request_id)])
        assert (await _offers(kafka, first, 1))[0]["partner_id"] == partner_id

        assert (await http.delete(f"/v1/partners/{partner_id}")).status_code == 200
        second = accepted("KEN", ("MONLAB",), ("laboratory",), ("en",))
        await publish(kafka, [record(second, second.request_id)])
        offers = await _offers(kafka, second, 1)
        assert [o["partner_id"] for o in offers] == ["unep-chemicals"]  # the only one left


async def test_a_request_waits_while_partners_are_full_completion_serves_it_withdrawal_reoffers(
    matcher: Services, kafka: KafkaAccess, pool: asyncpg.Pool, idle_partners: None
) -> None:
    """The lifecycle through Kafka (brief §7.2): answers on the responses topic drive it."""
    first = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await publish(kafka, [record(first, first.request_id)])
    lead, support = await _offers(kafka, first, 2)
    await publish(kafka, [record(answer(o, "accept"), first.request_id) for o in (lead, support)])
    await wait_for(
        kafka,
        {str(first.request_id)},
        lambda es: count(es, "ta.request.matched") >= 1,
        topic=topics.REQUESTS,
    )

    await pool.execute("UPDATE matcher.partners SET open_assignments = capacity")  # all full
    second = accepted("SEN", ("PCB",), ("training",), ("fr",))
    await publish(kafka, [record(second, second.request_id)])
    waiting = await wait_for(
        kafka,
        {str(second.request_id)},
        lambda es: count(es, "ta.request.waiting") >= 1,
        topic=topics.REQUESTS,
    )
    (why,) = data(waiting, "ta.request.waiting")
    assert lead["partner_id"] in why["partners"]
    assert count(waiting, "ta.request.unmatched") == 0

    done = answer(lead, "complete", outcome="trained 30 officers", deliverables=["https://e.org/r"])
    await publish(
        kafka, [record(answer(lead, "start"), first.request_id), record(done, first.request_id)]
    )
    served = await _offers(kafka, second, 1)  # the unit the lead freed goes to the waiting one
    assert served[0]["partner_id"] == lead["partner_id"]
    first_events = await wait_for(
        kafka, {str(first.request_id)}, lambda es: count(es, "ta.assignment.completed") >= 1
    )
    (completed,) = data(first_events, "ta.assignment.completed")
    assert completed["outcome"] == "trained 30 officers"
    assert count(first_events, "ta.assignment.started") == 1

    await pool.execute("UPDATE matcher.partners SET open_assignments = 0")  # room again
    await publish(
        kafka, [record(answer(support, "withdraw", reason="expert left"), first.request_id)]
    )
    events = await wait_for(
        kafka,
        {str(first.request_id)},
        lambda es: count(es, "ta.assignment.withdrawn") >= 1 and count(es, OFFERED) >= 3,
    )
    reoffer = data(events, OFFERED)[2]
    assert reoffer["role"] == "support"
    assert reoffer["partner_id"] not in {lead["partner_id"], support["partner_id"]}
    assert data(events, "ta.assignment.withdrawn")[0]["reason"] == "expert left"
