"""What the fuzzing found in shared.envelope, pinned: each is poison at parse time, with a reason,
instead of reaching PostgreSQL and being retried as if a handler had a bug."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from shared.envelope import PoisonRecord, parse_record
from tests.fuzz import strategies
from tests.fuzz.conftest import EXAMPLES

TYPE = "ta.assignment.response"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b'{"reason": "a\\u0000b"}', "unstorable_text"),  # PostgreSQL: no U+0000 in text/jsonb
        (b'{"a\\u0000": 1}', "unstorable_text"),
        (b'{"reason": "\\ud800"}', "unstorable_text"),  # a lone surrogate: no UTF-8 for it
        (b'{"x": [{"y": "\\udfff"}]}', "unstorable_text"),
        (b'{"score": NaN}', "not_json"),  # Python reads it; JSON has no such number
        (b'{"score": -Infinity}', "not_json"),
        (b'{"score": 1e999}', "not_json"),
        (b"[" * 10_000 + b"]" * 10_000, "not_a_cloudevent"),  # deeper than the decoder goes
    ],
)
def test_data_postgresql_cannot_store_is_poison(value: bytes, reason: str) -> None:
    with pytest.raises(PoisonRecord) as caught:
        parse_record(strategies.ce_headers(TYPE), b"k", value)
    assert caught.value.reason == reason


@pytest.mark.parametrize("attribute", ["ce_source", "ce_subject"])
def test_an_attribute_postgresql_cannot_store_is_poison(attribute: str) -> None:
    """Found by CI's fuzzing: a U+0000 in a header reached intake's text columns."""
    headers = [(k, b"a\x00b" if k == attribute else v) for k, v in strategies.ce_headers(TYPE)]
    if attribute not in dict(headers):
        headers.append((attribute, b"a\x00b"))
    with pytest.raises(PoisonRecord) as caught:
        parse_record(headers, b"k", b"{}")
    assert caught.value.reason == "unstorable_text"


def test_nesting_the_decoder_allows_is_still_read() -> None:
    deep = b'{"a":' + b"[" * 900 + b"]" * 900 + b"}"
    assert isinstance(parse_record(strategies.ce_headers(TYPE), b"k", deep).data["a"], list)


@pytest.mark.parametrize(
    ("header", "value"),
    [("ce_specversion", b"0.3"), ("ce_time", b"yesterday"), ("ce_time", b"2024-02-30T00:00:00Z")],
)
def test_a_cloudevent_the_contract_does_not_know_is_not_a_cloudevent(
    header: str, value: bytes
) -> None:
    with pytest.raises(PoisonRecord) as caught:
        parse_record(strategies.ce_headers(TYPE, **{header: value}), b"k", b"{}")
    assert caught.value.reason == "not_a_cloudevent"


@given(raw=strategies.records([TYPE, "ta.request.submitted"]))
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_parse_record_either_reads_a_record_or_calls_it_poison(raw: strategies.Raw) -> None:
    EXAMPLES["parse_record"] += 1
    try:
        envelope = parse_record(raw.headers, raw.key, raw.value)
    except PoisonRecord as poison:
        assert poison.reason and poison.error
        return
    assert isinstance(envelope.data, dict)
