from __future__ import annotations

from uuid import uuid4

import pydantic
import pytest

from shared import topics
from shared.events import (
    ALL_EVENTS,
    AssignmentResponse,
    Event,
    RequestAccepted,
    RequestSubmission,
)


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.ce_type)
def test_every_event_names_its_type_and_a_contract_topic(event: type[Event]) -> None:
    assert event.ce_type.startswith("ta.")
    assert event.topic in topics.PARTITIONS


@pytest.mark.parametrize("event", ALL_EVENTS, ids=lambda e: e.ce_type)
def test_every_event_field_is_described_for_the_published_schema(event: type[Event]) -> None:
    schema = event.model_json_schema()
    undocumented = [n for n, p in schema["properties"].items() if "description" not in p]
    assert undocumented == []


def test_events_are_immutable_facts() -> None:
    event = AssignmentResponse(assignment_id=uuid4(), partner_id="p", decision="decline")
    with pytest.raises(pydantic.ValidationError):
        event.partner_id = "other"  # type: ignore[misc]


def test_ce_types_are_unique() -> None:
    assert len({e.ce_type for e in ALL_EVENTS}) == len(ALL_EVENTS)


def _accepted(**changes: object) -> dict[str, object]:
    return {
        "external_ref": "r",
        "party": "SEN",
        "title": "t",
        "description": "d",
        "topics": ["PCB"],
        "assistance_types": ["training"],
        "languages": ["fr"],
        "contact": {"name": "n", "email": "n@example.sn", "organisation": "o"},
        "request_id": str(uuid4()),
        "submitter": "s",
        "region": "AFR",
        "eligibility": {
            "developing": True,
            "economy_in_transition": False,
            "ldc": True,
            "sids": False,
        },
        "accepted_at": "2026-11-27T10:00:00Z",
    } | changes


def test_an_accepted_request_from_before_the_input_bounds_is_still_readable() -> None:
    # intake accepted titles up to 300, descriptions up to 20,000 and refs up to 200 characters
    # before shared.bounds: such events stay on the topic, and matcher and notifier replay them.
    old = _accepted(external_ref="r" * 200, title="t" * 300, description="d" * 20_000)
    assert RequestAccepted.model_validate(old).title == "t" * 300


def test_a_submission_is_held_to_the_input_bounds() -> None:
    with pytest.raises(pydantic.ValidationError):
        RequestSubmission.model_validate(_accepted(title="t" * 201))
