"""The transactional outbox: events are rows written in the state transaction, relayed to Kafka.

Writers call `Outbox.add` inside their transaction. One `OutboxRelay` per service schema (whichever
replica holds the advisory lock) publishes unpublished rows in id order with the idempotent,
acks=all producer and marks them published. A crash between publish and mark re-publishes the
same `ce_id`; consumers' inboxes make that harmless (at-least-once, exactly-once effects).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg

from shared.db import Conn, is_transient_db_error
from shared.envelope import OutgoingRecord

log = logging.getLogger(__name__)

# (topic, key, headers, value) in order; returns when Kafka acknowledged every record.
PublishAll = Callable[[Sequence[tuple[str, bytes, dict[str, str], bytes]]], Awaitable[None]]


class Outbox:
    """SQL for `<schema>.outbox`; the schema name is a constant of the service, never user input."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.channel = f"stax_outbox_{schema}"
        self._insert = (
            f"INSERT INTO {schema}.outbox (ce_id, topic, key, headers, value) "
            "VALUES ($1, $2, $3, $4::jsonb, $5)"
        )
        self.select_batch = (
            f"SELECT id, topic, key, headers, value FROM {schema}.outbox "
            # FOR UPDATE: even a relay that skipped the leader lock (or a manual run) waits
            # for the leader's batch and then finds those rows published, never re-sends them.
            "WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE"
        )
        self.mark_published = (
            f"UPDATE {schema}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
        )

    async def add(self, conn: Conn, records: Sequence[OutgoingRecord]) -> None:
        """Queue records in the caller's transaction; the relay is woken when it commits."""
        if not records:
            return
        await conn.executemany(
            self._insert,
            [(r.ce_id, r.topic, r.key, json.dumps(r.headers), r.value) for r in records],
        )
        # NOTIFY is transactional: delivered on commit, dropped on rollback.
        await conn.execute("SELECT pg_notify($1, '')", self.channel)


class OutboxRelay:
    """Background task: relays one schema's outbox to Kafka, as the single leader for it."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        outbox: Outbox,
        publish_all: PublishAll,
        *,
        poll_seconds: float = 1.0,
        batch_size: int = 500,
    ) -> None:
        self._pool = pool
        self._outbox = outbox
        self._publish_all = publish_all
        self._poll = poll_seconds
        self._batch = batch_size
        self._wake = asyncio.Event()
        self.relayed = 0

    async def run(self) -> None:
        """Relay until cancelled; survives database and broker outages by retrying."""
        delay = self._poll
        while True:
            try:
                await self._lead()
                delay = self._poll
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a relay must outlive any outage
                level = logging.WARNING if is_transient_db_error(exc) else logging.ERROR
                log.log(level, "outbox relay %s paused: %r", self._outbox.schema, exc)
                delay = min(delay * 2, 15.0)
            await asyncio.sleep(delay)

    async def _lead(self) -> None:
        async with self._pool.acquire() as conn:
            # Only one relay per schema publishes, so rows leave in id order and one request's
            # events keep their order on its partition even with many replicas running.
            lock = f"stax.outbox.{self._outbox.schema}"
            if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", lock):
                return
            await conn.add_listener(self._outbox.channel, self._on_notify)
            try:
                await self._relay_forever(conn)
            finally:
                with contextlib.suppress(Exception):
                    await conn.remove_listener(self._outbox.channel, self._on_notify)
                    await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock)

    def _on_notify(self, *_args: Any) -> None:
        self._wake.set()

    async def _relay_forever(self, conn: Conn) -> None:
        while True:
            self._wake.clear()
            if await self.relay_batch(conn) == self._batch:
                continue  # more may be waiting
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)

    async def relay_batch(self, conn: Conn) -> int:
        """Publish one batch; rows are marked only after Kafka acknowledged all of them."""
        async with conn.transaction():
            rows = await conn.fetch(self._outbox.select_batch, self._batch)
            if not rows:
                return 0
            await self._publish_all(
                [
                    (r["topic"], bytes(r["key"]), json.loads(r["headers"]), bytes(r["value"]))
                    for r in rows
                ]
            )
            await conn.execute(self._outbox.mark_published, [r["id"] for r in rows])
        self.relayed += len(rows)
        return len(rows)
