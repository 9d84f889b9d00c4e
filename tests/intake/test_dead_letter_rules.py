"""When a dead letter may be replayed, and what goes back (domain.dead_letters): from a topic a
STAX service consumes, whole, as it was, where it was; a hostile or broken x-dlq-* header is
refused, never followed."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import ConsumerRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.domain.dead_letters import (
    PUBLISHER_HEADERS,
    DeadLetter,
    Refusal,
    Replay,
    origin,
    original_headers,
    preview,
    refusal,
    replay_of,
)
from shared import bounds, kafka, topics
from tests.intake.dead_letters import dead_lettered, hand_made, original

DLQ = {
    "x-dlq-reason": "invalid_data",
    "x-dlq-error": "it broke",
    "x-dlq-topic": topics.REQUESTS,
    "x-dlq-partition": "2",
    "x-dlq-offset": "41",
    "x-dlq-service": "matcher",
}


def _refused(letter: DeadLetter) -> Refusal:
    outcome = replay_of(letter)
    assert isinstance(outcome, Refusal), outcome
    return outcome


async def test_a_dead_letter_goes_back_as_it_was_to_its_topic_and_partition() -> None:
    record = original(
        topics.REQUESTS, headers=[("ce_type", b"ta.request.matched"), ("ce_id", b"e-1")]
    )
    letter = await dead_lettered(record)
    assert origin(letter).topic == topics.REQUESTS
    assert (origin(letter).partition, origin(letter).offset) == (2, 41)
    assert replay_of(letter) == Replay(
        topic=topics.REQUESTS,
        partition=2,
        key=record.key,
        value=record.value or b"",
        headers=(("ce_type", b"ta.request.matched"), ("ce_id", b"e-1")),
    )


@pytest.mark.parametrize(
    "topic",
    [topics.partner_responses_topic("scrc-kenya"), topics.submitter_requests_topic("chm-portal")],
)
async def test_a_tenants_record_goes_back_to_the_tenants_topic(topic: str) -> None:
    replay = replay_of(await dead_lettered(original(topic)))
    assert isinstance(replay, Replay) and replay.topic == topic


@pytest.mark.parametrize(
    "topic",
    [
        "__consumer_offsets",
        "__cluster_metadata",
        topics.DEADLETTER,
        topics.partner_topic("scrc-kenya"),  # read by the partner, never by STAX
        topics.submitter_outcomes_topic("chm-portal"),
        "ta.partner.scrc-kenya.responses.v2",
        "ta.partner.SCRC.responses.v1",
        "ta.partner.a.b.responses.v1",
        "ta.requests.v1\n",
        "",
        "ta.submitter." + "a" * 300 + ".requests.v1",
    ],
)
def test_a_topic_stax_does_not_consume_is_refused(topic: str) -> None:
    refused = _refused(hand_made(DLQ | {"x-dlq-topic": topic}))
    assert refused.code == "invalid_origin"


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("x-dlq-partition", "-2"),
        ("x-dlq-partition", "+1"),
        ("x-dlq-partition", " 1"),
        ("x-dlq-partition", "١"),  # an Arabic-Indic one: a digit to str.isdigit, not to Kafka
        ("x-dlq-partition", str(2**31)),
        ("x-dlq-offset", "forty-one"),
        ("x-dlq-offset", "99999999999999999999"),
    ],
)
def test_a_partition_or_offset_that_is_not_one_is_refused(header: str, value: str) -> None:
    assert _refused(hand_made(DLQ | {header: value})).code == "invalid_origin"


@pytest.mark.parametrize("missing", ["x-dlq-topic", "x-dlq-partition", "x-dlq-offset"])
def test_a_dead_letter_without_its_origin_is_refused(missing: str) -> None:
    letter = hand_made({k: v for k, v in DLQ.items() if k != missing})
    assert _refused(letter).code == "invalid_origin"


def test_a_second_origin_header_is_refused_rather_than_guessed_between() -> None:
    letter = hand_made(DLQ)
    doubled = DeadLetter(
        letter.offset,
        letter.timestamp,
        letter.key,
        letter.value,
        letter.size,
        (*letter.headers, ("x-dlq-topic", b"__consumer_offsets")),
    )
    assert _refused(doubled).code == "invalid_origin"


async def test_a_dropped_value_is_not_replayed_and_says_where_the_original_is() -> None:
    big = b"x" * (bounds.DLQ_MAX_VALUE_BYTES + 1)
    letter = await dead_lettered(original(topics.REQUESTS_SUBMITTED, value=big))
    assert letter.value == b""
    refused = _refused(letter)
    assert refused.code == "value_dropped"
    assert f"{len(big)} bytes" in refused.message and "x-dlq-offset" in refused.message


def test_a_quarantined_outbox_row_was_never_a_record_and_is_not_replayed() -> None:
    quarantined = DLQ | {
        "x-dlq-reason": "outbox_quarantined",
        "x-dlq-partition": "-1",
        "x-dlq-offset": "-1",
        "x-dlq-service": "intake",
        "x-dlq-outbox-id": "812",
    }
    refused = _refused(hand_made(quarantined, value=b""))
    assert refused.code == "never_published"
    assert "812" in refused.message and "intake.outbox" in refused.message


@pytest.mark.parametrize(
    "headers",
    [
        [("ce_type", b"a"), ("ce_type", b"b")],  # a namesake: the dead letter keeps one
        [("ce_type", b"\xff\xfe")],  # not UTF-8: kept as escapes
        [("long", b"x" * (bounds.DLQ_MAX_HEADER_CHARS + 1))],
        [(f"h{n}", b"") for n in range(bounds.DLQ_MAX_HEADERS + 1)],
        [("x-dlq-topic", b"ta.requests.v1")],  # the original's own: the replay would lose it
    ],
)
async def test_headers_the_dead_letter_could_not_keep_as_they_were_are_not_replayed(
    headers: list[tuple[str, bytes]],
) -> None:
    letter = await dead_lettered(original(topics.REQUESTS, headers=headers))
    assert _refused(letter).code == "altered"


async def test_a_key_cut_to_fit_is_not_replayed() -> None:
    key = b"k" * (bounds.DLQ_MAX_HEADER_CHARS + 1)
    assert _refused(await dead_lettered(original(topics.REQUESTS, key=key))).code == "altered"


def test_a_dead_letter_from_before_x_dlq_altered_is_judged_by_the_bounds() -> None:
    at_the_bound = "y" * bounds.DLQ_MAX_HEADER_CHARS
    assert _refused(hand_made(DLQ | {"ce_subject": at_the_bound})).code == "altered"
    assert _refused(hand_made(DLQ | {"ce_subject": "caf\\xc3"})).code == "altered"
    assert refusal(hand_made(DLQ | {"ce_subject": "café"})) is None


def test_the_domain_strips_the_headers_dead_letters_say_faststream_added() -> None:
    assert set(kafka.PUBLISHER_HEADERS) == PUBLISHER_HEADERS


def test_a_listing_shows_a_bounded_preview_as_text() -> None:
    value = "é".encode() * 3000 + b"\xff"
    letter = hand_made(DLQ, value=value)
    shown = preview(letter)
    assert len(shown.encode()) <= 2048 + 3  # a character cut in two is one replacement mark
    assert shown.startswith("ééé")


# --------------------------------------------------------------------------- property

header_names = st.text(max_size=12) | st.sampled_from(["ce_type", "ce_id", "x-dlq-topic"])
header_values = st.binary(max_size=16) | st.text(max_size=16).map(str.encode)
originals = st.builds(
    original,
    st.sampled_from(
        [*topics.CONSUMED, topics.partner_responses_topic("p-1"), "__consumer_offsets"]
    ),
    key=st.none() | st.binary(max_size=40),
    value=st.none() | st.binary(max_size=64) | st.just(b"v" * (bounds.DLQ_MAX_VALUE_BYTES + 1)),
    headers=st.lists(st.tuples(header_names, header_values), max_size=6),
    partition=st.integers(0, 5),
    offset=st.integers(0, 2**40),
)


@settings(max_examples=300, deadline=None)
@given(originals)
def test_whatever_is_replayed_is_exactly_the_record_that_failed(
    record: ConsumerRecord[bytes, bytes],
) -> None:
    letter = asyncio.run(dead_lettered(record))
    outcome = replay_of(letter)
    if isinstance(outcome, Refusal):
        return
    assert (outcome.topic, outcome.partition) == (record.topic, record.partition)
    assert (outcome.key or b"", outcome.value) == (record.key or b"", record.value or b"")
    # The same headers; FastStream puts content-type and correlation_id first, wherever they were.
    assert outcome.headers == original_headers(letter)
    assert sorted(outcome.headers) == sorted(record.headers)
