"""Benchmark: requests accepted per second by intake, over HTTP up to the Kafka record.

intake runs as its own process on a private stack (bench.common). Each request is a valid
submission POSTed with a submitter key; the clock stops when every `ta.request.accepted` record
has been read back from Kafka (so validation, the Postgres transaction, the outbox relay and the
acks=all producer are all inside the measurement). The baseline, measured in the same run with the
same concurrency, is the least a request could cost: one bare asyncpg INSERT plus one aiokafka
send (acks=all, idempotent) per request, awaited.

Both are measured with the broker's security on (TLS + SCRAM + ACLs; intake as its own principal,
the bench's clients as the admin) and off (PLAINTEXT), on two private stacks in alternating rounds,
and a last table gives the medians and the ratio on/off (bench.common).

    STAX_BENCH_PORT_BASE=25000 python -m bench.intake [--requests N] [--concurrency C]
        [--security both|on|off] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

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
from shared import auth, topics
from shared.kafka import ensure_topics
from shared.kafka_access import KafkaAccess

# A topic of its own, with as many partitions as ta.requests.v1, that no service reads.
BASELINE_TOPIC = "bench.intake.baseline"


def _submission(ref: str) -> dict[str, Any]:
    return {
        "external_ref": ref,
        "party": "SEN",
        "title": "PCB inventory support",
        "description": "Help to finish the national PCB inventory.",
        "topics": ["PCB", "WASTE"],
        "assistance_types": ["training"],
        "pops": ["9"],
        "languages": ["fr"],
        "urgency": "urgent",
        "needed_by": (date.today() + timedelta(days=60)).isoformat(),
        "contact": {"name": "A. Ndiaye", "email": "a@example.sn", "organisation": "Ministry"},
    }


async def _bounded(n: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> None:
    """Run one(0..n-1) with at most `concurrency` in flight."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            await one(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _tail_until(consumer: AIOKafkaConsumer, wanted: set[bytes]) -> None:
    """Read until a record with every key in `wanted` was seen (keys are removed as seen)."""
    while wanted:
        batch = await consumer.getmany(timeout_ms=200)
        for records in batch.values():
            for record in records:
                wanted.discard(record.key or b"")


async def _latest_consumer(kafka: KafkaAccess, topic: str) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(topic, **kafka.aiokafka(), auto_offset_reset="latest")
    await consumer.start()
    while not consumer.assignment():  # joined: nothing produced from now on is missed
        await consumer.getmany(timeout_ms=100)
    await consumer.seek_to_end()
    return consumer


async def run_intake(cfg: stack.StackSettings, key: str, n: int, concurrency: int) -> float:
    consumer = await _latest_consumer(cfg.kafka_access(), topics.REQUESTS)
    request_ids: set[bytes] = set()
    run = uuid.uuid4().hex[:8]
    headers = {"Authorization": f"Bearer {key}"}
    base = f"http://127.0.0.1:{cfg.intake_port}"
    # One client, so one keep-alive connection, per request in flight, as that many independent
    # submitters would have. One shared pool of `concurrency` connections measured the bench, not
    # intake: httpcore 1.0.9 hands each freed connection to every queued request and rescans the
    # pool each time (encode/httpcore#1035), so the bench spent ~10 ms of CPU a request instead of
    # ~4.5 on a loaded 2-core machine and intake showed under half its rate; most connections sat
    # idle until uvicorn's 5 s keep-alive closed them, and a request sent on one just as it closed
    # ended in httpx.ReadError (the server's RST).
    clients: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
    try:
        async with contextlib.AsyncExitStack() as opened:
            for _ in range(concurrency):
                clients.put_nowait(
                    await opened.enter_async_context(
                        httpx.AsyncClient(
                            base_url=base, limits=httpx.Limits(max_connections=1), timeout=30
                        )
                    )
                )

            async def one(i: int) -> None:
                client = clients.get_nowait()  # never empty: one client per worker
                try:
                    answer = await client.post(
                        "/v1/requests", json=_submission(f"bench-{run}-{i}"), headers=headers
                    )
                finally:
                    clients.put_nowait(client)
                answer.raise_for_status()
                request_ids.add(answer.json()["request_id"].encode())

            started = time.perf_counter()
            await _bounded(n, concurrency, one)
            await asyncio.wait_for(_tail_until(consumer, request_ids), 120)
            return time.perf_counter() - started
    finally:
        await consumer.stop()


