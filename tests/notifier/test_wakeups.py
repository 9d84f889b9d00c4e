"""Delivery workers are woken by PostgreSQL NOTIFY, not found by polling (issue 11, item 3).

The real worker loop, the real doorbell on its own connection, the real PostgreSQL: with a poll
interval of ten minutes, a delivery can only go out promptly if the commit that queued it woke
the worker."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg

from services.notifier.handlers.delivery import OutcomeRecorder
from services.notifier.repositories.deliveries import DUE_CHANNEL
from services.notifier.workers import Workers, run_worker
from shared.doorbell import Doorbell
from tests.notifier.helpers import (
    Delivering,
    Reply,
    ScriptedReceiver,
    add_endpoint,
    apply,
    delivery_deps,
    offer_event,
    receiving,
    settled,
)

NEVER = 600.0  # the fallback poll: far beyond the test's patience


@asynccontextmanager
async def idle_worker(deps: Delivering, database_url: str) -> AsyncIterator[Workers]:
    """One real worker that has already looked, found nothing, and waits on the doorbell."""
    workers = Workers(Doorbell(DUE_CHANNEL))
    worker = run_worker(
        deps.units,
        deps.channels,
        deps.rules,
        deps.clock,
        due=workers.due,
        poll_seconds=NEVER,
        recorder=OutcomeRecorder(deps.units, deps.rules, deps.clock),
        stopping=workers.stopping,
    )
    workers.tasks.append(asyncio.create_task(worker))
    tasks = [
        asyncio.create_task(workers.due.listen(lambda: asyncpg.connect(database_url))),
        *workers.tasks,
    ]
    await asyncio.sleep(1.0)  # listening, and past its first (empty) look for work
    try:
        yield workers
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _arrived(receiver: ScriptedReceiver) -> bool:
    return bool(receiver.arrivals)


async def _seconds_until(done: Callable[[], Awaitable[bool]], within: float = 15.0) -> float:
    started = time.monotonic()
    while not await done():
        assert time.monotonic() - started < within, "the worker was not woken"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_a_queued_delivery_wakes_an_idle_worker_at_once(
    pool: asyncpg.Pool, database_url: str, unique: str
) -> None:
    partner = f"p-{unique}"
    with receiving(Reply(204)) as receiver:
        await add_endpoint(pool, partner, receiver.url)
        async with delivery_deps(pool, [partner]) as deps, idle_worker(deps, database_url):
            envelope, offer = offer_event(partner)
            await apply(pool, offer, envelope)  # fan-out commits the delivery: NOTIFY
            waited = await _seconds_until(settled(pool, partner, 1))
    assert len(receiver.received) == 1
    assert waited < 5.0, waited  # not the ten-minute poll


async def test_deliveries_held_back_by_an_endpoints_cap_go_out_as_its_leases_are_let_go(
    pool: asyncpg.Pool, database_url: str, unique: str
) -> None:
    # Queued before the worker starts, so no commit announces them one by one: with a cap of 1,
    # four deliveries take four claims, and after each (not full) batch only the claim's own
    # news that it left some waiting sends the worker to look again (deliver_due's more_due).
    partner = f"p-{unique}"
    with receiving(Reply(204)) as receiver:
        await add_endpoint(pool, partner, receiver.url)
        for _ in range(4):
            envelope, offer = offer_event(partner)
            await apply(pool, offer, envelope)
        async with delivery_deps(pool, [partner], max_in_flight=1) as deps:
            batched = dataclasses.replace(deps, rules=dataclasses.replace(deps.rules, batch=8))
            async with idle_worker(batched, database_url):
                waited = await _seconds_until(settled(pool, partner, 4))
    assert len(receiver.received) == 4
    assert waited < 5.0, waited  # not the ten-minute poll


async def test_the_doorbell_listens_again_after_its_connection_is_killed(
    pool: asyncpg.Pool, database_url: str, unique: str
) -> None:
    channel = f"stax_test_{unique}"
    due = Doorbell(channel, reconnect_seconds=0.1)
    server_pids: list[int] = []

    async def connect() -> asyncpg.Connection:
        conn = await asyncpg.connect(database_url)
        server_pids.append(conn.get_server_pid())
        return conn

    async def connections(count: int) -> bool:
        return len(server_pids) >= count

    listening = asyncio.create_task(due.listen(connect))
    try:
        await _seconds_until(lambda: connections(1))
        await pool.execute("SELECT pg_terminate_backend($1)", server_pids[0])
        await _seconds_until(lambda: connections(2))
        await asyncio.sleep(0.2)
        await due.wait(0)  # the ring every (re)connection gives, for work announced meanwhile
        await pool.execute("SELECT pg_notify($1, '')", channel)
        started = time.monotonic()
        await due.wait(10.0)
        assert time.monotonic() - started < 5.0
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def test_a_stopping_worker_finishes_the_send_under_way_then_ends(
    pool: asyncpg.Pool, database_url: str, unique: str
) -> None:
    """A send cut off once the endpoint may have it is sent again when its lease runs out; asked
    to stop mid-send, the worker lets the send end and be recorded, then ends by itself."""
    partner = f"p-{unique}"
    with receiving(Reply(204, delay=1.0)) as receiver:
        await add_endpoint(pool, partner, receiver.url)
        async with delivery_deps(pool, [partner]) as deps, idle_worker(deps, database_url) as w:
            envelope, offer = offer_event(partner)
            await apply(pool, offer, envelope)
            await _seconds_until(lambda: _arrived(receiver))  # the send is under way
            await w.finish(within=5.0)
            [task] = w.tasks
            assert task.done() and not task.cancelled()
            assert await settled(pool, partner, 1)()
    assert len(receiver.received) == 1
