"""Benchmark: webhooks delivered per second by notifier, and isolation from a dead endpoint.

notifier runs as its own process on a private stack (bench.common) with its default 8 workers.
Deliveries are queued straight into its table (as its consumers would, one row per event and
endpoint) for 4 healthy partners, each with an endpoint on a local asyncio receiver answering 204;
the clock stops when every row is `delivered` (claim, sign, POST, record, outbox row: all inside).

Runs, interleaved A/B/A/B:
  A  healthy endpoints only;
  B  the same, plus a dead endpoint (accepts the connection, never answers) with deliveries queued
     *before* the healthy ones, retried as fast as the shortened schedule allows.
The ratio B/A is the healthy endpoints' throughput while another endpoint times out. A reference
line gives the raw rate of the same POSTs from one process with httpx (no database, no signing).

All of it runs with the broker's security on (TLS + SCRAM + ACLs; notifier as its own principal)
and off (PLAINTEXT), on two private stacks, each rep doing A/B on one stack then on the other (the
order alternating); a last table gives the medians and the ratio on/off (bench.common). Kafka is
not on the measured path itself (deliveries are queued in the table; their outcome events leave
through the outbox relay in the background), so a ratio near 1 is the expected answer here.

    STAX_BENCH_PORT_BASE=27000 python -m bench.notifier [--deliveries N] [--reps R]
        [--security both|on|off]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, datetime

import asyncpg
import httpx

from bench.common import (
    CpuClock,
    Metric,
    Samples,
    add_security_flag,
    bench_stacks,
    log_for,
    mode_name,
    record_results,
    schedule,
    security_table,
    table,
)
from deploy.local import stack
from services.notifier import domain
from shared.events import AssignmentOffered

HEALTHY = 4
DEAD_QUEUED = 64
RESPONSE = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"


class Receiver:
    """A minimal keep-alive HTTP/1.1 server: `/ok/…` answers 204, `/dead/…` never answers."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = next(
                    (int(x.split(":")[1]) for x in lines if x.lower().startswith("content-length")),
                    0,
                )
                await reader.readexactly(length)
                if path.startswith("/dead"):
                    await asyncio.sleep(3600)
                self.hits[path.split("/")[1]] += 1
                writer.write(RESPONSE)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            writer.close()


async def _endpoint(pool: asyncpg.Pool, partner: str, url: str) -> uuid.UUID:
    endpoint_id = uuid.uuid4()
    await pool.execute(
        "INSERT INTO notifier.endpoints (endpoint_id, partner_id, url, secret) "
        "VALUES ($1, $2, $3, $4)",
        endpoint_id,
        partner,
        url,
        "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" * 1,
    )
    return endpoint_id


async def _queue(pool: asyncpg.Pool, endpoints: list[tuple[uuid.UUID, str]], n: int) -> None:
    now = datetime.now(UTC)
    rows = []
    for i in range(n):
        endpoint_id, partner = endpoints[i % len(endpoints)]
        body = domain.webhook_body(
            AssignmentOffered.ce_type, now, {"partner_id": partner, "n": i, "pad": "x" * 400}
        )
        rows.append((uuid.uuid4(), uuid.uuid4(), endpoint_id, partner, body))
    await pool.executemany(
        "INSERT INTO notifier.deliveries (delivery_id, event_id, event_type, endpoint_id, "
        "partner_id, payload) VALUES ($1, $2, 'ta.assignment.offered', $3, $4, $5)",
        rows,
    )


async def _wait_delivered(pool: asyncpg.Pool, partners: list[str], n: int) -> float:
    started = time.monotonic()
    while True:
        done = await pool.fetchval(
            "SELECT count(*) FROM notifier.deliveries WHERE partner_id = ANY($1) "
            "AND status = 'delivered'",
            partners,
        )
        if done >= n:
            return time.monotonic() - started
        await asyncio.sleep(0.05)


async def _run(pool: asyncpg.Pool, receiver: Receiver, n: int, *, dead: bool, tag: str) -> float:
    base = f"http://127.0.0.1:{receiver.port}"
    healthy = [f"ok-{tag}-{i}" for i in range(HEALTHY)]
    endpoints = [(await _endpoint(pool, p, f"{base}/ok/{p}"), p) for p in healthy]
    if dead:
        bad = f"dead-{tag}"
        await _queue(pool, [(await _endpoint(pool, bad, f"{base}/dead/{bad}"), bad)], DEAD_QUEUED)
        await asyncio.sleep(0.5)  # let the dead endpoint take its leases first
    await _queue(pool, endpoints, n)
    seconds = await _wait_delivered(pool, healthy, n)
    # Stop the dead endpoint's retries before the next run.
    await pool.execute(
        "UPDATE notifier.endpoints SET enabled = false WHERE partner_id LIKE 'dead-%'"
    )
    await pool.execute(
        "UPDATE notifier.deliveries SET status = 'failed' WHERE partner_id LIKE 'dead-%' "
        "AND status = 'pending'"
    )
    return n / seconds


