"""The design floor's pure parts (bench.e2e_floor, bench.floor_worker): its records, its choice of
partners and its counts of work per request."""

from __future__ import annotations

import json
import uuid
from typing import Any

from bench.e2e_floor import Plan, median_round, work_per_request
from bench.e2e_stats import GENERATOR
from bench.floor_worker import (
    ASSIGNMENTS,
    NOTIFICATIONS,
    OFFERED,
    PARTNERS,
    REQUESTS,
    Event,
    Matcher,
    reads,
)


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


def test_without_outcome_records_intake_reads_three_records_a_request_not_six() -> None:
    assert reads("intake", outcomes=True) == (REQUESTS, ASSIGNMENTS, NOTIFICATIONS)
    assert reads("intake", outcomes=False) == (REQUESTS, ASSIGNMENTS)
    assert reads("notifier", outcomes=False) == (REQUESTS, ASSIGNMENTS)
    assert Plan(15.0, 45.0, 32).consumed_by_intake == 6
    assert Plan(15.0, 45.0, 32, outcomes=False).consumed_by_intake == 3


def test_the_median_round_is_the_one_whose_stack_cpu_is_the_median() -> None:
    def run(total: float, generator: float) -> dict[str, Any]:
        return {"cpu_ms_per_request": {"intake": total, GENERATOR: generator}}

    # The generator's own CPU does not count: the middle round by the stack's is the second.
    rounds = [run(30.0, 1.0), run(20.0, 50.0), run(25.0, 1.0), run(40.0, 1.0)]
    assert median_round(rounds) == run(25.0, 1.0)
    assert median_round(rounds[:3]) == run(25.0, 1.0)
