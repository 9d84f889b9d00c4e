"""Properties of the validator, over generated submissions (hypothesis)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.intake.adapters.reference_data import load_reference
from services.intake.domain import submissions
from shared.bounds import MAX_EXTERNAL_REF
from shared.events import RequestSubmission

REFERENCE = load_reference()
TODAY = date(2026, 11, 27)
ELIGIBLE = sorted(
    c for c, p in REFERENCE.parties.items() if p.is_party and p.category != "developed"
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _codes(pool: frozenset[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(sorted(pool)), min_size=1, max_size=4, unique=True)


# Letters and digits (any script) are never whitespace, so these always have visible content.
visible = st.text(st.characters(categories=["L", "N"]), min_size=10, max_size=60)

valid_submissions = st.fixed_dictionaries(
    {
        "external_ref": st.text(
            st.characters(categories=["L", "N", "Pd"]), min_size=1, max_size=MAX_EXTERNAL_REF
        ),
        "party": st.sampled_from(ELIGIBLE),
        "title": visible,
        "description": visible,
        "topics": _codes(REFERENCE.topics),
        "assistance_types": _codes(REFERENCE.assistance_types),
        "pops": st.lists(st.sampled_from(sorted(REFERENCE.chemicals)), max_size=3, unique=True),
        "languages": _codes(REFERENCE.languages),
        "urgency": st.sampled_from(["routine", "urgent"]),
        "needed_by": st.dates(TODAY, TODAY + timedelta(days=3650)).map(date.isoformat),
        "contact": st.fixed_dictionaries(
            {
                "name": st.just("A. Person"),
                "email": st.emails(domains=st.sampled_from(["example.org", "env.gov.sn"])),
                "organisation": st.just("Ministry"),
            }
        ),
    }
)

# One way to break a valid submission, with the field and code it must be reported under.
breakages: list[tuple[str, Any, str, str]] = [
    ("party", "USA", "party", "not_a_party"),
    ("party", "NLD", "party", "not_eligible"),
    ("party", "QQQ", "party", "unknown_party"),
    ("topics", ["NOPE"], "topics.0", "unknown_topic"),
    ("assistance_types", ["NOPE"], "assistance_types.0", "unknown_assistance_type"),
    ("pops", ["0"], "pops.0", "unknown_chemical"),
    ("languages", ["pt"], "languages.0", "unknown_language"),
    ("needed_by", (TODAY - timedelta(days=1)).isoformat(), "needed_by", "in_the_past"),
    ("title", "t" * 301, "title", "too_long"),
    ("contact", {"name": "n", "email": "@", "organisation": "o"}, "contact.email", "invalid_email"),
]


@settings(max_examples=150, deadline=None)
@given(valid_submissions)
def test_every_generated_valid_submission_is_accepted(raw: dict[str, Any]) -> None:
    assert isinstance(submissions.validate(raw, REFERENCE, TODAY), RequestSubmission)


@settings(max_examples=150, deadline=None)
@given(valid_submissions, st.lists(st.sampled_from(breakages), min_size=1, max_size=4))
def test_each_breakage_is_reported_under_its_field_and_only_breakages_are(
    raw: dict[str, Any], broken: list[tuple[str, Any, str, str]]
) -> None:
    applied = {field: (value, path, code) for field, value, path, code in broken}  # last wins
    for field, (value, _, _) in applied.items():
        raw[field] = value
    checked = submissions.validate(raw, REFERENCE, TODAY)
    assert isinstance(checked, list)
    assert {(e.field, e.code) for e in checked} == {(p, c) for _, p, c in applied.values()}


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_the_validator_never_raises_and_always_says_which_field(raw: Any) -> None:
    checked = submissions.validate(raw, REFERENCE, TODAY)
    assert isinstance(checked, list)  # nothing random is a valid submission
    assert checked
    assert all(e.code and e.message for e in checked)
    # No field only for an error about the body as a whole (shared.errors: `loc` is empty).
    assert all(e.field or e.code == "not_an_object" for e in checked)
