"""The end-to-end benchmark's output: the printed tables, with every rate set against the raw
baselines of the same run, and the JSON results file."""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import RESULTS, _git_commit, table
from bench.e2e_stats import in_generator_units, service_cpu, stack_cpu


def report(results: dict[str, Any]) -> None:
    closed, opened, raw = results["closed_loop"], results["open_loop"], results["raw"]
    e2e = closed["requests_per_s"]
    table(
        "end to end: POST /v1/requests -> first ta.assignment.offered webhook, against raw "
        "baselines measured in the same run",
        ["measure", "ops/s", "e2e / raw"],
        [
            [f"e2e closed loop, {closed['in_flight']} in flight", f"{e2e:.1f}", ""],
            [
                "raw aiokafka produce -> consume",
                f"{raw['kafka_records_per_s']:.0f}",
                f"{e2e / raw['kafka_records_per_s']:.4f}",
            ],
            [
                "raw asyncpg INSERT + COMMIT",
                f"{raw['postgres_tx_per_s']:.0f}",
                f"{e2e / raw['postgres_tx_per_s']:.4f}",
            ],
            [
                "raw aiohttp echo round trip",
                f"{raw['http_echo_per_s']:.0f}",
                f"{e2e / raw['http_echo_per_s']:.4f}",
            ],
        ],
    )
    table(
        f"open loop at {opened['rate_per_s']:.1f} requests/s",
        ["requests", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "CPU ms/request"],
        [
            [
                f"{opened.get('count', 0):.0f}",
                *(f"{opened.get(k, 0):.0f}" for k in ("p50_ms", "p99_ms", "p99.9_ms", "max_ms")),
                f"{service_cpu(opened.get('cpu_ms_per_request', {})):.1f} "
                f"({_by_process(opened.get('cpu_ms_per_request', {}))})",
            ]
        ],
    )
    cpu = results["cpu_ms_per_request"]
    table(
        "CPU per request, closed loop (ms)",
        ["process", "ms/request"],
        [[k, f"{v:.2f}"] for k, v in cpu.items()]
        + [
            ["all but the generator", f"{service_cpu(cpu):.1f}"],
            # The machine's speed cancels out of this one: compare code with it.
            ["  in generator units (the steady measure)", _units(cpu)],
        ],
    )
    table(
        "work per request, averaged over every request of the run",
        ["what", "per request"],
        [[k, f"{v:.2f}"] for k, v in results.get("work_per_request", {}).items()],
    )
    _batches(results["closed_loop"]["in_flight"], results.get("batches", {}), opened)
    statements = results.get("statements_per_request")
    if statements:
        table(
            "PostgreSQL statements per request, closed loop (pg_stat_statements), most frequent",
            ["calls", "rows", "mean ms", "statement"],
            [
                [f"{q['calls']:.2f}", f"{q['rows']:.2f}", f"{q['mean_ms']:.3f}", q["query"][:90]]
                for q in statements[:20]
            ],
        )
    table(
        "scaling: closed-loop throughput, CPU and statements per request, by instances of each"
        " service",
        [
            "instances",
            "requests/s",
            "CPU ms/request",
            "in generator units",
            "by process",
            "statements/request",
        ],
        [
            [
                s["instances"],
                f"{s['requests_per_s']:.1f}",
                f"{service_cpu(s.get('cpu_ms_per_request', {})):.1f}",
                _units(s.get("cpu_ms_per_request", {})),
                _by_process(s.get("cpu_ms_per_request", {})),
                _statements(s.get("statements_per_request", [])),
            ]
            for s in results["scaling"]
        ],
    )
    traced = results.get("tracing_on")
    if traced:
        untraced = service_cpu(cpu)
        on = traced["cpu_ms_per_request"]
        on_total = service_cpu(on)
        table(
            "tracing: off (phase 1) against on (every trace sampled, OTLP/HTTP), same run",
            ["measure", "off", "on", "on / off"],
            [
                [
                    "closed loop, requests/s",
                    f"{e2e:.1f}",
                    f"{traced['requests_per_s']:.1f}",
                    f"{traced['requests_per_s'] / e2e:.2f}",
                ],
                [
                    "CPU ms/request, all but the generator",
                    f"{untraced:.1f}",
                    f"{on_total:.1f}",
                    f"{on_total / untraced:.2f}",
                ],
                *(
                    [f"  {k}", f"{cpu[k]:.2f}", f"{on[k]:.2f}", f"{on[k] / cpu[k]:.2f}"]
                    for k in stack_cpu(cpu)
                    if k in on and cpu[k] > 0
                ),
                ["spans per request", "", f"{traced['spans_per_request']:.1f}", ""],
                ["receiver CPU ms/request", "", f"{traced['receiver_cpu_ms_per_request']:.2f}", ""],
            ],
        )
    if results.get("floor"):
        _floor(e2e, cpu, results["floor"])
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"\n  failed requests: {results['failed_requests']}; load average {load} on "
        f"{os.cpu_count()} CPUs (generator and stack share them)"
    )


