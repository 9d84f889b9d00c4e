"""PostgreSQL access: a pool that waits for the database, and the transient-error test."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

log = logging.getLogger(__name__)

# What handlers receive: a plain connection or one borrowed from a pool.
Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy

# Errors after which the same work may well succeed later: the server is down, restarting,
# or refused us for now. Everything else is a bug or bad data and is not retried forever.
_TRANSIENT_DB: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    ConnectionError,
    socket.gaierror,
    OSError,
    TimeoutError,
    asyncio.TimeoutError,
)


def is_transient_db_error(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSIENT_DB)


async def _reset(conn: asyncpg.Connection) -> None:
    """What a connection goes back to the pool with. asyncpg's default sends RESET ALL, CLOSE
    ALL, UNLISTEN * and pg_advisory_unlock_all() on every release: a round trip per unit of
    work. Pooled work here leaves no session state behind (the outbox relay undoes its own
    LISTEN and advisory lock; the doorbell has a connection of its own), so the full reset runs
    only after an accident: a transaction left open."""
    if conn.is_in_transaction():
        await conn.reset()


async def create_pool(url: str, *, max_size: int = 10, wait_seconds: float = 120.0) -> asyncpg.Pool:
    """Open a pool, retrying while the database is not reachable yet (stack start-up)."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_transient_db_error),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(wait_seconds),
        reraise=True,
    ):
        with attempt:
            pool: asyncpg.Pool = await asyncpg.create_pool(
                url, min_size=1, max_size=max_size, command_timeout=30, reset=_reset
            )
            return pool
    raise AssertionError("unreachable: tenacity re-raises the last error")
