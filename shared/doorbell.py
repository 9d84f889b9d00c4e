"""Wake-ups instead of polling: a PostgreSQL LISTEN that rings a bell idle loops wait on.

A writer that makes work due runs `SELECT pg_notify(<channel>, '')` in its transaction; NOTIFY is
transactional, so the bell rings when that work is committed, never before, and not at all on a
rollback. Each process keeps one listening connection per channel (`Doorbell.listen`, a
background task). Waiters still wake after a timeout: a notification can be missed while the
listening connection is being re-established, and work can fall due by the clock alone (a retry
scheduled for later), so polling stays — as the fallback, not the way work is found.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from shared.db import is_transient_db_error

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[asyncpg.Connection]]


class Doorbell:
    """Each ring wakes one waiter, the longest waiting; with none waiting, the next wait returns
    at once. Waking every idle loop for each notice would send them all to look for the same
    work (a thundering herd): the one woken takes what it can and rings again (`ring`) when it
    found more than it could take."""

    def __init__(self, channel: str, *, reconnect_seconds: float = 1.0) -> None:
        self.channel = channel
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._pending = False
        self._reconnect = reconnect_seconds

    def ring(self, *_args: Any) -> None:
        """Wake one waiter (asyncpg's listener callback, or anyone in this process)."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # a waiter that timed out is done (cancelled)
                waiter.set_result(None)
                return
        self._pending = True

    async def wait(self, at_most: float) -> None:
        """Return when the bell rings for this waiter, or after `at_most` seconds."""
        if self._pending:
            self._pending = False
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter, at_most)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    async def listen(self, connect: Connect) -> None:
        """LISTEN until cancelled, reconnecting after a database outage."""
        while True:
            try:
                await self._listen_once(connect)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the fallback timeout covers the gap
                level = logging.WARNING if is_transient_db_error(exc) else logging.ERROR
                log.log(level, "doorbell %s: listening stopped: %r", self.channel, exc)
            await asyncio.sleep(self._reconnect)

    async def _listen_once(self, connect: Connect) -> None:
        conn = await connect()
        try:
            await conn.add_listener(self.channel, self.ring)
            self.ring()  # whatever was announced while nobody listened is looked for now
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn: lost.set())
            await lost.wait()
        finally:
            with contextlib.suppress(Exception):
                await conn.close()
