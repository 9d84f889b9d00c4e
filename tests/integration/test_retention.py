"""Retention on the real PostgreSQL: expired outbox and inbox rows go, the rest stay."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID, uuid4

import asyncpg
import pytest

from shared.retention import Pruner, RetentionPolicy

# A schema of the tests' own, shaped like every service's: the services' own pruners never
# touch it, so what goes is what this test's pruner deleted.
SCHEMA = "retention_test"
POLICY = RetentionPolicy(outbox_age=timedelta(days=30), inbox_age=timedelta(days=10), batch_size=2)


@pytest.fixture(scope="module", autouse=True)
async def _schema(pool: asyncpg.Pool) -> None:
    await pool.execute(
        f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}; "
        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.outbox (LIKE intake.outbox INCLUDING ALL); "
        f"CREATE TABLE IF NOT EXISTS {SCHEMA}.inbox (LIKE intake.inbox INCLUDING ALL)"
    )


async def _outbox_row(
    pool: asyncpg.Pool, *, age_days: float, published: bool = True, quarantined: bool = False
) -> UUID:
    ce_id = uuid4()
    at = timedelta(days=age_days)
    await pool.execute(
        f"INSERT INTO {SCHEMA}.outbox (ce_id, topic, key, headers, value, created_at, "
        "published_at, quarantined_at) VALUES ($1, 't', 'k', '{}', 'v', now() - $2::interval, "
        "CASE WHEN $3 THEN now() - $2::interval END, CASE WHEN $4 THEN now() - $2::interval END)",
        ce_id,
        at,
        published,
        quarantined,
    )
    return ce_id


async def _inbox_row(pool: asyncpg.Pool, *, age_days: float) -> UUID:
    ce_id = uuid4()
    await pool.execute(
        f"INSERT INTO {SCHEMA}.inbox (consumer, ce_id, processed_at) "
        "VALUES ('test', $1, now() - $2::interval)",
        ce_id,
        timedelta(days=age_days),
    )
    return ce_id


async def _left(pool: asyncpg.Pool, table: str, ce_ids: list[UUID]) -> set[UUID]:
    rows = await pool.fetch(
        f"SELECT ce_id FROM {SCHEMA}.{table} WHERE ce_id = ANY($1::uuid[])", ce_ids
    )
    return {r["ce_id"] for r in rows}


async def test_rows_older_than_their_age_are_deleted_and_younger_or_unsent_ones_kept(
    pool: asyncpg.Pool,
) -> None:
    old_sent = [await _outbox_row(pool, age_days=31) for _ in range(5)]  # more than one batch
    old_quarantined = await _outbox_row(pool, age_days=31, published=False, quarantined=True)
    old_unsent = await _outbox_row(pool, age_days=31, published=False)
    young_sent = await _outbox_row(pool, age_days=29)
    old_applied = [await _inbox_row(pool, age_days=11) for _ in range(3)]
    young_applied = await _inbox_row(pool, age_days=9)

    deleted = await Pruner(SCHEMA, POLICY).prune(pool)

    assert deleted >= 5 + 1 + 3  # other rows of this schema may have expired as well
    outbox = [*old_sent, old_quarantined, old_unsent, young_sent]
    # An unsent row is never pruned, however old: it is an event not yet told.
    assert await _left(pool, "outbox", outbox) == {old_unsent, young_sent}
    assert await _left(pool, "inbox", [*old_applied, young_applied]) == {young_applied}


async def test_replicas_pruning_at_once_share_the_work(pool: asyncpg.Pool) -> None:
    old = [await _outbox_row(pool, age_days=40) for _ in range(9)]
    young = await _outbox_row(pool, age_days=1)

    counts = await asyncio.gather(*(Pruner(SCHEMA, POLICY).prune(pool) for _ in range(3)))

    assert sum(counts) >= len(old)  # each old row deleted by one of them, none failed
    assert await _left(pool, "outbox", [*old, young]) == {young}
