"""Retention: published outbox rows and inbox rows are deleted once older than a set age.

Both tables used to grow for ever, and outbox rows carry whole events (personal data
included). One pruner per service schema runs in every replica; it needs no leader: each
batch is an idempotent `DELETE … WHERE <old enough> LIMIT n`, so two replicas pruning at once
only share the work (SKIP LOCKED keeps them off each other's rows).

Why pruning the inbox is safe: an inbox row only has to outlive every redelivery of its event.
Kafka redelivers a record only while the topic still holds it, so an inbox row older than the
topics' retention (7 days by default, plus at most one segment's age) guards nothing any more.
The default age (30 days) is kept well above that; whoever raises a topic's retention must
raise `STAX_INBOX_RETENTION_DAYS` with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from shared.db import is_transient_db_error

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetentionPolicy:
    outbox_age: timedelta
    inbox_age: timedelta
    batch_size: int = 1000


class Pruner:
    """Deletes one schema's expired outbox and inbox rows; the schema is a service constant."""

    def __init__(self, schema: str, policy: RetentionPolicy) -> None:
        self._policy = policy
        # Published rows, and quarantined ones: an operator has the whole age to inspect those
        # (they were reported on the dead-letter topic when set aside). Unsent rows are kept.
        self._outbox = (
            f"DELETE FROM {schema}.outbox WHERE id IN (SELECT id FROM {schema}.outbox "
            "WHERE coalesce(published_at, quarantined_at) < now() - $1::interval "
            "ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)"
        )
        self._inbox = (
            f"DELETE FROM {schema}.inbox WHERE (consumer, ce_id) IN (SELECT consumer, ce_id "
            f"FROM {schema}.inbox WHERE processed_at < now() - $1::interval "
            "LIMIT $2 FOR UPDATE SKIP LOCKED)"
        )

    async def prune(self, pool: asyncpg.Pool) -> int:
        """Delete every expired row, a batch per transaction; returns how many went."""
        total = 0
        for sql, age in (
            (self._outbox, self._policy.outbox_age),
            (self._inbox, self._policy.inbox_age),
        ):
            while (deleted := await self._batch(pool, sql, age)) > 0:
                total += deleted
        return total

    async def _batch(self, pool: asyncpg.Pool, sql: str, age: timedelta) -> int:
        # Short transactions: a long DELETE would hold locks the relay and consumers wait on.
        status: str = await pool.execute(sql, age, self._policy.batch_size)
        return int(status.rsplit(maxsplit=1)[-1])


async def run_pruner(pool: asyncpg.Pool, pruner: Pruner, every_seconds: float) -> None:
    """Prune now and then every `every_seconds`, until cancelled; outages only delay it."""
    await prune_every(lambda: pruner.prune(pool), every_seconds, "expired outbox/inbox rows")


async def prune_every(prune: Callable[[], Awaitable[int]], every_seconds: float, what: str) -> None:
    """Run `prune` (which says how many rows went) now and then every `every_seconds`, until
    cancelled; a failure is logged and only delays the next round."""
    while True:
        try:
            if deleted := await prune():
                log.info("retention: %d %s deleted", deleted, what)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - pruning must outlive any outage
            level = logging.WARNING if is_transient_db_error(exc) else logging.ERROR
            log.log(level, "retention: pruning %s paused: %r", what, exc)
        await asyncio.sleep(every_seconds)
