"""The design floor's pure parts (bench.e2e_floor, bench.floor_worker): its records, its choice of
partners and its counts of work per request."""

from __future__ import annotations

import json
import uuid

from bench.e2e_floor import work_per_request
from bench.floor_worker import OFFERED, PARTNERS, Event, Matcher


def test_an_event_is_keyed_by_its_request_and_reads_back_as_written() -> None:
    event = Event(uuid.uuid4(), OFFERED, uuid.uuid4(), 7)
    key, value = event.record()
    assert key == str(event.request_id).encode()
    # The webhook receiver of bench.e2e knows an offer by these two fields.
    assert json.loads(value)["type"] == "ta.assignment.offered"
    assert Event.parse(value) == event


def test_each_request_gets_two_different_partners_and_every_partner_gets_its_turn() -> None:
    matcher = Matcher()
    pairs = [matcher.partners() for _ in range(PARTNERS)]
    assert all(lead != support for lead, support in pairs)
    assert {p for pair in pairs for p in pair} == set(range(PARTNERS))


def test_work_per_request_is_each_counts_growth_over_the_requests() -> None:
    before = {"intake": {"requests": 10, "statements": 30}, "notifier": {"deliveries": 30}}
    after = {"intake": {"requests": 110, "statements": 330}, "notifier": {"deliveries": 330}}
    assert work_per_request(before, after, 100) == {
        "intake requests": 1.0,
        "intake statements": 3.0,
        "notifier deliveries": 3.0,
    }
