"""Hostile submissions: whatever a submitter sends, the answer stays small (no I/O).

A rejection is published to Kafka through the outbox; an answer larger than the producer's
limit could never be sent. So the size of `ta.request.rejected` must not grow with the input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any
from uuid import uuid4

import pytest

from services.intake.adapters.reference_data import load_reference
from services.intake.domain import submissions
from shared.envelope import build_record
from shared.events import FieldError, RequestRejected, RequestSubmission
from tests.intake.samples import submission

REFERENCE = load_reference()
TODAY = date(2026, 11, 27)
ALMOST_A_MEGABYTE = 900_000  # what a Kafka record (1 MiB by default) can carry, and then some
REJECTION_BUDGET = 64 * 1024
LISTS = ("topics", "assistance_types", "pops", "languages")


def _compact(raw: object) -> int:
    return len(json.dumps(raw, separators=(",", ":")))


def _worst_cases() -> Iterator[tuple[str, dict[str, Any]]]:
    """Submissions of ~0.9 MB shaped to make a naive validator's answer as large as possible."""
    n = ALMOST_A_MEGABYTE
    yield "many short unknown codes", submission("r", topics=["x"] * (n // 4))
    yield "many items of the wrong type", submission("r", topics=[0] * (n // 2))
    yield "long unknown codes", submission("r", topics=["x" * 1000] * (n // 1004))
    yield "every list full of bad codes", submission("r", **{f: ["zz"] * (n // 20) for f in LISTS})
    yield (
        "huge strings everywhere",
        submission(
            "r" * (n // 6),
            party="Q" * (n // 6),
            title="t" * (n // 6),
            description="d" * (n // 6),
            contact={"name": "n" * (n // 6), "email": "e" * (n // 6), "organisation": "o"},
        ),
    )
    yield (
        "many unknown keys",
        submission("r", party="USA") | {f"k{i}": [i] for i in range(n // 12)},
    )
    yield (
        "every field at its bound, all of it wrong",
        submission(
            "r" * 128,
            party="QQQ",
            title=" " * 200,
            description=" " * 5000,
            **{f: [f"{n:02d}" + "z" * 30 for n in range(20)] for f in LISTS},
            needed_by="2000-01-01",
            contact={"name": " " * 200, "email": "@" * 254, "organisation": " " * 300},
        )
        | {"padding": "p" * n},
    )
    yield "deep nesting", submission("r", title=_nested(900), description=[_nested(400)] * 1000)


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def _rejection(raw: dict[str, Any]) -> RequestRejected:
    """What intake's Kafka handler builds from a refused submission."""
    errors = submissions.validate(raw, REFERENCE, TODAY)
    assert isinstance(errors, list), "expected the submission to be refused"
    ref = raw.get("external_ref")
    return RequestRejected(
        external_ref=ref if isinstance(ref, str) else None, submitter="/portal/x", errors=errors
    )


@pytest.mark.parametrize(
    ("shape", "raw"), [pytest.param(shape, raw, id=shape) for shape, raw in _worst_cases()]
)
def test_a_worst_case_submission_is_answered_by_a_small_rejection_record(
    shape: str, raw: dict[str, Any]
) -> None:
    assert _compact(raw) > 500_000, f"{shape}: the test input itself is meant to be huge"
    record = build_record(_rejection(raw), source="/stax/intake", subject=str(uuid4()))
    size = (
        len(record.value)
        + len(record.key)
        + sum(len(k) + len(v) for k, v in record.headers.items())
    )
    assert size < REJECTION_BUDGET, f"{shape}: {size} bytes"


def test_at_most_fifty_errors_then_one_that_says_how_many_more() -> None:
    raw = submission("r", **{f: ["zz"] * 20 for f in LISTS})  # 80 unknown codes
    errors = submissions.validate(raw, REFERENCE, TODAY)
    assert isinstance(errors, list)
    assert len(errors) == 51
    assert all(e.field is not None for e in errors[:50])
    summary = errors[50]
    assert (summary.field, summary.code) == (None, "too_many_errors")
    assert summary.message == "… and 30 more"


def test_a_few_errors_are_all_reported_without_a_summary() -> None:
    errors = submissions.validate(submission("r", topics=["zz"] * 3), REFERENCE, TODAY)
    assert isinstance(errors, list)
    assert [e.code for e in errors] == ["unknown_topic"] * 3


def test_an_error_message_never_quotes_what_was_sent_at_length() -> None:
    tail = "TAIL-OF-A-VERY-LONG-VALUE"
    raw = submission(
        "r",
        topics=["x" * 10_000 + tail],
        pops=["p" * 31 + "q"],  # within the bound: quoted, as it is short
        contact={
            "name": "n",
            "email": "\u00e9" * 3000 + "<>" + tail + "@x.org",
            "organisation": "o",
        },
    )
    errors = submissions.validate(raw, REFERENCE, TODAY)
    assert isinstance(errors, list)
    assert {(e.field, e.code) for e in errors} == {
        ("topics.0", "too_long"),
        ("pops.0", "unknown_chemical"),
        ("contact.email", "invalid_email"),
    }
    assert all(len(e.message) <= 500 for e in errors)
    assert not any(tail in e.message for e in errors)


def test_a_field_error_never_carries_more_than_its_bounds() -> None:
    error = FieldError(field="f" * 10_000, code="c" * 10_000, message="m" * 100_000)
    assert len(error.field or "") <= 200
    assert len(error.code) <= 64
    assert len(error.message) <= 500
    assert error.message.endswith("…")


def test_a_rejection_never_echoes_an_overlong_external_ref_or_submitter() -> None:
    rejected = RequestRejected(external_ref="r" * 100_000, submitter="s" * 100_000, errors=[])
    assert rejected.external_ref is None  # not a valid ref: the Kafka key (ce_id) correlates
    assert len(rejected.submitter) <= 200


def _bound(name: str, changes: dict[str, Any], field: str, code: str) -> Any:
    return pytest.param(changes, {(field, code)}, id=name)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        _bound("external_ref", {"external_ref": "r" * 129}, "external_ref", "too_long"),
        _bound("party", {"party": "SENE"}, "party", "too_long"),
        _bound("title", {"title": "t" * 201}, "title", "too_long"),
        _bound("description", {"description": "d" * 5001}, "description", "too_long"),
        _bound("topics", {"topics": ["PCB"] * 21}, "topics", "too_many"),
        _bound("pops", {"pops": ["9"] * 21}, "pops", "too_many"),
        _bound("a topic code", {"topics": ["X" * 33]}, "topics.0", "too_long"),
        _bound("a language code", {"languages": ["f" * 33]}, "languages.0", "too_long"),
        _bound(
            "contact name",
            {"contact": {"name": "n" * 201, "email": "a@b.org", "organisation": "o"}},
            "contact.name",
            "too_long",
        ),
        _bound(
            "contact organisation",
            {"contact": {"name": "n", "email": "a@b.org", "organisation": "o" * 301}},
            "contact.organisation",
            "too_long",
        ),
    ],
)
def test_every_field_has_a_bound_reported_once(
    changes: dict[str, object], expected: set[tuple[str, str]]
) -> None:
    errors = submissions.validate(submission("r") | changes, REFERENCE, TODAY)
    assert isinstance(errors, list)
    assert {(e.field, e.code) for e in errors} == expected


def test_a_list_over_its_bound_is_one_error_not_one_per_item() -> None:
    errors = submissions.validate(submission("r", topics=["zz"] * 10_000), REFERENCE, TODAY)
    assert isinstance(errors, list)
    assert [(e.field, e.code) for e in errors] == [("topics", "too_many")]


def test_the_longest_valid_submission_is_accepted() -> None:
    raw = submission(
        "r" * 128,
        title="t" * 200,
        description="d" * 5000,
        topics=sorted(REFERENCE.topics)[:20],
        contact={"name": "n" * 200, "email": "a@example.org", "organisation": "o" * 300},
    )
    assert isinstance(submissions.validate(raw, REFERENCE, TODAY), RequestSubmission)


def test_unknown_keys_are_ignored_and_never_reach_the_accepted_event() -> None:
    raw = submission("r") | {f"extra{i}": "x" * 100 for i in range(1000)}
    checked = submissions.validate(raw, REFERENCE, TODAY)
    assert isinstance(checked, RequestSubmission)
    accepted = submissions.accept(
        checked,
        request_id=uuid4(),
        submitter="s",
        reference=REFERENCE,
        now=datetime(2026, 11, 27, tzinfo=UTC),
    )
    assert not any(key.startswith("extra") for key in accepted.model_dump())
