"""Generated garbage through the real broker, with the three services running as processes.

On every topic a service consumes, the admin (a trusted producer, or one whose ACLs were
mistakenly broad) writes generated bad records to one partition, then one good record behind
them. No wedge: every consumer group reading the topic commits past the good record (offsets are
committed only once a record is applied, ignored or dead-lettered, so this is the proof that the
partition kept moving), and a bad record that a service did not simply ignore is in
`ta.deadletter.v1` with its topic and offset.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import TopicPartition
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from deploy.local import stack
from shared import topics
from shared.envelope import build_record
from shared.events import (
    AssignmentOffered,
    AssignmentResponse,
    Event,
    NotificationDelivered,
    RequestAccepted,
    RequestSubmitted,
    Role,
)
from shared.kafka_access import KafkaAccess
from tests.fuzz import strategies
from tests.fuzz.conftest import EXAMPLES
from tests.kafka_helpers import collect, header
from tests.stack_helpers import Services
from tests.tenants import grant

pytestmark = pytest.mark.e2e

BAD_PER_TOPIC = 6
MAX_RECORD = 900_000  # under the broker's 1 MiB limit, with room for the headers

SUBMITTER = "fuzzsub"
PARTNER = "fuzzpartner"


def _good(topic: str) -> Event:
    now = datetime.now(UTC)
    sample = strategies._sample
    if topic in (topics.REQUESTS_SUBMITTED, topics.submitter_requests_topic(SUBMITTER)):
        return RequestSubmitted.model_validate(sample("ta.request.submitted"))
    match topic:
        case topics.REQUESTS:
            return RequestAccepted.model_validate(sample("ta.request.accepted"))
        case topics.ASSIGNMENTS:
            return AssignmentOffered(
                assignment_id=uuid4(),
                request_id=uuid4(),
                partner_id="unido",
                partner_name="UNIDO",
                role=Role.LEAD,
                score=0.5,
                reasons=["fuzz"],
                covers_topics=["PCB"],
                respond_by=now + timedelta(days=5),
            )
        case topics.NOTIFICATIONS:
            return NotificationDelivered.model_validate(sample("ta.notification.delivered"))
        case _:  # the assignment-response topics, STAX's and the partner's own
            return AssignmentResponse(assignment_id=uuid4(), partner_id=PARTNER, decision="accept")


# topic → the consumer groups that read it
READERS = {
    topics.REQUESTS_SUBMITTED: ["stax-intake"],
    topics.submitter_requests_topic(SUBMITTER): ["stax-intake"],
    topics.REQUESTS: ["stax-intake", "stax-matcher", "stax-notifier"],
    topics.ASSIGNMENTS: ["stax-intake", "stax-notifier"],
    topics.ASSIGNMENT_RESPONSES: ["stax-matcher"],
    topics.partner_responses_topic(PARTNER): ["stax-matcher"],
    topics.NOTIFICATIONS: ["stax-intake"],
}


def _draw_bad(n: int) -> list[strategies.Raw]:
    """n generated bad records (garbage bytes and headers, or hostile JSON) that fit the broker."""
    types = [
        "ta.request.submitted",
        "ta.request.accepted",
        "ta.assignment.offered",
        "ta.assignment.response",
        "ta.notification.delivered",
    ]
    drawn: list[strategies.Raw] = []
    bad = st.one_of(strategies.garbage_records(types), strategies.hostile_json_records(types))

    @given(raw=bad)
    @settings(
        max_examples=n * 3,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def draw(raw: strategies.Raw) -> None:
        if len(drawn) < n and raw.size() < MAX_RECORD:
            drawn.append(raw)

    draw()
    return drawn


async def _committed(kafka: KafkaAccess, group: str, tp: TopicPartition) -> int:
    admin = AIOKafkaAdminClient(**kafka.aiokafka())
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=[tp])
    finally:
        await admin.close()
    meta = offsets.get(tp)
    return -1 if meta is None else int(meta.offset)


async def test_garbage_on_every_consumed_topic_never_wedges_a_partition(
    kafka: KafkaAccess, infra: stack.StackSettings, services: Services
) -> None:
    grant(infra, "submitter", SUBMITTER)  # the tenant topics exist before the services subscribe
    grant(infra, "partner", PARTNER)
    services.ensure()
    producer = AIOKafkaProducer(**kafka.aiokafka(), acks="all", max_request_size=1_048_576)
    await producer.start()
    sent: dict[str, tuple[list[int], int]] = {}  # topic → (bad offsets, the good one's offset)
    try:
        for topic in READERS:
            bad_offsets = []
            for raw in _draw_bad(BAD_PER_TOPIC):
                EXAMPLES[f"broker {topic}"] += 1
                value = b"" if raw.value is None and raw.key is None else raw.value
                meta = await producer.send_and_wait(
                    topic, value, key=raw.key, headers=raw.headers, partition=0
                )
                bad_offsets.append(meta.offset)
            good = build_record(_good(topic), source="/fuzz", subject=str(uuid4()))
            meta = await producer.send_and_wait(
                topic,
                good.value,
                key=good.key,
                headers=[(k, v.encode()) for k, v in good.headers.items()],
                partition=0,
            )
            sent[topic] = (bad_offsets, meta.offset)
    finally:
        await producer.stop()

    began = datetime.now(UTC) - timedelta(minutes=2)  # before the services started
    deadline = time.monotonic() + 90
    behind: dict[tuple[str, str], int] = {}
    while time.monotonic() < deadline:
        behind = {}
        for topic, groups in READERS.items():
            good_offset = sent[topic][1]
            for group in groups:
                committed = await _committed(kafka, group, TopicPartition(topic, 0))
                if committed <= good_offset:
                    behind[(topic, group)] = committed
        if not behind:
            break
        await asyncio.sleep(1)
    if behind:  # say where each wedged group's service stands: the logs go with the runner
        stands = [
            await services.where_it_stands(group.removeprefix("stax-"), began)
            for group in sorted({group for _, group in behind})
        ]
        pytest.fail(
            f"wedged (committed offset not past the good record): {behind}\n" + "\n".join(stands)
        )

    dead = await collect(kafka, topics.DEADLETTER, until=lambda _: False, wait=3)
    lettered = {
        (header(d, "x-dlq-topic"), int(header(d, "x-dlq-offset") or -1)): (
            header(d, "x-dlq-reason"),
            header(d, "x-dlq-error"),
        )
        for d in dead
    }
    for topic, (bad_offsets, good_offset) in sent.items():
        # A bad record a reader could not read is dead-lettered; a readable one of a type a
        # reader does not handle may be ignored, which is fine. The good submissions are applied.
        if topic in (topics.REQUESTS_SUBMITTED, topics.submitter_requests_topic(SUBMITTER)):
            letter = lettered.get((topic, good_offset))
            assert letter is None, f"the good submission on {topic} was dead-lettered: {letter}"
        missing = [o for o in bad_offsets if (topic, o) not in lettered]
        EXAMPLES[f"broker {topic}: bad records dead-lettered"] += len(bad_offsets) - len(missing)