async def run_baseline(cfg: stack.StackSettings, n: int, concurrency: int) -> float:
    await ensure_topics(cfg.kafka_access(), {BASELINE_TOPIC: topics.PARTITIONS[topics.REQUESTS]})
    pool = await asyncpg.create_pool(cfg.db_url, min_size=concurrency, max_size=concurrency)
    producer = AIOKafkaProducer(
        **cfg.kafka_access().aiokafka(), acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS public.bench_baseline "
            "(id uuid PRIMARY KEY, body jsonb NOT NULL, created_at timestamptz DEFAULT now())"
        )

        async def one(i: int) -> None:
            request_id = uuid.uuid4()
            body = json.dumps(_submission(f"baseline-{i}"))
            await pool.execute(
                "INSERT INTO public.bench_baseline (id, body) VALUES ($1, $2::jsonb)",
                request_id,
                body,
            )
            await producer.send_and_wait(
                BASELINE_TOPIC, body.encode(), key=str(request_id).encode()
            )

        started = time.perf_counter()
        await _bounded(n, concurrency, one)
        return time.perf_counter() - started
    finally:
        await producer.stop()
        await pool.close()


async def _submitter_key(cfg: stack.StackSettings) -> str:
    conn = await asyncpg.connect(cfg.db_url)
    try:
        _, key = await auth.create_key(conn, role="submitter", name=f"bench-{uuid.uuid4().hex[:6]}")
    finally:
        await conn.close()
    return key


async def measure(
    cfg: stack.StackSettings, key: str, n: int, concurrency: int, round_: int
) -> list[Metric]:
    with CpuClock(cfg, "intake") as intake_cpu:
        intake_s = await run_intake(cfg, key, n, concurrency)
    with CpuClock(cfg, None, this_process=True) as baseline_cpu:
        baseline_s = await run_baseline(cfg, n, concurrency)
    intake_rps, baseline_rps = n / intake_s, n / baseline_s
    table(
        f"intake, security {mode_name(cfg.kafka_secure)}, round {round_ + 1}: {n} requests, "
        f"{concurrency} in flight (HTTP → Postgres + outbox → Kafka record)",
        ["variant", "seconds", "requests/s", "CPU s", "requests/CPU-s"],
        [
            [
                "intake (HTTP up to the Kafka record)",
                f"{intake_s:.2f}",
                f"{intake_rps:.0f}",
                f"{intake_cpu.seconds:.2f}",
                f"{n / intake_cpu.seconds:.0f}",
            ],
            [
                "baseline (asyncpg INSERT + aiokafka send)",
                f"{baseline_s:.2f}",
                f"{baseline_rps:.0f}",
                f"{baseline_cpu.seconds:.2f}",
                f"{n / baseline_cpu.seconds:.0f}",
            ],
        ],
    )
    print(
        f"\n  ratio intake / baseline: {intake_rps / baseline_rps:.2f}\n"
        "  CPU s: intake's process and the broker; for the baseline, the bench's own process "
        "(asyncpg, aiokafka) and the broker"
    )
    return [
        Metric("intake (HTTP up to the Kafka record)", "requests/s", intake_rps),
        Metric("baseline (asyncpg INSERT + aiokafka send)", "requests/s", baseline_rps),
        Metric("intake, CPU of intake + broker", "requests/CPU-s", n / intake_cpu.seconds),
        Metric("baseline, CPU of bench + broker", "requests/CPU-s", n / baseline_cpu.seconds),
    ]


async def measure_all(
    cfgs: dict[bool, stack.StackSettings], n: int, concurrency: int, rounds: int
) -> Samples:
    keys = {s: await _submitter_key(cfg) for s, cfg in cfgs.items()}
    for s, cfg in cfgs.items():  # warm-up: connections, caches, the broker's JIT
        await run_intake(cfg, keys[s], min(50, n), concurrency)
        await run_baseline(cfg, min(50, n), concurrency)
    samples: Samples = {s: [] for s in cfgs}
    for r, s in schedule(list(cfgs), rounds):
        samples[s].append(await measure(cfgs[s], keys[s], n, concurrency, r))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="measurements per mode")
    add_security_flag(parser)
    args = parser.parse_args()
    started = time.monotonic()
    with bench_stacks(args.security) as cfgs:
        # As many connections as requests in flight, plus the relay's and the consumers', so
        # that intake and the baseline (a pool of `concurrency`) wait on the database alike.
        env = {
            "STAX_DB_POOL_SIZE": str(args.concurrency + 6),
            # One key sends everything here: a budget it cannot reach (the default, 100/second
            # per key, would answer 429), while the gate still checks it on every request.
            "STAX_RATE_LIMIT": "1000000/second",
        }
        for secure, cfg in cfgs.items():
            stack.start_service(cfg, "intake", log=log_for(secure), extra_env=env)
        for cfg in cfgs.values():
            stack.wait_ready(cfg, ("intake",), timeout=90)
        samples = asyncio.run(measure_all(cfgs, args.requests, args.concurrency, args.rounds))
    security_table("intake", samples)
    record_results("intake", args, samples, started)


if __name__ == "__main__":
    main()
