"""Tenants on Kafka end to end (brief §7.1): a partner answers on its own topic and an upstream
system submits on its own, with intake and matcher running as processes on the secure broker.
Identity comes from the topic; a payload that names someone else changes nothing."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
from confluent_kafka import Consumer

from deploy.local import stack
from shared import auth, topics
from shared.envelope import OutgoingRecord, build_record
from shared.events import AssignmentResponse, RequestRejected, RequestSubmitted
from shared.kafka_access import KafkaAccess
from tests.intake.samples import submission
from tests.kafka_helpers import Record, collect, data_of, header
from tests.matcher.helpers import accepted
from tests.matcher.kafka_io import data, publish, record, wait_for
from tests.stack_helpers import Services
from tests.tenants import Conf, grant, group, produce

pytestmark = pytest.mark.e2e

OFFERED = "ta.assignment.offered"


def _answer(offer: dict[str, Any], partner: str, decision: str = "accept") -> OutgoingRecord:
    response = AssignmentResponse(
        assignment_id=offer["assignment_id"], partner_id=partner, decision=decision
    )
    return build_record(response, source=f"/partners/{partner}", subject=offer["request_id"])


async def _dead_letter(kafka: KafkaAccess, ce_id: UUID) -> Record:
    found = await collect(
        kafka,
        topics.DEADLETTER,
        until=bool,
        matching=lambda r: header(r, "ce_id") == str(ce_id),
        wait=45,
    )
    assert found, f"no dead letter for {ce_id}"
    return found[0]


async def _status(pool: asyncpg.Pool, assignment_id: str) -> str | None:
    status: str | None = await pool.fetchval(
        "SELECT status FROM matcher.assignments WHERE assignment_id = $1", UUID(assignment_id)
    )
    return status


async def test_a_partner_answers_only_its_own_offers_on_its_own_topic(
    services: Services, kafka: KafkaAccess, infra: stack.StackSettings, pool: asyncpg.Pool
) -> None:
    services.ensure("intake", "matcher")
    # Not Senegal's PCB request the matcher tests rank partners with: an accepted offer here
    # lowers those partners' headroom.
    request = accepted("BRA", ("MONLAB", "WASTE"), ("laboratory",), ("pt",))
    await publish(kafka, [record(request, request.request_id)])
    events = await wait_for(
        kafka, {str(request.request_id)}, lambda es: len(data(es, OFFERED)) >= 2
    )
    mine, theirs = data(events, OFFERED)[:2]
    a, b = mine["partner_id"], theirs["partner_id"]
    conf_a = await asyncio.to_thread(grant, infra, "partner", a)
    await asyncio.to_thread(grant, infra, "partner", b)
    answers = topics.partner_responses_topic(a)

    # A takes B's offer, in its own name, then in B's name: both refused whole.
    takeover = _answer(theirs, a)
    impersonation = _answer(theirs, b)
    for sent in (takeover, impersonation):
        assert await asyncio.to_thread(produce, conf_a, sent, answers) is None
    # A accepts its own offer: goes through.
    own = _answer(mine, a)
    assert await asyncio.to_thread(produce, conf_a, own, answers) is None

    settled = await wait_for(
        kafka,
        {str(request.request_id)},
        lambda es: any(d["assignment_id"] == mine["assignment_id"] for d in data(es, _ACCEPTED)),
    )
    assert [d["partner_id"] for d in data(settled, _ACCEPTED)] == [a]
    for ce_id, reason in ((takeover.ce_id, "not_your_assignment"), (impersonation.ce_id, None)):
        dead = await _dead_letter(kafka, ce_id)
        assert header(dead, "x-dlq-topic") == answers
        assert header(dead, "x-dlq-service") == "matcher"
        assert header(dead, "x-dlq-reason") == (reason or "identity_mismatch")
    # The three answers sat in order on one partition: when A's own was applied, the refusals
    # were behind it, so B's offer is still simply open.
    assert await _status(pool, theirs["assignment_id"]) == "offered"
    assert await _status(pool, mine["assignment_id"]) == "accepted"

    # The lifecycle goes on on the same topic (brief §7.2): A completes its work.
    done = AssignmentResponse(
        assignment_id=mine["assignment_id"],
        partner_id=a,
        decision="complete",
        outcome="laboratory audit done",
        deliverables=["https://example.org/audit.pdf"],
    )
    completion = build_record(done, source=f"/partners/{a}", subject=mine["request_id"])
    assert await asyncio.to_thread(produce, conf_a, completion, answers) is None
    finished = await wait_for(
        kafka,
        {str(request.request_id)},
        lambda es: any(d["assignment_id"] == mine["assignment_id"] for d in data(es, _COMPLETED)),
    )
    (completed,) = data(finished, _COMPLETED)
    assert (completed["partner_id"], completed["outcome"]) == (a, "laboratory audit done")
    assert completed["deliverables"] == ["https://example.org/audit.pdf"]
    assert await _status(pool, mine["assignment_id"]) == "completed"


_ACCEPTED = "ta.assignment.accepted"
_COMPLETED = "ta.assignment.completed"


def _submitted(body: dict[str, Any], claimed_source: str) -> OutgoingRecord:
    """A `ta.request.submitted` record whose value is `body` as sent, valid or not."""
    valid = RequestSubmitted.model_validate(submission(body["external_ref"]))
    made = build_record(valid, source=claimed_source, subject=str(uuid4()))
    return dataclasses.replace(made, value=json.dumps(body).encode())


def _read_all(conf: Conf, topic: str, group_id: str, want: int, wait: float = 45) -> list[Any]:
    consumer = Consumer({**conf, "group.id": group_id, "auto.offset.reset": "earliest"})
    seen: list[Any] = []
    deadline = time.monotonic() + wait
    try:
        consumer.subscribe([topic])
        while len(seen) < want and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen.append(message)
    finally:
        consumer.close()
    return seen


async def test_an_upstream_system_submits_on_its_topic_and_hears_back_on_its_own(
    services: Services,
    kafka: KafkaAccess,
    infra: stack.StackSettings,
    pool: asyncpg.Pool,
    unique: str,
) -> None:
    services.ensure("intake", "matcher")
    name = f"portal-{unique}"
    conf = await asyncio.to_thread(grant, infra, "submitter", name)
    requests_topic = topics.submitter_requests_topic(name)

    # Headers claim another source; the topic says who it is.
    # Brazil, not the Senegal sample: its offers would lower the headroom of the partners the
    # matcher tests rank.
    good = _submitted(
        submission(f"good-{unique}", party="BRA", languages=["es"]),
        claimed_source="/portal/someone-else",
    )
    forged = _submitted(
        submission(f"forged-{unique}") | {"submitter": "someone-else"}, claimed_source="/x"
    )
    bad = _submitted(submission(f"bad-{unique}", party="XXX"), claimed_source="/x")
    for sent in (good, forged, bad):
        assert await asyncio.to_thread(produce, conf, sent, requests_topic) is None

    dead = await _dead_letter(kafka, forged.ce_id)
    assert header(dead, "x-dlq-reason") == "identity_mismatch"
    assert header(dead, "x-dlq-service") == "intake"
    published = await collect(
        kafka,
        topics.REQUESTS,
        until=lambda rs: len(rs) >= 2,
        matching=lambda r: data_of(r).get("submitter") == name,
        wait=45,
    )
    by_type = {header(r, "ce_type"): data_of(r) for r in published}
    assert set(by_type) == {"ta.request.accepted", "ta.request.rejected"}
    assert by_type["ta.request.accepted"]["external_ref"] == f"good-{unique}"
    assert by_type["ta.request.rejected"]["external_ref"] == f"bad-{unique}"
    refs = await pool.fetch("SELECT external_ref FROM intake.requests WHERE submitter = $1", name)
    assert [r["external_ref"] for r in refs] == [f"good-{unique}"]

    # Its outcomes, read with its own credentials: acceptance, rejection and the offers.
    outcomes = await asyncio.to_thread(
        _read_all, conf, topics.submitter_outcomes_topic(name), group("submitter", name), 4
    )
    types = {dict(m.headers())["ce_type"].decode() for m in outcomes}
    assert {"ta.request.accepted", "ta.request.rejected", OFFERED} <= types

    # One namespace across HTTP and Kafka: its HTTP key sees the request it sent over Kafka.
    async with pool.acquire() as conn:
        _, key = await auth.create_key(conn, role="submitter", name="portal", submitter_id=name)
    request_id = by_type["ta.request.accepted"]["request_id"]
    async with httpx.AsyncClient(base_url=services.url("intake"), timeout=10) as http:
        seen = await http.get(f"/v1/requests/{request_id}", headers={"X-API-Key": key})
        assert seen.status_code == 200 and seen.json()["submitter"] == name
        async with pool.acquire() as conn:
            _, stranger = await auth.create_key(conn, role="submitter", name="portal")
        hidden = await http.get(f"/v1/requests/{request_id}", headers={"X-API-Key": stranger})
        assert hidden.status_code == 404


async def test_matcher_stops_within_seconds_while_its_group_rebalances(
    services: Services, kafka: KafkaAccess, infra: stack.StackSettings, unique: str
) -> None:
    """SIGTERM just as matcher's consumers take a new tenant topic (its pattern subscription
    found it, the group rebalanced) still ends the process in seconds, by its own shutdown.
    A consumer stopped then closes a connection with requests in flight (a fetch from where it
    committed, offset look-ups for the partitions it never committed on), whose TLS close the
    broker leaves unanswered: the Kafka clients used to wait 30 s for the answer, and the
    launcher killed the process at 20."""
    services.ensure("matcher")
    # A record every service skips, so that matcher has committed on one partition.
    skipped = RequestRejected(external_ref=f"stop-{unique}", submitter="tests", errors=[])
    await publish(kafka, [record(skipped, unique)])
    await _consumed(services.url("matcher"), 'consumer="matcher.requests",outcome="ignored"')
    log = infra.log_file("matcher")
    mark = log.stat().st_size
    await asyncio.to_thread(grant, infra, "partner", f"stop-{unique}")
    # aiokafka's line when a consumer takes its partitions: it looks their positions up next.
    await _logged_since(log, mark, "Setting newly assigned partitions", wait=30)
    pid = services.pid("matcher")
    started = time.monotonic()
    services.stop("matcher")
    took = time.monotonic() - started
    assert took < 6, f"matcher took {took:.1f}s to stop"
    assert f"Finished server process [{pid}]" in log.read_text(errors="replace")


async def _consumed(url: str, labels: str, wait: float = 30) -> None:
    deadline = time.monotonic() + wait
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        while time.monotonic() < deadline:
            metrics = (await http.get("/metrics")).text
            if f"stax_consumed_records_total{{{labels}}}" in metrics:
                return
            await asyncio.sleep(0.2)
    raise AssertionError(f"no record consumed with {labels} after {wait:.0f}s")


async def _logged_since(log: Path, mark: int, text: str, *, wait: float) -> None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        with log.open("rb") as lines:
            lines.seek(mark)
            if text.encode() in lines.read():
                return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{text!r} not in {log} after {wait:.0f}s")