async def _raw_rate(receiver: Receiver, n: int, concurrency: int = 8) -> float:
    url = f"http://127.0.0.1:{receiver.port}/ok/raw"
    body = b"x" * 500
    async with httpx.AsyncClient() as client:

        async def one(k: int) -> None:
            for _ in range(k):
                await client.post(url, content=body)

        started = time.monotonic()
        await asyncio.gather(*(one(n // concurrency) for _ in range(concurrency)))
        return (n // concurrency * concurrency) / (time.monotonic() - started)


ENV = {
    "STAX_NOTIFIER_ALLOW_SUBNETS": '["127.0.0.1/32"]',
    "STAX_NOTIFIER_TIMEOUT_SECONDS": "2",
    "STAX_NOTIFIER_RETRY_SCHEDULE": "[0, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2]",
    "STAX_NOTIFIER_OVERLOAD_PENALTY_SECONDS": "0",  # worst case: retry the dead one at once
    "STAX_NOTIFIER_LEASE_SECONDS": "10",
    "STAX_NOTIFIER_SMTP_TIMEOUT_SECONDS": "5",
    "STAX_NOTIFIER_POLL_SECONDS": "0.05",
    "STAX_LOG_LEVEL": "WARNING",
}


class Bench:
    """One security mode's stack: its notifier process, a receiver, a pool on its database."""

    def __init__(self, cfg: stack.StackSettings) -> None:
        self.cfg = cfg
        self.receiver = Receiver()
        self.pool: asyncpg.Pool | None = None

    async def start(self, n: int) -> None:
        await self.receiver.start()
        self.pool = await asyncpg.create_pool(self.cfg.db_url, min_size=1, max_size=4)
        await _run(self.pool, self.receiver, max(200, n // 10), dead=False, tag="warmup")

    async def pair(self, n: int, rep: int) -> list[Metric]:
        """A then B, then the raw reference, on this stack."""
        assert self.pool is not None
        with CpuClock(self.cfg, "notifier") as a_cpu:
            a = await _run(self.pool, self.receiver, n, dead=False, tag=f"a{rep}")
        b = await _run(self.pool, self.receiver, n, dead=True, tag=f"b{rep}")
        raw = await _raw_rate(self.receiver, n)
        return [
            Metric("A healthy only", "webhooks/s", a),
            Metric("B + a dead endpoint (timeouts)", "webhooks/s", b),
            Metric("reference: raw httpx POSTs, no DB", "POSTs/s", raw, kafka=False),
            Metric("A, CPU of notifier + broker", "webhooks/CPU-s", n / a_cpu.seconds),
        ]

    async def stop(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        await self.receiver.stop()


def report(secure: bool, bench: Bench, n: int, rounds: list[list[Metric]]) -> None:
    """The table this benchmark always printed, for one security mode."""
    by = {m.name: [r[i].value for r in rounds] for i, m in enumerate(rounds[0])}
    alone, beside_dead = by["A healthy only"], by["B + a dead endpoint (timeouts)"]
    raw = statistics.median(by["reference: raw httpx POSTs, no DB"])
    a, b = statistics.median(alone), statistics.median(beside_dead)
    ratios = [y / x for x, y in zip(alone, beside_dead, strict=True)]
    table(
        f"notifier, security {mode_name(secure)}: {n} webhooks to {HEALTHY} healthy endpoints, "
        f"8 workers (median of {len(rounds)})",
        ["run", "webhooks/s", "min", "max"],
        [
            ["A healthy only", f"{a:.0f}", f"{min(alone):.0f}", f"{max(alone):.0f}"],
            [
                "B + a dead endpoint (timeouts)",
                f"{b:.0f}",
                f"{min(beside_dead):.0f}",
                f"{max(beside_dead):.0f}",
            ],
            ["reference: raw httpx POSTs, no DB", f"{raw:.0f}", "", ""],
        ],
    )
    print(
        f"\n  isolation ratio B/A = {b / a:.2f} (per pair: "
        f"{', '.join(f'{r:.2f}' for r in ratios)}); dead endpoint answered "
        f"{bench.receiver.hits['dead']} of its requests (it never answers)"
    )
    print(f"  notifier/raw = {a / raw:.2f}")
    per_cpu = by["A, CPU of notifier + broker"]
    print(
        f"  A per CPU-second of notifier + broker: {statistics.median(per_cpu):.0f} webhooks "
        f"(per rep: {', '.join(f'{x:.0f}' for x in per_cpu)})"
    )


async def _bench(cfgs: dict[bool, stack.StackSettings], n: int, reps: int) -> Samples:
    benches = {s: Bench(cfg) for s, cfg in cfgs.items()}
    samples: Samples = {s: [] for s in cfgs}
    try:
        for secure, cfg in cfgs.items():
            stack.start_service(cfg, "notifier", log=log_for(secure), extra_env=ENV)
        for secure, cfg in cfgs.items():
            stack.wait_ready(cfg, ("notifier",), timeout=90)
            await benches[secure].start(n)
        for rep, secure in schedule(list(cfgs), reps):
            print(f"  rep {rep + 1}, security {mode_name(secure)}: A, B, raw")
            samples[secure].append(await benches[secure].pair(n, rep))
    finally:
        for secure, bench in benches.items():
            await bench.stop()
            stack.stop_service(bench.cfg, "notifier", log=log_for(secure))
    for secure, rounds in samples.items():
        report(secure, benches[secure], n, rounds)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"  load average at the end: {load} on {os.cpu_count()} CPUs (shared with Kafka, PG)")
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    # 1000, not the 2000 of a single mode: both modes in about the time one took.
    parser.add_argument("--deliveries", type=int, default=1000, help="per A or B run")
    parser.add_argument("--reps", type=int, default=2, help="A/B pairs per security mode")
    add_security_flag(parser)
    args = parser.parse_args()
    started = time.monotonic()
    with bench_stacks(args.security) as cfgs:
        samples = asyncio.run(_bench(cfgs, args.deliveries, args.reps))
    security_table("notifier", samples)
    record_results("notifier", args, samples, started)


if __name__ == "__main__":
    main()
