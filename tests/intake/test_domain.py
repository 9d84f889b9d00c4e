"""The validation rules and the accepted request, on the real reference data (no I/O)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from uuid import uuid4

import pytest

from services.intake.adapters.reference_data import load_reference
from services.intake.domain import submissions
from shared.events import FieldError, RequestSubmission
from tests.intake.samples import submission

REFERENCE = load_reference()
TODAY = date(2026, 11, 27)


def _codes(raw: object) -> set[tuple[str | None, str]]:
    checked = submissions.validate(raw, REFERENCE, TODAY)
    assert isinstance(checked, list), "expected errors"
    return {(e.field, e.code) for e in checked}


def test_a_complete_submission_from_a_developing_party_is_valid() -> None:
    checked = submissions.validate(submission("r", needed_by="2026-11-27"), REFERENCE, TODAY)
    assert isinstance(checked, RequestSubmission)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"party": "ZZZ"}, {("party", "unknown_party")}),
        ({"party": "MYS"}, {("party", "not_a_party")}),
        ({"party": "EUR"}, {("party", "not_eligible")}),
        ({"party": "POL"}, {("party", "not_eligible")}),
        ({"topics": []}, {("topics", "too_few")}),
        ({"topics": ["PCB", "PCB"]}, {("topics.1", "duplicate")}),
        ({"topics": ["pcb"]}, {("topics.0", "unknown_topic")}),
        ({"assistance_types": []}, {("assistance_types", "too_few")}),
        ({"languages": ["de"]}, {("languages.0", "unknown_language")}),
        ({"pops": ["38"]}, {("pops.0", "unknown_chemical")}),
        ({"title": "  "}, {("title", "too_short")}),
        ({"description": "x" * 20_001}, {("description", "too_long")}),
        ({"needed_by": "2026-11-26"}, {("needed_by", "in_the_past")}),
        ({"needed_by": "soon"}, {("needed_by", "date_from_datetime_parsing")}),
        ({"urgency": "yesterday"}, {("urgency", "unknown_value")}),
        ({"topics": "PCB"}, {("topics", "list_type")}),
    ],
)
def test_each_rule_names_its_field_and_code(
    changes: dict[str, object], expected: set[tuple[str, str]]
) -> None:
    assert _codes(submission("r") | changes) == expected


def test_a_missing_field_and_a_bad_contact_are_reported_together() -> None:
    raw = submission("r", contact={"name": "", "email": "nobody", "organisation": "o"})
    del raw["title"]
    assert _codes(raw) == {
        ("title", "required"),
        ("contact.email", "invalid_email"),
        ("contact.name", "too_short"),
    }


def test_something_that_is_not_an_object_is_one_error_about_the_body() -> None:
    assert _codes([1, 2]) == {(None, "not_an_object")}


def test_not_eligible_says_why() -> None:
    checked = submissions.validate(submission("r", party="JPN"), REFERENCE, TODAY)
    assert isinstance(checked, list)
    assert checked == [
        FieldError(
            field="party",
            code="not_eligible",
            message=checked[0].message,
        )
    ]
    assert "developed-country Party" in checked[0].message
    assert "Article 12" in checked[0].message


@pytest.mark.parametrize(
    ("party", "region", "flags"),
    [
        ("SEN", "AFR", (True, False, True, False)),
        ("UKR", "CEE", (False, True, False, False)),
        ("KAZ", "APAC", (False, True, False, False)),
        ("JAM", "GRULAC", (True, False, False, True)),
        ("COM", "AFR", (True, False, True, True)),  # LDC and SIDS (Haiti is no Party)
        ("COK", "APAC", (True, False, False, True)),
    ],
)
def test_region_and_eligibility_are_derived_from_the_reference_data(
    party: str, region: str, flags: tuple[bool, bool, bool, bool]
) -> None:
    checked = submissions.validate(submission("r", party=party), REFERENCE, TODAY)
    assert isinstance(checked, RequestSubmission)
    accepted = submissions.accept(
        checked, request_id=uuid4(), submitter="s", reference=REFERENCE, now=datetime.now(UTC)
    )
    got = accepted.eligibility
    assert accepted.region == region
    assert (got.developing, got.economy_in_transition, got.ldc, got.sids) == flags


def test_the_body_hash_ignores_key_order_but_not_content() -> None:
    one = RequestSubmission.model_validate(submission("r"))
    reordered = RequestSubmission.model_validate(dict(reversed(list(submission("r").items()))))
    changed = RequestSubmission.model_validate(submission("r", title="Other title"))
    assert (
        submissions.body_hash(one)
        == submissions.body_hash(reordered)
        != submissions.body_hash(changed)
    )
