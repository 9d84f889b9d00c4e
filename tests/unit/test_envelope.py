from __future__ import annotations

from uuid import UUID, uuid4

import pytest
from cloudevents.core.bindings import kafka as ce_kafka

from shared.envelope import PoisonRecord, build_record, parse_record
from shared.events import AssignmentResponse


def _response() -> AssignmentResponse:
    return AssignmentResponse(assignment_id=uuid4(), partner_id="unido", decision="accept")


def _headers(record_headers: dict[str, str]) -> list[tuple[str, bytes | None]]:
    return [(k, v.encode()) for k, v in record_headers.items()]


def test_record_carries_cloudevents_binary_headers_and_request_key() -> None:
    record = build_record(_response(), source="/stax/intake", subject="req-1")
    assert record.key == b"req-1"
    assert record.topic == "ta.assignments.responses.v1"
    assert record.headers["ce_specversion"] == "1.0"
    assert record.headers["ce_type"] == "ta.assignment.response"
    assert record.headers["ce_source"] == "/stax/intake"
    assert record.headers["ce_subject"] == "req-1"
    assert record.headers["content-type"] == "application/json"
    assert UUID(record.headers["ce_id"]) == record.ce_id
    assert record.headers["ce_time"].endswith("Z")


def test_record_is_readable_by_the_cloudevents_sdk() -> None:
    event = _response()
    record = build_record(event, source="/stax/intake", subject="req-1")
    message = ce_kafka.KafkaMessage(
        headers={k: v.encode() for k, v in record.headers.items()},
        key=record.key,
        value=record.value,
    )
    for read in (ce_kafka.from_binary_event, ce_kafka.from_kafka_event):
        parsed = read(message)
        assert parsed.get_type() == "ta.assignment.response"
        assert parsed.get_id() == str(record.ce_id)
        assert parsed.get_data() == event.model_dump(mode="json")


def test_parse_round_trips_what_build_wrote() -> None:
    event = _response()
    record = build_record(event, source="/stax/matcher", subject="r")
    envelope = parse_record(_headers(record.headers), record.key, record.value)
    assert envelope.id == record.ce_id
    assert envelope.source == "/stax/matcher"
    assert AssignmentResponse.model_validate(envelope.data) == event


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"garbage", "not_json"),
        (b"{not json", "not_json"),
        (b"[1, 2]", "not_json_object"),
        (b"\xff\xfe", "not_json"),
    ],
)
def test_unreadable_values_are_poison_with_a_reason(value: bytes, reason: str) -> None:
    record = build_record(_response(), source="/s", subject="r")
    with pytest.raises(PoisonRecord) as caught:
        parse_record(_headers(record.headers), record.key, value)
    assert caught.value.reason == reason


def test_missing_cloudevents_headers_are_poison() -> None:
    with pytest.raises(PoisonRecord) as caught:
        parse_record([("content-type", b"application/json")], b"k", b"{}")
    assert caught.value.reason == "not_a_cloudevent"
    assert "source" in caught.value.error


def test_a_ce_id_that_is_not_a_uuid_is_poison() -> None:
    record = build_record(_response(), source="/s", subject="r")
    headers = record.headers | {"ce_id": "not-a-uuid"}
    with pytest.raises(PoisonRecord) as caught:
        parse_record(_headers(headers), record.key, record.value)
    assert caught.value.reason == "bad_ce_id"


def test_a_header_that_is_not_utf8_is_poison() -> None:
    record = build_record(_response(), source="/s", subject="r")
    headers = [*_headers(record.headers), ("ce_extra", b"\xff")]
    with pytest.raises(PoisonRecord) as caught:
        parse_record(headers, record.key, record.value)
    assert caught.value.reason == "bad_encoding"
