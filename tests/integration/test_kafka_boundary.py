"""The broker is a boundary (brief §7.1): outsiders authenticate, and a tenant reaches only its
own topics — probed the way an attacker holding one partner's credentials would."""

from __future__ import annotations

import threading
import time
from uuid import uuid4

from confluent_kafka import Consumer, TopicCollection
from confluent_kafka.admin import AdminClient, NewTopic

from deploy.local.stack import StackSettings
from shared import topics
from shared.envelope import OutgoingRecord, build_record
from shared.events import AssignmentResponse
from tests.tenants import Conf, admin_error, connects, grant, group, produce, read_error, revoke

TOPIC_DENIED = "TOPIC_AUTHORIZATION_FAILED"


def _answer(partner: str) -> OutgoingRecord:
    return build_record(
        AssignmentResponse(assignment_id=uuid4(), partner_id=partner, decision="accept"),
        source="/tests",
        subject=str(uuid4()),
    )


def _partners(infra: StackSettings, unique: str) -> tuple[str, str, Conf, Conf]:
    a, b = f"pa-{unique}", f"pb-{unique}"
    return a, b, grant(infra, "partner", a), grant(infra, "partner", b)


def test_no_credentials_a_wrong_password_and_plaintext_are_refused(
    infra: StackSettings, unique: str
) -> None:
    good = grant(infra, "partner", f"pc-{unique}")
    assert connects(good)
    assert not connects(good | {"sasl.password": "not-the-password"})
    tls_only = {k: v for k, v in good.items() if not k.startswith("sasl.")}
    assert not connects(tls_only | {"security.protocol": "SSL"})
    plaintext = {"bootstrap.servers": good["bootstrap.servers"], "security.protocol": "PLAINTEXT"}
    assert not connects(plaintext)
    without_our_ca = {k: v for k, v in good.items() if k != "ssl.ca.location"}
    assert not connects(without_our_ca)


def test_a_partner_reads_only_its_own_topic(infra: StackSettings, unique: str) -> None:
    a, b, conf_a, _ = _partners(infra, unique)
    admin = infra.kafka_access().librdkafka()
    for partner in (a, b):  # something to read on both topics
        assert produce(admin, _answer(partner), topics.partner_topic(partner)) is None
    assert read_error(conf_a, topics.partner_topic(a), group("partner", a)) is None
    for foreign in (topics.partner_topic(b), topics.REQUESTS, topics.ASSIGNMENTS):
        assert read_error(conf_a, foreign, group("partner", a)) == TOPIC_DENIED, foreign


def test_a_partner_writes_only_its_own_answers_topic(infra: StackSettings, unique: str) -> None:
    a, b, conf_a, _ = _partners(infra, unique)
    assert produce(conf_a, _answer(a), topics.partner_responses_topic(a)) is None
    forbidden = (
        topics.ASSIGNMENTS,
        topics.REQUESTS,
        topics.REQUESTS_SUBMITTED,
        topics.ASSIGNMENT_RESPONSES,
        topics.partner_responses_topic(b),
        topics.partner_topic(a),  # its own mirror is read-only: only notifier writes it
    )
    for topic in forbidden:
        assert produce(conf_a, _answer(a), topic) == TOPIC_DENIED, topic


def test_a_partner_can_neither_join_stax_groups_nor_manage_topics(
    infra: StackSettings, unique: str
) -> None:
    a, _, conf_a, _ = _partners(infra, unique)
    admin = infra.kafka_access().librdkafka()
    assert produce(admin, _answer(a), topics.partner_topic(a)) is None
    for stax_group in ("stax-matcher", "stax-intake", "stax-notifier", f"partner.x{unique}.g"):
        assert (
            read_error(conf_a, topics.partner_topic(a), stax_group) == "GROUP_AUTHORIZATION_FAILED"
        )
    assert admin_error(conf_a, "delete_topics", [topics.REQUESTS]) == TOPIC_DENIED
    assert admin_error(conf_a, "delete_topics", [topics.partner_topic(a)]) == TOPIC_DENIED
    assert (
        admin_error(conf_a, "create_topics", [NewTopic(f"ta.x-{unique}.v1", 1, 1)]) == TOPIC_DENIED
    )
    assert admin_error(conf_a, "describe_topics", TopicCollection([topics.REQUESTS])) == (
        TOPIC_DENIED
    )
    assert (
        admin_error(conf_a, "describe_topics", TopicCollection([topics.partner_topic(a)])) is None
    )
    visible = set(_list_topics(conf_a))
    assert visible == {topics.partner_topic(a), topics.partner_responses_topic(a)}


def test_an_upstream_system_writes_its_requests_and_reads_its_outcomes_only(
    infra: StackSettings, unique: str
) -> None:
    name = f"portal-{unique}"
    conf = grant(infra, "submitter", name)
    record = _answer("x")  # the content is irrelevant to the broker
    assert produce(conf, record, topics.submitter_requests_topic(name)) is None
    assert produce(conf, record, topics.REQUESTS_SUBMITTED) == TOPIC_DENIED
    assert produce(conf, record, topics.submitter_outcomes_topic(name)) == TOPIC_DENIED
    assert read_error(conf, topics.submitter_requests_topic(name), group("submitter", name)) == (
        TOPIC_DENIED
    )


def test_a_revoked_partner_is_cut_off_at_once(infra: StackSettings, unique: str) -> None:
    partner = f"pr-{unique}"
    conf = grant(infra, "partner", partner)
    admin = infra.kafka_access().librdkafka()
    topic = topics.partner_topic(partner)
    assert produce(admin, _answer(partner), topic) is None
    consumer = Consumer(
        conf | {"group.id": group("partner", partner), "auto.offset.reset": "earliest"}
    )
    stop = threading.Event()
    feeder = threading.Thread(target=_feed, args=(admin, partner, stop), daemon=True)
    try:
        consumer.subscribe([topic])
        assert _first_record(consumer) is None  # reading while granted
        feeder.start()
        revoked_at = time.monotonic()
        assert revoke(infra, "partner", partner) == 3
        error = _first_error(consumer, wait=30)
        cut_off = time.monotonic() - revoked_at
    finally:
        stop.set()
        consumer.close()
    print(f"revoked partner's open consumer refused after {cut_off:.2f} s: {error}")
    assert error == TOPIC_DENIED
    assert cut_off < 10
    assert not connects(conf)  # the old password no longer opens a connection


def _feed(admin: Conf, partner: str, stop: threading.Event) -> None:
    while not stop.is_set():
        produce(admin, _answer(partner), topics.partner_topic(partner))
        time.sleep(0.1)


def _first_record(consumer: Consumer, wait: float = 20) -> str | None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is not None:
            error = message.error()
            return None if error is None else str(error.name())
    return "nothing read"


def _first_error(consumer: Consumer, wait: float) -> str | None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        message = consumer.poll(0.2)
        error = None if message is None else message.error()
        if error is not None:
            return str(error.name())
    return None


def _list_topics(conf: Conf) -> list[str]:
    return list(AdminClient(dict(conf)).list_topics(timeout=10).topics)
