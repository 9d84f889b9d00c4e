"""The end-to-end benchmark's load generator: one aiohttp session, requests round-robin over the
intake instances (or the design floor's intake), each timed from its send to the first offer
webhook of its request arriving at the receiver (bench.e2e_infra.Receiver)."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector

from bench import e2e_infra as infra
from bench.e2e_stats import open_loop_plan
from bench.intake import _submission

TIMEOUT = 60.0  # a request whose offer has not arrived by then counts as failed


def generator_session() -> ClientSession:
    """The generator's one HTTP session: no cap on connections, each request given TIMEOUT."""
    # Idle connections closed before uvicorn's 5 s keep-alive does: else a request sent just as
    # the server closes one fails with "server disconnected".
    connector = TCPConnector(limit=0, keepalive_timeout=2)
    return ClientSession(connector=connector, timeout=ClientTimeout(total=TIMEOUT))


class Load:
    """The load generator: one aiohttp session, requests round-robin over intake instances."""

    def __init__(self, http: ClientSession, receiver: infra.Receiver, key: str) -> None:
        self.http, self.receiver = http, receiver
        self.headers = {"Authorization": f"Bearer {key}"}
        self.urls: itertools.cycle[str] = itertools.cycle([""])
        self.run = uuid.uuid4().hex[:8]
        self.count = itertools.count()
        self.failed = 0

    def target(self, urls: list[str]) -> None:
        self.urls = itertools.cycle([f"{u}/v1/requests" for u in urls])

    async def one(self, started: float) -> float | None:
        """POST one request; seconds from `started` to its first offer webhook (None: failed)."""
        body = _submission(f"e2e-{self.run}-{next(self.count)}")
        try:
            async with self.http.post(next(self.urls), json=body, headers=self.headers) as answer:
                answer.raise_for_status()
                request_id = (await answer.json())["request_id"]
            arrived = await asyncio.wait_for(self.receiver.expect(request_id), TIMEOUT)
        except (TimeoutError, OSError, ClientError, ValueError, KeyError) as exc:
            self.failed += 1
            if self.failed <= 5:
                print(f"  request failed: {exc!r}")
            return None
        return arrived - started

    async def closed(self, seconds: float, in_flight: int) -> tuple[int, float, list[float]]:
        """(completed, elapsed seconds, latencies) with `in_flight` requests always in flight."""
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                latency = await self.one(time.perf_counter())
                if latency is not None:
                    latencies.append(latency)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        return len(latencies), time.perf_counter() - started, latencies

    async def open(self, rate: float, seconds: float) -> list[float]:
        """Requests sent at `rate`/s whatever happens to earlier ones; latencies from the
        planned send time."""
        plan = open_loop_plan(rate, seconds)
        start = time.perf_counter() + 0.1
        tasks = []
        for offset in plan:
            await asyncio.sleep(max(0.0, start + offset - time.perf_counter()))
            tasks.append(asyncio.create_task(self.one(start + offset)))
        done = await asyncio.gather(*tasks)
        return [x for x in done if x is not None]
