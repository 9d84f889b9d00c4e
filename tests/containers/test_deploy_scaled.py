"""`make deploy-test`: the compose file on this machine's images, scaled to three matchers and
two notifiers (host networking, each replica on its own port), proves that

- one request flows end to end through the containers to a partner's signed webhook;
- the three matchers share the partitions (the consumer group's description);
- `docker kill` of a matcher mid-stream loses no request and offers no slot twice.

Needs a Docker engine and the images (`make images`); run by `make deploy-test`, not `make test`.
"""

from __future__ import annotations

import asyncio
import collections
import os
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from confluent_kafka.admin import AdminClient

from deploy.containers import images
from deploy.local.receiver import Received, WebhookReceiver
from shared import topics
from shared.auth import create_key
from shared.kafka_access import KafkaAccess
from tests.containers.compose import ComposeProject, Ports
from tests.intake.events import eventually
from tests.kafka_helpers import Record, collect, data_of, header

pytestmark = pytest.mark.containers

SCALE = {"intake": 1, "matcher": 3, "notifier": 2}
LEAD = "scrc-senegal"  # matcher's pick for a French-speaking Senegal PCB request
MIX: list[tuple[str, list[str], list[str]]] = [
    ("SEN", ["PCB"], ["fr"]),
    ("BRA", ["MONLAB", "WASTE"], ["es"]),
    ("CHN", ["UPOP", "BATBEP"], ["zh"]),
    ("KEN", ["PEST"], ["en"]),
    ("IND", ["PEST", "FIN"], ["en"]),
    ("MLI", ["PCB", "LEGAL"], ["fr"]),
]
DECIDED = {"ta.assignment.offered", "ta.request.waiting", "ta.request.unmatched"}


@dataclass
class Deployment:
    project: ComposeProject
    kafka: KafkaAccess  # admin, over TLS with the deployment's own CA
    database_url: str
    submitter: str
    operator: str

    @property
    def ports(self) -> Ports:
        return self.project.ports


@pytest.fixture(scope="module")
def project() -> Iterator[ComposeProject]:
    for image in images.images():
        assert images.exists(image.tag), f"{image.tag} is missing: run `make images` first"
    home = Path(tempfile.mkdtemp(prefix="stax-deploy-test-"))
    ports = Ports(int(os.environ.get("STAX_DEPLOY_PORT_BASE", "25000")))
    made = ComposeProject(
        "stax-deploy-test", home, ports,
        extra_env={"STAX_NOTIFIER_ALLOW_SUBNETS": '["127.0.0.1/32"]'},
    )  # fmt: skip
    made.down()  # leftovers of an interrupted run
    started = time.monotonic()
    try:
        made.compose(
            "up", "-d", "--no-build",
            *(arg for svc, n in SCALE.items() for arg in ("--scale", f"{svc}={n}")),
        )  # fmt: skip
        made.wait_healthy(SCALE)
        print(f"\n[deploy-test] compose up, scaled {SCALE}: {time.monotonic() - started:.1f}s")
        yield made
    except BaseException:
        print(made.logs(tail=60))
        raise
    finally:
        made.down()


@pytest.fixture(scope="module")
async def deployment(project: ComposeProject) -> AsyncIterator[Deployment]:
    ca = project.home / "ca.crt"
    ca.write_bytes(project.volume_file("kafka-ca", "ca.crt", images.tag_of("stax")))
    kafka = KafkaAccess(
        f"127.0.0.1:{project.ports.kafka}", "SASL_SSL", "admin",
        project.passwords["STAX_KAFKA_PASSWORD_ADMIN"], str(ca),
    )  # fmt: skip
    password = project.passwords["STAX_POSTGRES_PASSWORD"]
    url = f"postgresql://stax:{password}@127.0.0.1:{project.ports.postgres}/stax"
    conn = await asyncpg.connect(url)
    try:
        _, submitter = await create_key(conn, role="submitter", name="deploy-test-portal")
        _, operator = await create_key(conn, role="operator", name="deploy-test-operator")
    finally:
        await conn.close()
    yield Deployment(project, kafka, url, submitter, operator)


def _submission(
    ref: str, party: str, topic_codes: list[str], languages: list[str]
) -> dict[str, Any]:
    return {
        "external_ref": ref,
        "party": party,
        "title": "Technical assistance",
        "description": "Help with the national implementation plan.",
        "topics": topic_codes,
        "assistance_types": ["training"],
        "languages": languages,
        "urgency": "routine",
        "needed_by": (date.today() + timedelta(days=90)).isoformat(),
        "contact": {
            "name": "A. Person",
            "email": "a.person@example.org",
            "organisation": "Ministry",
        },
    }


async def _submit(http: httpx.AsyncClient, dep: Deployment, body: dict[str, Any]) -> str:
    answer = await http.post(
        f"http://127.0.0.1:{dep.ports.intake}/v1/requests",
        json=body, headers={"Authorization": f"Bearer {dep.submitter}"},
    )  # fmt: skip
    assert answer.status_code == 202, answer.text
    return str(answer.json()["request_id"])


