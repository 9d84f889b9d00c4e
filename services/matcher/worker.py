"""matcher's background worker: expires offers nobody answered in time (a durable timer)."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from services.matcher import handlers
from shared.db import is_transient_db_error

log = logging.getLogger(__name__)


async def expire_due(deps: handlers.MatcherDeps, pool: asyncpg.Pool) -> int:
    """Expire every overdue offer; one request per transaction. Returns requests handled."""
    handled = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            if not await handlers.expire_due_in(deps, conn):
                return handled
        handled += 1


async def run_expiry(deps: handlers.MatcherDeps, pool: asyncpg.Pool, poll_seconds: float) -> None:
    """Until cancelled. The deadlines live in PostgreSQL, so a restart forgets none of them."""
    while True:
        try:
            await expire_due(deps, pool)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            level = logging.WARNING if is_transient_db_error(exc) else logging.ERROR
            log.log(level, "expiry worker paused: %r", exc, exc_info=level == logging.ERROR)
        await asyncio.sleep(poll_seconds)
