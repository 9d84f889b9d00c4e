"""notifier as a real process on the real Kafka and PostgreSQL: the HTTP API with API keys,
events from Kafka to webhooks, e-mail and the partner's topic, operators' replay, and SIGKILL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from faststream.kafka import KafkaBroker

from deploy.local import stack
from deploy.local.receiver import Received
from shared.auth import create_key
from shared.envelope import build_record, parse_record
from shared.events import AssignmentAccepted, Event, RequestUnmatched
from shared.kafka import publish_all
from shared.kafka_access import KafkaAccess
from shared.topics import partner_topic
from tests.kafka_helpers import collect, header
from tests.notifier.helpers import (
    Reply,
    ScriptedReceiver,
    SmtpSink,
    deliveries_of,
    offer_event,
    receiving,
    request_accepted,
    smtp_server,
)
from tests.stack_helpers import Services
from tests.tenants import grant

pytestmark = pytest.mark.e2e

SECRETARIAT_MAIL = "secretariat@stax.example.org"


def _env(smtp_port: int) -> dict[str, str]:
    return {
        "STAX_NOTIFIER_ALLOW_SUBNETS": '["127.0.0.1/32"]',
        "STAX_NOTIFIER_RETRY_SCHEDULE": "[0, 0.3, 0.3, 0.3]",
        "STAX_NOTIFIER_TIMEOUT_SECONDS": "2",
        "STAX_NOTIFIER_OVERLOAD_PENALTY_SECONDS": "0.5",
        "STAX_NOTIFIER_LEASE_SECONDS": "4",
        "STAX_NOTIFIER_POLL_SECONDS": "0.1",
        "STAX_NOTIFIER_WORKERS": "6",
        "STAX_NOTIFIER_MAX_IN_FLIGHT_PER_ENDPOINT": "4",
        "STAX_NOTIFIER_SMTP_PORT": str(smtp_port),
        "STAX_NOTIFIER_SMTP_TIMEOUT_SECONDS": "2",
        "STAX_NOTIFIER_SECRETARIAT_EMAIL": SECRETARIAT_MAIL,
        "STAX_OUTBOX_POLL_SECONDS": "0.2",
    }


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[SmtpSink, int]]:
    with smtp_server() as server:
        yield server


@pytest.fixture(scope="module")
def notifier(services: Services, smtp: tuple[SmtpSink, int]) -> Iterator[str]:
    """notifier with short schedules; stopped afterwards, so that the in-process workers of
    the other test modules are the only ones claiming their deliveries."""
    services.restart("notifier", _env(smtp[1]))
    yield services.url("notifier")
    services.stop("notifier")


@pytest.fixture(scope="module")
async def keys(pool: asyncpg.Pool) -> dict[str, str]:
    async with pool.acquire() as conn:
        _, operator = await create_key(conn, role="operator", name="ops")
        _, unido = await create_key(conn, role="partner", name="unido", partner_id="unido")
    return {"operator": operator, "unido": unido}


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _publish(broker: KafkaBroker, *events: Event) -> None:
    records = [
        build_record(e, source="/test", subject=str(getattr(e, "request_id", uuid4())))
        for e in events
    ]
    await publish_all(broker, [(r.topic, r.key, r.headers, r.value) for r in records])


async def _wait(receiver: ScriptedReceiver, wanted: Any, count: int, within: float) -> None:
    def enough(_r: Received) -> bool:
        return len([r for r in receiver.received if wanted(r)]) >= count

    await asyncio.to_thread(receiver.wait_for, enough, within)


async def _wait_for(condition: Any, within: float) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_the_api_needs_a_key_and_a_partner_key_reaches_only_its_own_partner(
    notifier: str, keys: dict[str, str], unique: str
) -> None:
    body = {"url": "http://127.0.0.1:9/hook", "event_types": ["ta.assignment.offered"]}
    async with httpx.AsyncClient(base_url=notifier, timeout=10) as http:
        assert (await http.post("/v1/partners/unido/endpoints", json=body)).status_code == 401
        other = await http.post(
            f"/v1/partners/p-{unique}/endpoints", json=body, headers=_auth(keys["unido"])
        )
        assert other.status_code == 403
        made = await http.post(
            "/v1/partners/unido/endpoints", json=body, headers=_auth(keys["unido"])
        )
        assert made.status_code == 201, made.text
        endpoint_id = made.json()["endpoint_id"]
        assert made.json()["secret"].startswith("whsec_")
        by_operator = await http.post(
            f"/v1/partners/p-{unique}/endpoints", json=body, headers=_auth(keys["operator"])
        )
        assert by_operator.status_code == 201
        path = f"/v1/partners/unido/endpoints/{endpoint_id}"
        patched = await http.patch(
            path, json={"event_types": [], "enabled": False}, headers=_auth(keys["unido"])
        )
        assert patched.status_code == 200 and patched.json()["enabled"] is False
        rotated = await http.post(f"{path}/rotate", headers=_auth(keys["unido"]))
        assert rotated.status_code == 200 and rotated.json()["secret"].startswith("whsec_")
        assert (await http.delete(path, headers=_auth(keys["unido"]))).status_code == 204
        assert (await http.get(path, headers=_auth(keys["unido"]))).status_code == 404
        channel = await http.put("/v1/partners/unido/kafka-channel", headers=_auth(keys["unido"]))
        assert channel.status_code == 403  # topics are created by operators only
        listed = await http.get("/v1/deliveries?partner_id=fao", headers=_auth(keys["unido"]))
        assert listed.status_code == 403


async def test_bad_input_and_internal_urls_are_refused_with_reasons(
    notifier: str, keys: dict[str, str], unique: str
) -> None:
    base, auth = f"/v1/partners/p-{unique}", _auth(keys["operator"])
    async with httpx.AsyncClient(base_url=notifier, timeout=10) as http:
        bad = await http.post(
            f"{base}/endpoints", json={"url": "ftp://x", "event_types": ["nope"]}, headers=auth
        )
        assert bad.status_code == 422
        assert {e["field"].split(".")[0] for e in bad.json()["errors"]} == {"url", "event_types"}
        contact = await http.post(
            f"{base}/contacts", json={"email": "not-an-address", "language": "de"}, headers=auth
        )
        assert contact.status_code == 422 and len(contact.json()["errors"]) == 2
        bad_partner = await http.post(
            "/v1/partners/Not%20OK/contacts", json={"email": "a@b.org"}, headers=auth
        )
        assert bad_partner.status_code == 422
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://0x7f.2/",  # 127.0.0.2: loopback outside the tests' allow-list
            "http://[::ffff:192.168.0.1]/",
            "http://[::1]/",
            "http://127.0.0.2:1/",
        ]:
            refused = await http.post(f"{base}/endpoints", json={"url": url}, headers=auth)
            assert refused.status_code == 422, (url, refused.text)
            [reason] = refused.json()["errors"]
            assert reason["field"] == "url" and reason["code"] == "address_not_allowed", reason


async def test_events_from_kafka_reach_partners_the_requesting_party_and_the_secretariat(
    notifier: str,
    keys: dict[str, str],
    broker: KafkaBroker,
    kafka: KafkaAccess,
    smtp: tuple[SmtpSink, int],
    infra: stack.StackSettings,
    unique: str,
) -> None:
    sink, partner = smtp[0], f"p-{unique}"
    party_mail, partner_mail = f"party-{unique}@example.sn", f"fr-{unique}@example.org"
    auth = _auth(keys["operator"])
    with receiving(Reply(204)) as receiver:
        async with httpx.AsyncClient(base_url=notifier, timeout=10) as http:
            refused = await http.put(f"/v1/partners/{partner}/kafka-channel", headers=auth)
            assert refused.status_code == 409  # no Kafka tenant yet: no topic to write
            assert f"stax kafka grant partner {partner}" in refused.text
            await asyncio.to_thread(grant, infra, "partner", partner)
            made = await http.post(
                f"/v1/partners/{partner}/endpoints", json={"url": receiver.url}, headers=auth
            )
            receiver.secrets.append(made.json()["secret"])
            contact = {"email": partner_mail, "language": "fr"}
            await http.post(f"/v1/partners/{partner}/contacts", json=contact, headers=auth)
            channel = await http.put(f"/v1/partners/{partner}/kafka-channel", headers=auth)
            assert channel.status_code == 200 and channel.json()["topic"] == partner_topic(partner)
        request_id = uuid4()
        _, offer = offer_event(partner, request_id)
        taken = AssignmentAccepted(
            assignment_id=offer.assignment_id, request_id=request_id, partner_id=partner
        )
        nobody = RequestUnmatched(
            request_id=request_id, partners=[partner], uncovered_topics=["DDT"]
        )
        await _publish(broker, request_accepted(request_id, party_mail))
        await _publish(broker, offer, taken, nobody)
        await _wait(receiver, lambda r: True, 2, 30)

        async def all_mail() -> bool:
            return (len(sink.to(party_mail)), len(sink.to(partner_mail))) == (3, 2) and any(
                str(request_id) in str(m["Subject"]) for m in sink.to(SECRETARIAT_MAIL)
            )

        await _wait_for(all_mail, 30)
    assert all(r.verified for r in receiver.received)
    assert sorted(r.body["type"] for r in receiver.received if r.body) == [
        "ta.assignment.accepted",
        "ta.assignment.offered",
    ]
    assert any("nouvelle offre" in str(m["Subject"]) for m in sink.to(partner_mail))
    mirrored = await collect(kafka, partner_topic(partner), until=lambda rs: len(rs) >= 2, wait=20)
    assert sorted(header(r, "ce_type") or "" for r in mirrored) == [
        "ta.assignment.accepted",
        "ta.assignment.offered",
    ]
    assert {header(r, "ce_subject") for r in mirrored} == {str(request_id)}
    envelope = parse_record(mirrored[0].headers, mirrored[0].key, mirrored[0].value)
    assert envelope.data["request_id"] == str(request_id)  # a CloudEvent per the SDK


async def test_operators_list_resend_and_recover_failed_deliveries(
    notifier: str, keys: dict[str, str], broker: KafkaBroker, pool: asyncpg.Pool, unique: str
) -> None:
    partner, auth = f"p-{unique}", _auth(keys["operator"])
    since = datetime.now(UTC) - timedelta(seconds=1)
    with receiving(Reply(500)) as receiver:
        async with httpx.AsyncClient(base_url=notifier, timeout=10) as http:
            made = await http.post(
                f"/v1/partners/{partner}/endpoints", json={"url": receiver.url}, headers=auth
            )
            assert made.status_code == 201
            receiver.secrets.append(made.json()["secret"])
            await _publish(broker, *(offer_event(partner)[1] for _ in range(3)))

            async def failed() -> list[Any]:
                listed = await http.get(
                    "/v1/deliveries",
                    params={"partner_id": partner, "status": "failed"},
                    headers=auth,
                )
                return list(listed.json())

            await _wait_for(lambda: _has(failed, 3), 30)
            receiver.script = [Reply(204)]
            first = (await failed())[0]["delivery_id"]
            resent = await http.post(f"/v1/deliveries/{first}/resend", headers=auth)
            assert resent.status_code == 202
            await _wait(receiver, lambda r: r.body is not None and r.webhook_id == first, 1, 20)
            recovered = await http.post(
                "/v1/deliveries/recover", json={"since": since.isoformat()}, headers=auth
            )
            assert recovered.status_code == 200 and recovered.json()["recovered"] >= 2
            await _wait_for(lambda: _all_status(pool, partner, "delivered", 3), 20)
            assert (
                await http.post(f"/v1/deliveries/{uuid4()}/resend", headers=auth)
            ).status_code == 404
    rows = await deliveries_of(pool, partner)
    for row in rows:  # 4 failed attempts, then each replayed with its own webhook-id again
        ids = {r.webhook_id for r in receiver.received if r.webhook_id == str(row["delivery_id"])}
        assert ids == {str(row["delivery_id"])}
    assert len(receiver.received) == 3 * 4 + 3


async def _has(fetch: Any, count: int) -> bool:
    return len(await fetch()) >= count


async def _all_status(pool: asyncpg.Pool, partner: str, status: str, count: int) -> bool:
    rows = await deliveries_of(pool, partner)
    return len(rows) == count and all(r["status"] == status for r in rows)


async def test_a_notifier_killed_mid_delivery_loses_nothing_and_resends_with_the_same_id(
    notifier: str,
    services: Services,
    smtp: tuple[SmtpSink, int],
    keys: dict[str, str],
    broker: KafkaBroker,
    pool: asyncpg.Pool,
    unique: str,
) -> None:
    partner, count = f"p-{unique}", 24
    with receiving(Reply(204, delay=0.4)) as receiver:
        async with httpx.AsyncClient(base_url=notifier, timeout=10) as http:
            made = await http.post(
                f"/v1/partners/{partner}/endpoints",
                json={"url": receiver.url},
                headers=_auth(keys["operator"]),
            )
            receiver.secrets.append(made.json()["secret"])
        offers = [offer_event(partner)[1] for _ in range(count)]
        await _publish(broker, *offers)
        await _wait(receiver, lambda r: True, 4, 30)

        async def leased() -> bool:  # deliveries in flight: claimed, sent or being sent
            return bool(
                await pool.fetchval(
                    "SELECT count(*) FROM notifier.deliveries WHERE partner_id = $1 "
                    "AND status = 'pending' AND claimed_until IS NOT NULL",
                    partner,
                )
            )

        await _wait_for(leased, 10)
        services.kill("notifier")
        in_flight = await pool.fetchval(
            "SELECT count(*) FROM notifier.deliveries WHERE partner_id = $1 "
            "AND status = 'pending' AND claimed_until IS NOT NULL",
            partner,
        )
        assert in_flight > 0  # killed mid-delivery: leases held by a process that is gone
        services.restart("notifier", _env(smtp[1]))
        await _wait_for(lambda: _all_status(pool, partner, "delivered", count), 60)
    rows = await deliveries_of(pool, partner)
    assert len(rows) == count  # one row per event: nothing lost, nothing doubled
    assert len({r["event_id"] for r in rows}) == count
    by_assignment: dict[str, set[str]] = {}
    for got in receiver.received:
        assert got.verified and got.body is not None
        by_assignment.setdefault(got.body["data"]["assignment_id"], set()).add(got.webhook_id)
    assert set(by_assignment) == {str(o.assignment_id) for o in offers}
    assert all(len(ids) == 1 for ids in by_assignment.values())  # re-sent: the same webhook-id
    print(f"kill -9: {len(receiver.received) - count} webhook(s) re-sent after the restart")