async def test_a_request_flows_end_to_end_through_the_containers(deployment: Deployment) -> None:
    receiver = WebhookReceiver().start()
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            # Either notifier replica serves the registry; the first took the span's first port.
            made = await http.post(
                f"http://127.0.0.1:{deployment.ports.notifier}/v1/partners/{LEAD}/endpoints",
                json={"url": receiver.url, "event_types": ["ta.assignment.offered"]},
                headers={"Authorization": f"Bearer {deployment.operator}"},
            )
            assert made.status_code == 201, made.text
            receiver.secrets.append(made.json()["secret"])
            request_id = await _submit(
                http, deployment, _submission("deploy-e2e", "SEN", ["PCB"], ["fr"])
            )

            def offer(r: Received) -> bool:
                return bool(r.verified and r.body and r.body["data"]["request_id"] == request_id)

            got = await asyncio.to_thread(receiver.wait_for, offer, 60.0)
            assert got, f"no verified offer webhook for {request_id}: {receiver.received}"
            assert got[0].body is not None and got[0].body["data"]["partner_id"] == LEAD
            # intake's timeline reads the offer on its own (gathering up to 200 ms by default),
            # so it may follow the webhook by a moment.
            status = await eventually(
                lambda: http.get(
                    f"http://127.0.0.1:{deployment.ports.intake}/v1/requests/{request_id}",
                    headers={"Authorization": f"Bearer {deployment.submitter}"},
                ),
                lambda got: got.status_code != 200 or got.json()["status"] != "accepted",
                wait=5,
            )
            assert status.status_code == 200, status.text
            assert status.json()["status"] in {"offered", "matched", "matching"}, status.json()
    finally:
        receiver.stop()


def _matcher_members(kafka: KafkaAccess) -> dict[str, set[tuple[str, int]]]:
    """client host+id of each member of stax-matcher -> the partitions it holds."""
    admin = AdminClient(dict(kafka.librdkafka()))
    group = admin.describe_consumer_groups(["stax-matcher"])["stax-matcher"].result(timeout=30)
    return {
        member.member_id: {(tp.topic, tp.partition) for tp in member.assignment.topic_partitions}
        for member in group.members
    }


async def _members_when(
    kafka: KafkaAccess, settled: Any, within: float = 90.0
) -> dict[str, set[tuple[str, int]]]:
    deadline = time.monotonic() + within
    while True:
        members = await asyncio.to_thread(_matcher_members, kafka)
        if settled(members) or time.monotonic() > deadline:
            return members
        await asyncio.sleep(1.0)


def _holders_of_requests(members: dict[str, set[tuple[str, int]]]) -> list[set[int]]:
    return [{p for t, p in held if t == topics.REQUESTS} for held in members.values()]


async def test_the_three_matchers_share_the_partitions(deployment: Deployment) -> None:
    assert len(deployment.project.running("matcher")) == 3

    def spread(members: dict[str, set[tuple[str, int]]]) -> bool:
        holding = [held for held in _holders_of_requests(members) if held]
        return len(holding) == 3

    members = await _members_when(deployment.kafka, spread)
    holding = [held for held in _holders_of_requests(members) if held]
    # Each matcher process subscribes twice (the fixed topics and the tenants' pattern), so the
    # group has 6 members; the 6 partitions of ta.requests.v1 are spread over three of them,
    # one per process, and none is held twice.
    assert len(members) == 6, members
    assert len(holding) == 3, members
    assert sorted(p for held in holding for p in held) == list(
        range(topics.PARTITIONS[topics.REQUESTS])
    )


async def test_killing_a_matcher_loses_nothing_and_offers_nothing_twice(
    deployment: Deployment,
) -> None:
    matchers = deployment.project.running("matcher")
    assert len(matchers) == 3
    sent: list[str] = []
    async with httpx.AsyncClient(timeout=10) as http:
        for n in range(18):
            party, codes, langs = MIX[n % len(MIX)]
            sent.append(
                await _submit(http, deployment, _submission(f"kill-{n}", party, codes, langs))
            )
            if n == 6:
                deployment.project.kill(matchers[0])  # SIGKILL: no goodbye to the group
    assert len(deployment.project.running("matcher")) == 2
    wanted = set(sent)

    def decided(records: list[Record]) -> bool:
        return {data_of(r).get("request_id") for r in records} >= wanted

    def ours(record: Record) -> bool:
        return header(record, "ce_type") in DECIDED and data_of(record).get("request_id") in wanted

    async def read(topic: str) -> list[Record]:
        return await collect(deployment.kafka, topic, until=lambda rs: False, wait=5, matching=ours)

    deadline = time.monotonic() + 120
    records: list[Record] = []
    while not decided(records) and time.monotonic() < deadline:
        records = await read(topics.ASSIGNMENTS) + await read(topics.REQUESTS)
    missing = wanted - {data_of(r).get("request_id") for r in records}
    assert not missing, f"{len(missing)} of {len(wanted)} requests never matched: lost"
    offers = [data_of(r) for r in records if header(r, "ce_type") == "ta.assignment.offered"]
    by_slot = collections.defaultdict(set)
    for offer in offers:
        by_slot[(offer["request_id"], offer["partner_id"])].add(offer["assignment_id"])
    twice = {slot: ids for slot, ids in by_slot.items() if len(ids) > 1}
    assert not twice, f"offered twice: {twice}"
    # And the two survivors hold every partition the killed one had.
    members = await _members_when(
        deployment.kafka, lambda m: len([h for h in _holders_of_requests(m) if h]) == 2
    )
    holding = [held for held in _holders_of_requests(members) if held]
    assert sorted(p for held in holding for p in held) == list(
        range(topics.PARTITIONS[topics.REQUESTS])
    )
