"""Wake-ups instead of polling: a PostgreSQL LISTEN that rings a bell idle loops wait on.

A writer that makes work due runs `SELECT pg_notify(<channel>, '')` in its transaction; NOTIFY is
transactional, so the bell rings when that work is committed, never before, and not at all on a
rollback. Each process keeps one listening connection per channel (`Doorbell.listen`, a
background task). Waiters still wake after a timeout: a notification can be missed while the
listening connection is being re-established, and work can fall due by the clock alone (a retry
scheduled for later), so polling stays — as the fallback, not the way work is found.

`Arrivals` is the same LISTEN for waiters that each want one thing (the notice's payload names
it), such as an HTTP request waiting for a row another process is about to commit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import asyncpg

from shared.db import is_transient_db_error

log = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[asyncpg.Connection]]
# asyncpg's listener callback: (connection, sender's pid, channel, payload).
Listener = Callable[[Any, int, str, object], None]


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
        await listen(self.channel, self.ring, connect, reconnect_seconds=self._reconnect)


class Arrivals:
    """Waiters for one named thing each (a NOTIFY payload, such as a row's id): a notice wakes
    every waiter for its payload and no other. At most `capacity` wait in a process at once,
    and at most `per_owner` for one owner (whoever asks: a partner); beyond either `expecting`
    yields None, so that requests for things that never come cannot pile up (each waiter holds
    a request open), nor one owner's crowd out the others'."""

    def __init__(
        self, channel: str, *, capacity: int, per_owner: int, reconnect_seconds: float = 1.0
    ) -> None:
        self.channel = channel
        self._capacity = capacity
        self._per_owner = per_owner
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self._owners: collections.Counter[str] = collections.Counter()
        self._reconnect = reconnect_seconds

    def heard(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        """asyncpg's listener callback: wake whoever waits for `payload` (a str)."""
        for arrived in self._waiting.get(str(payload), ()):
            arrived.set()

    @contextlib.contextmanager
    def expecting(self, key: str, owner: str) -> Iterator[asyncio.Event | None]:
        """An event set when `key` is announced, from now until the block ends; None when too
        many wait already. Enter before looking for the thing: a notice between the look and
        the wait is then not lost."""
        if self._owners.total() >= self._capacity or self._owners[owner] >= self._per_owner:
            yield None
            return
        arrived = asyncio.Event()
        self._waiting.setdefault(key, set()).add(arrived)
        self._owners[owner] += 1
        try:
            yield arrived
        finally:
            self._owners[owner] -= 1
            if not self._owners[owner]:
                del self._owners[owner]
            waiters = self._waiting[key]
            waiters.discard(arrived)
            if not waiters:
                del self._waiting[key]

    async def listen(self, connect: Connect) -> None:
        """LISTEN until cancelled, reconnecting after a database outage."""
        await listen(self.channel, self.heard, connect, reconnect_seconds=self._reconnect)


async def listen(
    channel: str, heard: Listener, connect: Connect, *, reconnect_seconds: float
) -> None:
    """LISTEN on `channel` until cancelled, calling `heard` for each notice (and once with an
    empty payload on each (re)connection: notices sent while nobody listened are lost), and
    reconnecting after a database outage."""
    while True:
        try:
            await _listen_once(channel, heard, connect)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the waiters' timeouts cover the gap
            level = logging.WARNING if is_transient_db_error(exc) else logging.ERROR
            log.log(level, "listening on %s stopped: %r", channel, exc)
        await asyncio.sleep(reconnect_seconds)


async def _listen_once(channel: str, heard: Listener, connect: Connect) -> None:
    conn = await connect()
    try:
        await conn.add_listener(channel, heard)
        heard(conn, 0, channel, "")  # whatever was announced while nobody listened: look now
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await lost.wait()
    finally:
        with contextlib.suppress(Exception):
            await conn.close()
