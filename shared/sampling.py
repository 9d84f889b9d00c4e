"""Gauges read from PostgreSQL every so often: what no counter can tell, such as how long the
outbox's queue is and how old its oldest row.

Every replica samples the same tables, so replicas report the same values: read them with
`max by (service)`, not `sum`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from prometheus_client import Gauge

from shared.db import is_transient_db_error
from shared.outbox import Outbox

log = logging.getLogger(__name__)

# Often enough for a dashboard and an alert that waits minutes; one small query a service each.
SAMPLE_SECONDS = 15.0

OUTBOX_BACKLOG = Gauge(
    "stax_outbox_backlog",
    "Outbox rows waiting to be published (neither published nor quarantined), when sampled",
    ["service"],
)
OUTBOX_OLDEST_AGE = Gauge(
    "stax_outbox_oldest_age_seconds",
    "Age of the oldest outbox row waiting to be published when sampled; 0 when none waits",
    ["service"],
)


async def sample_every(seconds: float, sample: Callable[[], Awaitable[None]], what: str) -> None:
    """Sample now, then every `seconds`, until cancelled. A failed sample (the database away)
    leaves the gauges at their last values and is tried again next time."""
    while True:
        try:
            await sample()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a sampler must outlive any outage
            level = logging.WARNING if is_transient_db_error(exc) else logging.ERROR
            log.log(level, "sampling %s failed: %r", what, exc)
        await asyncio.sleep(seconds)


class OutboxBacklog:
    """Samples one service's outbox into `stax_outbox_backlog` and its oldest row's age."""

    def __init__(self, pool: asyncpg.Pool, outbox: Outbox, service: str) -> None:
        self._pool = pool
        self._outbox = outbox
        self._backlog = OUTBOX_BACKLOG.labels(service)
        self._oldest = OUTBOX_OLDEST_AGE.labels(service)

    async def sample(self) -> None:
        row = await self._pool.fetchrow(self._outbox.backlog)
        assert row is not None  # an aggregate always returns one row
        self._backlog.set(row["backlog"])
        self._oldest.set(row["oldest"])
