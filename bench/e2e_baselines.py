"""The end-to-end benchmark's raw baselines, on the same stack in the same run: aiokafka
produce -> consume, an asyncpg INSERT + COMMIT, an aiohttp echo round trip."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
from aiohttp import ClientSession, TCPConnector, web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deploy.local import stack
from shared.kafka import ensure_topics

RAW_TOPIC = "bench.e2e.raw"


async def raw_kafka(cfg: stack.StackSettings, n: int) -> float:
    """Records/s of aiokafka produce (acks=all) → consume of n 500-byte records."""
    access = cfg.kafka_access()
    await ensure_topics(access, {RAW_TOPIC: 3})
    consumer = AIOKafkaConsumer(RAW_TOPIC, **access.aiokafka(), auto_offset_reset="latest")
    await consumer.start()
    producer = AIOKafkaProducer(**access.aiokafka(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=100)
        await consumer.seek_to_end()
        run = uuid.uuid4().hex.encode()
        started = time.perf_counter()
        sent = [await producer.send(RAW_TOPIC, b"x" * 500, key=run + b"%d" % i) for i in range(n)]
        seen = 0
        while seen < n:
            batch = await consumer.getmany(timeout_ms=200)
            seen += sum(1 for rs in batch.values() for r in rs if (r.key or b"").startswith(run))
        await asyncio.gather(*sent)
        return n / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await consumer.stop()


async def raw_postgres(cfg: stack.StackSettings, seconds: float, in_flight: int) -> float:
    """Transactions/s of INSERT + COMMIT with asyncpg, `in_flight` connections."""
    pool = await asyncpg.create_pool(cfg.db_url, min_size=in_flight, max_size=in_flight)
    try:
        await pool.execute(
            "CREATE TABLE IF NOT EXISTS public.bench_e2e_raw (id uuid PRIMARY KEY, body text)"
        )

        async def one() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO public.bench_e2e_raw VALUES ($1, $2)", uuid.uuid4(), "x" * 500
                )

        return await _rate(one, seconds, in_flight)
    finally:
        await pool.close()


async def raw_http(seconds: float, in_flight: int) -> float:
    """Round trips/s of an aiohttp echo server and client, in this one process."""

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read(), status=200)

    app = web.Application()
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/echo"
    try:
        async with ClientSession(connector=TCPConnector(limit=in_flight)) as http:

            async def one() -> None:
                async with http.post(url, data=b"x" * 500) as answer:
                    await answer.read()

            return await _rate(one, seconds, in_flight)
    finally:
        await runner.cleanup()


async def _rate(one: Any, seconds: float, in_flight: int) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await one()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return done / (time.perf_counter() - started)
