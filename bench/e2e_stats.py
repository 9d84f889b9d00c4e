"""Pure helpers of the end-to-end benchmark: the plan of loads, latency summaries, CPU per
request, and the plots (matplotlib's Agg renderer, no pyplot). No network, no processes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram
from matplotlib.axes import Axes
from matplotlib.figure import Figure

PERCENTILES = (50.0, 99.0, 99.9)
MAX_LATENCY_US = 120_000_000  # two minutes: anything slower is a failure, not a latency


def parse_instances(text: str) -> list[int]:
    """'1,2,3' -> [1, 2, 3]: the scaling curve's instance counts, each from 1 to 9."""
    counts = [int(x) for x in text.split(",") if x.strip()]
    if not counts or any(not 1 <= c <= 9 for c in counts):
        raise ValueError(f"instances must be 1..9, comma-separated: {text!r}")
    return sorted(set(counts))


def open_loop_plan(rate: float, seconds: float) -> list[float]:
    """Send times (seconds from the start) of an open-loop run at `rate` per second."""
    if rate <= 0 or seconds <= 0:
        return []
    return [i / rate for i in range(int(rate * seconds))]


def histogram(latencies_s: Sequence[float]) -> HdrHistogram:
    hist = HdrHistogram(1, MAX_LATENCY_US, 3)
    for x in latencies_s:
        hist.record_value(min(MAX_LATENCY_US, max(1, round(x * 1_000_000))))
    return hist


def latency_summary(latencies_s: Sequence[float]) -> dict[str, float]:
    """count, p50/p99/p99.9, max and mean in milliseconds, from an HDR histogram."""
    if not latencies_s:
        return {"count": 0}
    hist = histogram(latencies_s)
    out: dict[str, float] = {"count": float(len(latencies_s))}
    for p in PERCENTILES:
        out[f"p{p:g}_ms"] = hist.get_value_at_percentile(p) / 1000
    out["max_ms"] = hist.get_max_value() / 1000
    out["mean_ms"] = hist.get_mean_value() / 1000
    return out


# The name cpu_seconds (bench.e2e_infra) gives the bench's own process.
GENERATOR = "load generator"


def cpu_per_request(
    before: Mapping[str, float], after: Mapping[str, float], requests: int
) -> dict[str, float]:
    """Milliseconds of CPU per request for each process group (before/after in CPU seconds)."""
    if requests <= 0:
        return {}
    return {
        name: 1000 * (after[name] - before.get(name, 0.0)) / requests
        for name in after
        if name in before
    }


def in_generator_units(cpu: Mapping[str, float]) -> float | None:
    """The stack's CPU per request (every process but the generator) over the generator's own.

    The generator does the same work for each request in every run (a POST, the webhooks and the
    e-mail received), so its CPU per request moves with the machine's speed, and most of that
    drift cancels out of the ratio: on this shared machine three runs of one commit varied by
    0.3-4.3 % in it, by 5.5-13 % in requests/s (docs/benchmarks.md). Compare code with it;
    say where the stack stands in milliseconds and requests/s."""
    generator = cpu.get(GENERATOR, 0.0)
    if generator <= 0:
        return None
    return service_cpu(cpu) / generator


def stack_cpu(cpu: Mapping[str, float]) -> dict[str, float]:
    """CPU per request of the stack's processes: every one but the generator."""
    return {k: v for k, v in cpu.items() if k != GENERATOR}


def service_cpu(cpu: Mapping[str, float]) -> float:
    """The stack's CPU per request, all its processes together."""
    return sum(stack_cpu(cpu).values())


# FastStream's Prometheus middleware observes one duration per handled call (a batch, for our
# batch subscribers) and adds the call's records to the received counter.
RECORDS = "faststream_received_messages_total"
BATCHES = "faststream_received_processed_messages_duration_seconds_count"


def consumed(samples: Iterable[tuple[str, Mapping[str, str], float]]) -> dict[str, list[float]]:
    """'<service> <topic>' -> [records, batches] consumed so far, from /metrics samples (name,
    labels, value) of any number of instances, which are summed."""
    out: dict[str, list[float]] = {}
    for name, labels, value in samples:
        if name in (RECORDS, BATCHES):
            counts = out.setdefault(f"{labels.get('app_name')} {labels.get('handler')}", [0, 0])
            counts[0 if name == RECORDS else 1] += value
    return out


def batch_fill(
    before: Mapping[str, Sequence[float]], after: Mapping[str, Sequence[float]], requests: int
) -> dict[str, dict[str, float]]:
    """Per subscriber: batches handled per request and records per batch, between two readings.

    Each batch pays a fetch, a dispatch, a transaction, its inbox claim and its outbox write
    whatever it holds, so how full batches are decides much of what a request costs."""
    fill: dict[str, dict[str, float]] = {}
    for key, (records, batches) in sorted(after.items()):
        first = before.get(key, (0.0, 0.0))
        got, calls = records - first[0], batches - first[1]
        if calls > 0 and requests > 0:
            fill[key] = {
                "batches_per_request": round(calls / requests, 3),
                "records_per_batch": round(got / calls, 2),
            }
    return fill


def cdf_points(latencies_s: Sequence[float]) -> tuple[list[float], list[float]]:
    """(milliseconds sorted, fraction at or below) for a CDF plot."""
    xs = sorted(x * 1000 for x in latencies_s)
    n = len(xs)
    return xs, [(i + 1) / n for i in range(n)]


def plots(results: Mapping[str, Any], latencies_s: Sequence[float], stem: Path) -> list[Path]:
    """Three PNGs next to the JSON: throughput by instances, latency CDF, CPU per request."""
    written: list[Path] = []
    scaling = results.get("scaling", [])
    if scaling:
        fig, ax = _figure()
        ax.plot([s["instances"] for s in scaling], [s["requests_per_s"] for s in scaling], "o-")
        ax.set_xlabel("instances of each service")
        ax.set_ylabel("requests/s (closed loop)")
        ax.set_title("POST → first offer webhook, closed loop")
        ax.set_xticks([s["instances"] for s in scaling])
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        written.append(_save(fig, stem, "throughput"))
    if latencies_s:
        xs, ys = cdf_points(latencies_s)
        fig, ax = _figure()
        ax.plot(xs, ys)
        rate = results.get("open_loop", {}).get("rate_per_s", 0)
        ax.set_xlabel("POST → first offer webhook (ms)")
        ax.set_ylabel("fraction of requests")
        ax.set_title(f"latency CDF, open loop at {rate:.1f} requests/s")
        ax.grid(alpha=0.3)
        written.append(_save(fig, stem, "latency-cdf"))
    cpu = results.get("cpu_ms_per_request", {})
    if cpu:
        fig, ax = _figure()
        names = list(cpu)
        ax.bar(names, [cpu[n] for n in names])
        ax.tick_params(axis="x", labelrotation=20)
        ax.set_ylabel("CPU ms per request")
        ax.set_title(f"CPU per request by process (total {sum(cpu.values()):.1f} ms)")
        ax.grid(alpha=0.3, axis="y")
        written.append(_save(fig, stem, "cpu"))
    return written


def _figure() -> tuple[Figure, Axes]:
    """A figure without pyplot: no GUI backend, no global state (Agg through savefig)."""
    fig = Figure(figsize=(6, 4))
    return fig, fig.subplots()


def _save(fig: Figure, stem: Path, name: str) -> Path:
    path = stem.with_name(f"{stem.name}-{name}.png")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
