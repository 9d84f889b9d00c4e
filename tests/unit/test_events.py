from __future__ import annotations

from uuid import uuid4

import pydantic
import pytest

from shared import topics
from shared.events import ALL_EVENTS, AssignmentResponse, Event


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