def write(results: dict[str, Any], args: dict[str, Any], started: float) -> Path:
    """bench/results/e2e-<timestamp>.json: the arguments, the machine, every number."""
    derived = {
        "cpu_in_generator_units": {
            "closed_loop": _rounded(in_generator_units(results["cpu_ms_per_request"])),
            "open_loop": _rounded(
                in_generator_units(results.get("open_loop", {}).get("cpu_ms_per_request", {}))
            ),
            "scaling": {
                str(s["instances"]): _rounded(in_generator_units(s.get("cpu_ms_per_request", {})))
                for s in results["scaling"]
            },
            "floor": _rounded(
                in_generator_units(results.get("floor", {}).get("cpu_ms_per_request", {}))
            ),
        },
        "ratio_e2e_raw": {
            k: round(results["closed_loop"]["requests_per_s"] / v, 5)
            for k, v in results["raw"].items()
        },
    }
    return write_json("e2e", results | derived, args, started)


def write_json(name: str, results: dict[str, Any], args: dict[str, Any], started: float) -> Path:
    """bench/results/<name>-<timestamp>.json: when, how long, which commit, the arguments, the
    machine, then `results`."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    body = {
        "benchmark": name,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "git_commit": _git_commit(),
        "args": args,
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
        },
        **results,
    }
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def _batches(in_flight: int, closed: dict[str, Any], opened: dict[str, Any]) -> None:
    """How full each subscriber's batches were: each batch costs a fetch, a dispatch and a
    transaction however many records it holds."""
    fill_open = opened.get("batches", {})
    keys = sorted(set(closed) | set(fill_open))
    if not keys:
        return

    def cells(fill: dict[str, float] | None) -> list[str]:
        if fill is None:
            return ["-", "-"]
        return [f"{fill['batches_per_request']:.2f}", f"{fill['records_per_batch']:.1f}"]

    def total(fills: dict[str, Any]) -> str:
        return f"{sum(f['batches_per_request'] for f in fills.values()):.2f}"

    table(
        f"batches consumed, closed loop ({in_flight} in flight) and open loop "
        f"({opened['rate_per_s']:.1f} requests/s)",
        [
            "subscriber",
            "closed: batches/request",
            "records/batch",
            "open: batches/request",
            "records/batch",
        ],
        [[k, *cells(closed.get(k)), *cells(fill_open.get(k))] for k in keys]
        + [["all subscribers", total(closed), "", total(fill_open), ""]],
    )


def _floor(e2e: float, cpu: dict[str, float], floor: dict[str, Any]) -> None:
    """STAX (phase 1) against the same hops with nothing of STAX, same generator, same run."""
    low = floor["cpu_ms_per_request"]
    stax_units, floor_units = in_generator_units(cpu), in_generator_units(low)
    table(
        "design floor: a request's hops with nothing of STAX in them (bench.e2e_floor), "
        "against phase 1",
        ["measure", "STAX", "floor", "STAX / floor"],
        [
            [
                "closed loop, requests/s",
                f"{e2e:.1f}",
                f"{floor['requests_per_s']:.1f}",
                _ratio(e2e, floor["requests_per_s"]),
            ],
            [
                "CPU ms/request, all but the generator",
                f"{service_cpu(cpu):.1f}",
                f"{service_cpu(low):.1f}",
                _ratio(service_cpu(cpu), service_cpu(low)),
            ],
            [
                "  in generator units",
                _units(cpu),
                _units(low),
                _ratio(stax_units or 0.0, floor_units or 0.0),
            ],
            *(
                [f"  {k}", f"{v:.2f}", f"{low.get(k, 0.0):.2f}", _ratio(v, low.get(k, 0.0))]
                for k, v in cpu.items()
            ),
            ["seconds the floor took to catch up after its loop", "", f"{floor['drain_s']}", ""],
        ],
    )
    table(
        "design floor: work per request, closed loop (the floor's own counts)",
        ["process and count", "per request"],
        [[k, f"{v:.2f}"] for k, v in floor.get("work_per_request", {}).items() if v],
    )


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "-"


def _by_process(cpu: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.1f}" for k, v in stack_cpu(cpu).items())


def _units(cpu: dict[str, float]) -> str:
    ratio = in_generator_units(cpu)
    return "-" if ratio is None else f"{ratio:.2f}"


def _rounded(ratio: float | None) -> float | None:
    return None if ratio is None else round(ratio, 3)


def _statements(statements: list[dict[str, Any]]) -> str:
    """The 30 most frequent statements' calls per request, and the most frequent but BEGIN and
    COMMIT (what grows with instances shows there)."""
    if not statements:
        return "-"
    busiest = next((q for q in statements if q["query"] not in ("BEGIN", "COMMIT")), None)
    total = f"{sum(q['calls'] for q in statements):.1f}"
    if busiest is None:
        return total
    return f"{total} (top: {busiest['calls']:.1f}x {busiest['query'][:40]})"
