"""The end-to-end benchmark's pure helpers: its plan of loads and its summaries."""

from __future__ import annotations

import pytest

from bench.e2e_stats import (
    BATCHES,
    GENERATOR,
    RECORDS,
    batch_fill,
    cdf_points,
    consumed,
    cpu_per_request,
    in_generator_units,
    latency_summary,
    open_loop_plan,
    parse_instances,
)


def test_open_loop_plan_sends_evenly_at_the_rate() -> None:
    plan = open_loop_plan(4.0, 2.0)
    assert plan == [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    assert open_loop_plan(0.0, 10.0) == []


def test_latency_summary_reads_percentiles_from_the_histogram() -> None:
    summary = latency_summary([i / 1000 for i in range(1, 1001)])  # 1 ms .. 1000 ms
    assert summary["count"] == 1000
    assert summary["p50_ms"] == pytest.approx(500, rel=0.01)
    assert summary["p99_ms"] == pytest.approx(990, rel=0.01)
    assert summary["p99.9_ms"] == pytest.approx(999, rel=0.01)
    assert latency_summary([]) == {"count": 0}


def test_cpu_per_request_is_milliseconds_per_request_for_each_process() -> None:
    before = {"intake": 1.0, "kafka": 2.0}
    after = {"intake": 1.5, "kafka": 3.0, "new": 9.0}
    assert cpu_per_request(before, after, 100) == {"intake": 5.0, "kafka": 10.0}
    assert cpu_per_request(before, after, 0) == {}


def test_consumed_sums_each_subscribers_records_and_batches_over_instances() -> None:
    intake = {"app_name": "intake", "handler": "ta.notifications.v1"}
    samples = [
        (RECORDS, intake, 30.0),
        (BATCHES, intake, 5.0),
        (RECORDS, intake, 10.0),  # a second instance
        (BATCHES, intake, 3.0),
        (RECORDS + "_other", intake, 99.0),
        (BATCHES, {"app_name": "matcher", "handler": "ta.requests.v1"}, 2.0),
    ]
    assert consumed(samples) == {
        "intake ta.notifications.v1": [40.0, 8.0],
        "matcher ta.requests.v1": [0.0, 2.0],
    }


def test_batch_fill_is_batches_per_request_and_records_per_batch_between_readings() -> None:
    before = {"intake ta.notifications.v1": [40.0, 8.0], "gone": [5.0, 5.0]}
    after = {
        "intake ta.notifications.v1": [340.0, 58.0],
        "matcher ta.requests.v1": [20.0, 16.0],  # first seen after
        "idle": [7.0, 0.0],
    }
    assert batch_fill(before, after, 100) == {
        "intake ta.notifications.v1": {"batches_per_request": 0.5, "records_per_batch": 6.0},
        "matcher ta.requests.v1": {"batches_per_request": 0.16, "records_per_batch": 1.25},
    }
    assert batch_fill(before, after, 0) == {}


def test_cpu_in_generator_units_is_the_stacks_cpu_over_the_generators() -> None:
    cpu = {"intake": 6.0, "kafka": 4.0, "postgres": 5.0, GENERATOR: 2.0}
    assert in_generator_units(cpu) == 7.5
    # A machine half as fast: every process twice the CPU, the same ratio.
    assert in_generator_units({k: 2 * v for k, v in cpu.items()}) == 7.5
    assert in_generator_units({"intake": 6.0}) is None
    assert in_generator_units({"intake": 6.0, GENERATOR: 0.0}) is None


def test_instances_and_cdf() -> None:
    assert parse_instances("3,1,2,2") == [1, 2, 3]
    with pytest.raises(ValueError, match=r"1\.\.9"):
        parse_instances("0,1")
    xs, ys = cdf_points([0.002, 0.001])
    assert xs == [1.0, 2.0] and ys == [0.5, 1.0]
