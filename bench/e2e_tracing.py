"""The end-to-end benchmark's tracing phase (issue 15): what tracing costs, on against off.

The services are restarted with tracing on (`OTEL_EXPORTER_OTLP_ENDPOINT` pointed at an OTLP
receiver in a process of its own, every trace sampled), warmed up, and measured with the same
closed loop as the untraced phase of the same run: throughput and CPU per request of each
process, with the receiver's own CPU reported apart (a collector would run elsewhere).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bench import e2e_infra as infra
from bench.e2e_stats import cpu_per_request
from deploy.local import processes, stack

# Every trace sampled: the most tracing can cost (production might sample a fraction).
TRACING_ENV = {"OTEL_TRACES_SAMPLER": "parentbased_always_on"}


@dataclass
class TraceSink:
    """deploy.local.otlp_receiver in a process of its own, counting what it receives."""

    child: subprocess.Popen[bytes] | None = None
    port: int = 0

    def start(self) -> TraceSink:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        command = [sys.executable, "-m", "deploy.local.otlp_receiver", "--port", str(self.port)]
        self.child = subprocess.Popen(command, cwd=stack.REPO, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.count()
                return self
            except OSError:
                time.sleep(0.2)
        raise stack.StackError("the OTLP receiver did not start")

    @property
    def env(self) -> dict[str, str]:
        return {**TRACING_ENV, "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{self.port}"}

    def count(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/count", timeout=2) as answer:
            return int(json.load(answer)["spans"])

    def cpu_seconds(self) -> float:
        assert self.child is not None
        return infra.process_cpu_seconds(self.child.pid)

    def stop(self) -> None:
        if self.child is not None:
            processes.terminate(self.child.pid, timeout=5.0)
            self.child.wait(timeout=5)


# (seconds, in flight) -> (requests completed, seconds taken, latencies)
ClosedLoop = Callable[[float, int], Awaitable[tuple[int, float, list[float]]]]


async def tracing_cost(
    cfg: stack.StackSettings,
    instances: infra.Instances,
    closed: ClosedLoop,
    retarget: Callable[[], None],
    *,
    duration: float,
    warm_up: float,
    in_flight: int,
) -> dict[str, Any]:
    """Restart one instance of each service with tracing on, then the closed loop again."""
    sink = TraceSink().start()
    try:
        await asyncio.to_thread(instances.restart_with, {**instances.env, **sink.env})
        retarget()
        print(f"  tracing on: warm-up {warm_up:.0f}s, closed loop {duration:.0f}s")
        await closed(warm_up, in_flight)
        spans_before, sink_before = sink.count(), sink.cpu_seconds()
        before = infra.cpu_seconds(cfg, instances)
        done, elapsed, _ = await closed(duration, in_flight)
        after = infra.cpu_seconds(cfg, instances)
        await asyncio.sleep(1.0)  # the services' batch processors export what ended last
        spans = sink.count() - spans_before
        receiver_cpu = sink.cpu_seconds() - sink_before
    finally:
        sink.stop()
    return {
        "requests_per_s": round(done / elapsed, 2) if elapsed else 0.0,
        "completed": done,
        "cpu_ms_per_request": {
            k: round(v, 2) for k, v in cpu_per_request(before, after, done).items()
        },
        "spans_per_request": round(spans / done, 1) if done else 0.0,
        "receiver_cpu_ms_per_request": round(1000 * receiver_cpu / done, 2) if done else 0.0,
    }
