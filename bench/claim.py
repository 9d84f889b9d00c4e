"""Benchmark: notifier's delivery claim as its table grows.

Every delivery row is written three times (queued, leased, its outcome), so between two vacuums
most index entries of the due queue point to dead row versions. A claim whose plan skips them
cheaply costs the same whatever the table holds; one that visits each (a bitmap scan does) slows
as the table grows. This drives the real repository (`DeliveryRepository`, one unit per step, as
the workers do) on a private PostgreSQL: each step queues a request's three deliveries (two
webhooks, an e-mail), claims what is due and records the outcomes of the claims of three steps
before (so leases are held meanwhile, as during sends). Autovacuum runs as configured.

Printed per eighth of the run: rows in the table, dead row versions, the mean claim (the whole
unit: BEGIN to COMMIT) and its ratio to the first eighth's, the baseline of the same run. A ratio
near 1 means the claim does not grow with the table. A floor line gives one round trip (`SELECT
1` in a unit) on the same pool.

    STAX_BENCH_PORT_BASE=27000 python -m bench.claim [--steps N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4

import asyncpg

from bench.common import RESULTS, table
from deploy.local import postgres
from services.notifier.domain import AttemptRecord, Delivery, NewDelivery
from services.notifier.migrations import MIGRATIONS
from services.notifier.unit_of_work import NotifierUnits, pg_units

HELD_STEPS = 3  # outcomes are recorded this many steps after their claim
WINDOWS = 8


async def _targets(units: NotifierUnits) -> tuple[list[UUID], UUID]:
    """Two webhook endpoints and an e-mail contact, made as the API makes them."""
    endpoints = [uuid4(), uuid4()]
    async with units() as uow:
        for n, endpoint_id in enumerate(endpoints):
            await uow.endpoints.create(
                endpoint_id=endpoint_id,
                partner_id=f"bench-{n}",
                url=f"https://hooks{n}.example.org/x",
                secret="whsec_" + "A" * 32,
                event_types=[],
            )
        contact = await uow.contacts.create(
            contact_id=uuid4(),
            partner_id="bench-0",
            email="a@example.org",
            name="A",
            language="en",
            event_types=[],
        )
    return endpoints, contact.contact_id


def _new(endpoint_id: UUID | None, contact_id: UUID | None) -> NewDelivery:
    return NewDelivery(
        delivery_id=uuid4(),
        event_id=uuid4(),
        event_type="ta.assignment.offered",
        partner_id="bench-0",
        request_id=None,
        payload="{}",
        endpoint_id=endpoint_id,
        contact_id=contact_id,
    )


async def _claim(units: NotifierUnits) -> tuple[list[Delivery], float]:
    now = datetime.now(UTC)
    started = time.perf_counter()
    async with units() as uow:
        claimed = await uow.deliveries.claim_batch(
            now=now,
            lease_until=now + timedelta(seconds=30),
            max_in_flight_per_endpoint=4,
            limit=10,
        )
    return claimed.deliveries, time.perf_counter() - started


async def _record(units: NotifierUnits, claimed: Sequence[Delivery]) -> None:
    for delivery in claimed:
        outcome = AttemptRecord("delivered", None, None, datetime.now(UTC))
        async with units() as uow:
            await uow.deliveries.record_attempts([(delivery.delivery_id, delivery.lease, outcome)])


async def _table_state(pool: asyncpg.Pool) -> tuple[int, int, int]:
    row = await pool.fetchrow(
        "SELECT n_live_tup, n_dead_tup, autovacuum_count FROM pg_stat_user_tables "
        "WHERE schemaname = 'notifier' AND relname = 'deliveries'"
    )
    assert row is not None
    return row[0], row[1], row[2]


async def _floor(pool: asyncpg.Pool, n: int = 500) -> float:
    started = time.perf_counter()
    for _ in range(n):
        async with pool.acquire() as conn, conn.transaction():
            await conn.fetchval("SELECT 1")
    return (time.perf_counter() - started) / n


async def _run(pool: asyncpg.Pool, steps: int) -> list[dict[str, float]]:
    units = pg_units(pool)
    endpoints, contact_id = await _targets(units)
    held: list[list[Delivery]] = []
    times: list[float] = []
    windows: list[dict[str, float]] = []
    for step in range(1, steps + 1):
        async with units() as uow:
            for new in (_new(endpoints[0], None), _new(endpoints[1], None), _new(None, contact_id)):
                await uow.deliveries.add(new)
        claimed, took = await _claim(units)
        times.append(took)
        held.append(claimed)
        if len(held) > HELD_STEPS:
            await _record(units, held.pop(0))
        if step % (steps // WINDOWS) == 0:
            live, dead, vacuums = await _table_state(pool)
            recent = times[-(steps // WINDOWS) :]
            windows.append(
                {
                    "steps": step,
                    "live_rows": live,
                    "dead_rows": dead,
                    "autovacuums": vacuums,
                    "claim_ms": 1000 * sum(recent) / len(recent),
                }
            )
            print(f"  {step}/{steps} steps, claim {windows[-1]['claim_ms']:.3f} ms", flush=True)
    return windows


async def _bench(port: int, steps: int) -> tuple[list[dict[str, float]], float]:
    home = Path(tempfile.mkdtemp(prefix="stax-bench-claim-"))
    cfg = postgres.PostgresConfig(home=home, port=port)
    postgres.ensure_initialised(cfg)
    postgres.start(cfg)
    try:
        pool = await asyncpg.create_pool(cfg.url, min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                await MIGRATIONS.apply(conn)
            windows = await _run(pool, steps)
            floor_ms = 1000 * await _floor(pool)
        finally:
            await pool.close()
    finally:
        postgres.stop(cfg)
    return windows, floor_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=16_000, help="requests' worth of deliveries")
    args = parser.parse_args()
    port = int(os.environ.get("STAX_BENCH_PORT_BASE", "27000")) + 500
    started = time.monotonic()
    windows, floor_ms = asyncio.run(_bench(port, args.steps))
    first = windows[0]["claim_ms"]
    table(
        "notifier's delivery claim as the table grows (baseline: the first eighth, same run)",
        ["steps", "rows", "dead rows", "autovacuums", "claim ms", "ratio"],
        [
            [
                w["steps"],
                w["live_rows"],
                w["dead_rows"],
                w["autovacuums"],
                f"{w['claim_ms']:.3f}",
                f"{w['claim_ms'] / first:.2f}",
            ]
            for w in windows
        ],
    )
    print(f"\n  floor: one round trip in a unit (SELECT 1), {floor_ms:.3f} ms")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "claim.json"
    body = {
        "benchmark": "claim",
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "args": vars(args),
        "ratio_last_first": round(windows[-1]["claim_ms"] / first, 3),
        "windows": windows,
        "floor_ms": floor_ms,
    }
    path.write_text(json.dumps(body, indent=2) + "\n")
    print(f"  results: {path.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()
