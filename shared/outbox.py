"""The transactional outbox: events are rows written in the state transaction, relayed to Kafka.

Writers call `Outbox.add` inside their transaction. One `OutboxRelay` per service schema (whichever
replica holds the advisory lock) publishes unpublished rows in id order with the idempotent,
acks=all producer and marks them published. A crash between publish and mark re-publishes the
same `ce_id`; consumers' inboxes make that harmless (at-least-once, exactly-once effects).

A row that can never be published (larger than a Kafka record may be, or refused by the producer
for good) would stop the relay for ever, since rows leave in order. Such a row is quarantined
instead: kept in the table with the reason, counted (`stax_outbox_quarantined_total`), reported on
the dead-letter topic, and passed over, so the rows behind it still go out, in order. A transient
failure (broker down) quarantines nothing: the whole batch is retried.

A topic Kafka refuses (this principal may not write it, or it does not exist) is neither: an
operator can mend it, but until then its rows must not hold up every other topic's. The relay
holds that topic's rows back, in their order, and retries the topic after a delay that doubles
(up to five minutes); the other topics' rows go on. The backlog and its oldest row's age
(shared.sampling) show what waits, and the log says which topic and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from aiokafka.errors import InvalidTopicError, MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from prometheus_client import Counter

from shared import telemetry, topics
from shared.bounds import clip
from shared.db import Conn, is_transient_db_error
from shared.envelope import OutgoingRecord
from shared.kafka import DEAD_LETTERED, TopicRefusedError

log = logging.getLogger(__name__)

# (topic, key, headers, value) in order; returns when Kafka acknowledged every record.
KafkaRecord = tuple[str, bytes, dict[str, str], bytes]
PublishAll = Callable[[Sequence[KafkaRecord]], Awaitable[None]]
# Told, once a batch is committed, which records Kafka acknowledged and which were set aside.
Relayed = Callable[[Sequence[KafkaRecord], Sequence[KafkaRecord]], None]

# aiokafka's default max_request_size, which the producer of shared.kafka keeps: the producer
# refuses a larger record itself. (The broker's default message.max.bytes is 12 bytes larger, so
# the producer's limit is the one that binds.) Checking it here finds such a row before sending.
DEFAULT_MAX_RECORD_BYTES = 1024 * 1024

# Refusals of one record that no retry can cure. Anything else (broker down, timeouts, a leader
# moving) fails the whole batch, which is retried: an outage must never quarantine a row.
UNPUBLISHABLE: tuple[type[Exception], ...] = (
    MessageSizeTooLargeError,
    RecordTooLargeError,
    InvalidTopicError,
)

# How long a topic Kafka refused is held back at first, and at most: each refusal in a row
# doubles it. Long enough not to spend the relay's time asking, short enough that an operator's
# fix is seen soon.
FIRST_HOLD_SECONDS = 5.0
MAX_HOLD_SECONDS = 300.0

QUARANTINED = Counter(
    "stax_outbox_quarantined_total",
    "Outbox rows that can never be published, kept aside with the reason",
    ["schema"],
)


class Outbox:
    """SQL for `<schema>.outbox`; the schema name is a constant of the service, never user input."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self.channel = f"stax_outbox_{schema}"
        # Every row of a unit in one statement, its NOTIFY in the same round trip: a
        # data-modifying WITH runs once whether or not the query reads it. unnest keeps the
        # arrays' order, so ids (the relay's order) follow the order the rows were emitted in.
        self._insert = (
            f"WITH added AS (INSERT INTO {schema}.outbox (ce_id, topic, key, headers, value) "
            "SELECT c, t, k, h::jsonb, v FROM unnest($1::uuid[], $2::text[], $3::bytea[], "
            "$4::text[], $5::bytea[]) AS r(c, t, k, h, v)) "
            "SELECT pg_notify($6, '')"
        )
        # No FOR UPDATE, and no transaction around a batch: only the holder of the schema's
        # advisory lock relays (OutboxRelay._lead). A relay that skipped the lock (a manual run)
        # could send rows again, as a crash between publish and mark does: the same ce_id, which
        # consumers' inboxes absorb. The transaction cost two round trips a batch, for nothing.
        # The rows of the batch before ($2, sent and acknowledged) are marked by the same
        # statement: one round trip a batch, not two. Its SELECT reads the snapshot the UPDATE
        # started from, where they are still unpublished, hence `id <> ALL($2)`.
        self.select_batch = (
            f"WITH marked AS (UPDATE {schema}.outbox SET published_at = now() "
            "WHERE id = ANY($2::bigint[])) "
            f"SELECT id, ce_id, topic, key, headers, value FROM {schema}.outbox "
            "WHERE published_at IS NULL AND quarantined_at IS NULL AND id <> ALL($2::bigint[]) "
            # Topics held back (OutboxRelay._hold): their rows wait, the others' go on.
            "AND topic <> ALL($3::text[]) "
            "ORDER BY id LIMIT $1"
        )
        self.mark_published = (
            f"UPDATE {schema}.outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
        )
        self._redact = (
            f"UPDATE {schema}.outbox SET value = convert_to("
            "(convert_from(value, 'UTF8')::jsonb - $3::text[])::text, 'UTF8') "
            "WHERE key = convert_to($1, 'UTF8') AND headers->>'ce_type' = ANY($2::text[])"
        )
        self.mark_quarantined = (
            f"UPDATE {schema}.outbox SET quarantined_at = now(), quarantine_reason = $2 "
            "WHERE id = $1"
        )
        # The relay's queue (its partial index): how long, and how old its oldest row.
        self.backlog = (
            "SELECT count(*) AS backlog, "
            "coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest "
            f"FROM {schema}.outbox WHERE published_at IS NULL AND quarantined_at IS NULL"
        )

    async def redact(
        self, conn: Conn, request_id: UUID, ce_types: Sequence[str], fields: Sequence[str]
    ) -> int:
        """Remove `fields` from the data of this request's rows of the given types (an erasure).

        Rows are found by their Kafka key, the request id. The value stays valid JSON; readers
        of a row relayed after this see the event without those fields."""
        status: str = await conn.execute(
            self._redact, str(request_id), list(ce_types), list(fields)
        )
        return int(status.rsplit(maxsplit=1)[-1])

    async def add(self, conn: Conn, records: Sequence[OutgoingRecord]) -> None:
        """Queue records in the caller's transaction; the relay is woken when it commits.
        Their headers are written as they are: see `traced`."""
        if not records:
            return
        # NOTIFY is transactional: delivered on commit, dropped on rollback.
        await conn.execute(
            self._insert,
            [r.ce_id for r in records],
            [r.topic for r in records],
            [r.key for r in records],
            [json.dumps(r.headers) for r in records],
            [r.value for r in records],
            self.channel,
        )


def traced(record: OutgoingRecord) -> OutgoingRecord:
    """The record, its headers carrying the current context (shared.telemetry): the relay
    publishes the row under it, so the request's trace goes on across Kafka. Taken when the
    record is emitted, in its use case's span, not when the unit writes its rows."""
    if not telemetry.active():
        return record
    headers = dict(record.headers)
    telemetry.inject(headers)
    return dataclasses.replace(record, headers=headers)


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
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        quarantined: Counter = QUARANTINED,
        on_relayed: Relayed | None = None,
        first_hold_seconds: float = FIRST_HOLD_SECONDS,
    ) -> None:
        self._pool = pool
        self._outbox = outbox
        self._publish_all = publish_all
        self._poll = poll_seconds
        self._batch = batch_size
        self._max_bytes = max_record_bytes
        self._quarantined = quarantined.labels(outbox.schema)
        self._reported = DEAD_LETTERED.labels(outbox.schema, "outbox_quarantined")
        self._on_relayed = on_relayed
        self._wake = asyncio.Event()
        self.relayed = 0
        # Sent and acknowledged, not marked yet: the next batch's statement marks them. A crash
        # before it sends them again, as a crash between publish and mark always could.
        self._unmarked: list[int] = []
        self._first_hold = first_hold_seconds
        # Topics Kafka refused: until when each is held back, and for how long it was.
        self._holds: dict[str, _Hold] = {}

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
                await self._let_go(conn, lock)

    async def _let_go(self, conn: Conn, lock: str) -> None:
        """Mark what was sent, then undo the LISTEN and the lock before the connection goes
        back to the pool (whose release does not, see shared.db); a session that cannot be
        cleaned is closed instead, so no pooled connection ever holds the relay's lock."""
        try:
            if self._unmarked:
                await conn.execute(self._outbox.mark_published, self._unmarked)
                self._unmarked = []
            await conn.remove_listener(self._outbox.channel, self._on_notify)
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock)
        except Exception:  # noqa: BLE001 - whatever it was, the session goes
            conn.terminate()

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
        """Publish one batch; rows are marked only after Kafka acknowledged all of them (by the
        next call, or at once when some are quarantined: those can never be published). Returns
        the number of rows handled; a call that returns 0 has marked every row sent before."""
        found = await conn.fetch(
            self._outbox.select_batch, self._batch, self._unmarked, self._held()
        )
        self._unmarked = []
        rows = [_Row.of(r) for r in found]
        if not rows:
            return 0
        unpublishable = self._oversized(rows)
        sendable = [r for r in rows if r.size <= self._max_bytes]
        refused, held = await self._publish(sendable)
        unpublishable += refused
        unsent = {r.id for r, _ in unpublishable} | {r.id for r in sendable if r.topic in held}
        sent = [r for r in rows if r.id not in unsent]
        self._let_through({r.topic for r in sent})
        if unpublishable:  # rare: both marks or neither, so each is reported once
            async with conn.transaction():
                await conn.execute(self._outbox.mark_published, [r.id for r in sent])
                await self._quarantine(conn, unpublishable)
        else:
            self._unmarked = [r.id for r in sent]
        self._quarantined.inc(len(unpublishable))  # counted once committed
        self._reported.inc(len(unpublishable))  # each reported on the dead-letter topic
        self.relayed += len(sent)
        if self._on_relayed is not None:
            self._on_relayed([r.record for r in sent], [r.record for r, _ in unpublishable])
        return len(rows)

    def _oversized(self, rows: list[_Row]) -> list[tuple[_Row, str]]:
        # Found before sending: the producer would refuse them after the rows ahead were queued.
        limit = self._max_bytes
        return [
            (r, f"{r.size} bytes, over the {limit} a record may have")
            for r in rows
            if r.size > limit
        ]

    async def _publish(self, rows: list[_Row]) -> tuple[list[tuple[_Row, str]], set[str]]:
        """Publish `rows` in order, but for the topics Kafka refuses. Returns the rows the
        producer refused for good, with why, and the topics held back (their rows unsent)."""
        while True:  # each pass holds one more topic back: as many passes as topics, at most
            held = {r.topic for r in rows} & set(self._held())
            try:
                await self._publish_all([r.record for r in rows if r.topic not in held])
                return [], held
            except TopicRefusedError as exc:
                # Rows of the batch sent before it go out again next pass: the same ce_id,
                # which consumers' inboxes absorb.
                self._hold(exc)
            except UNPUBLISHABLE:
                # Which row? Send them one at a time, in order, to find out. Rows of the batch
                # that were sent already go out again, as above.
                return await self._publish_one_by_one(rows)

    async def _publish_one_by_one(
        self, rows: list[_Row]
    ) -> tuple[list[tuple[_Row, str]], set[str]]:
        refused = []
        for row in rows:
            if row.topic in self._held():
                continue
            try:
                await self._publish_all([row.record])
            except TopicRefusedError as exc:
                self._hold(exc)
            except UNPUBLISHABLE as exc:
                refused.append((row, f"{type(exc).__name__}: {exc}"))
        return refused, {r.topic for r in rows} & set(self._held())

    def _held(self) -> list[str]:
        """The topics whose rows the next batch leaves out: those whose hold has not run out.
        (One that has is tried again; `_hold` or `_let_through` then decides.)"""
        now = time.monotonic()
        return [topic for topic, hold in self._holds.items() if hold.until > now]

    def _hold(self, refused: TopicRefusedError) -> None:
        before = self._holds.get(refused.topic)
        seconds = min(before.seconds * 2, MAX_HOLD_SECONDS) if before else self._first_hold
        self._holds[refused.topic] = _Hold(time.monotonic() + seconds, seconds)
        log.error(
            "outbox relay %s: Kafka refused topic %s (%r); its rows wait, in order, and it is "
            "tried again in %g s; rows for other topics go on",
            self._outbox.schema,
            refused.topic,
            refused.__cause__,
            seconds,
        )

    def _let_through(self, topics_sent: set[str]) -> None:
        for topic in topics_sent & self._holds.keys():
            del self._holds[topic]
            log.warning("outbox relay %s: topic %s accepted again", self._outbox.schema, topic)

    async def _quarantine(self, conn: Conn, rows: list[tuple[_Row, str]]) -> None:
        """Set rows aside for good, and tell operators on the dead-letter topic. In the batch's
        transaction: if the report cannot be sent (broker down), nothing is quarantined yet."""
        if not rows:
            return
        await self._publish_all([_dead_letter(self._outbox.schema, r, why) for r, why in rows])
        await conn.executemany(
            self._outbox.mark_quarantined, [(r.id, clip(why, 2000)) for r, why in rows]
        )
        for row, why in rows:
            log.error(
                "outbox %s: quarantined row %s (ce_id %s, topic %s): %s",
                self._outbox.schema,
                row.id,
                row.ce_id,
                row.record[0],
                why,
            )


@dataclass(frozen=True)
class _Hold:
    until: float  # time.monotonic()
    seconds: float


@dataclass(frozen=True)
class _Row:
    """One outbox row, and the size the producer will count for it."""

    id: int
    ce_id: str
    record: KafkaRecord
    size: int

    @property
    def topic(self) -> str:
        return self.record[0]

    @classmethod
    def of(cls, row: asyncpg.Record) -> _Row:
        key, value, headers = bytes(row["key"]), bytes(row["value"]), json.loads(row["headers"])
        # The producer's own estimate (aiokafka's), so "too large" means what it means there.
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(
            key, value, [(k, v.encode()) for k, v in headers.items()]
        )
        return cls(row["id"], str(row["ce_id"]), (row["topic"], key, headers, value), size)


# Short enough for any header value a person reads; the full reason is in the outbox row.
_MAX_HEADER = 500


def _dead_letter(schema: str, row: _Row, why: str) -> KafkaRecord:
    """A small record on ta.deadletter.v1 about a quarantined row: where it was headed, its
    ce_id and why, but not its body (the body may be the very reason it cannot be sent)."""
    topic, key, headers, _value = row.record
    ce = {k: clip(v, _MAX_HEADER) for k, v in headers.items() if k.startswith("ce_")}
    dlq = {
        "x-dlq-reason": "outbox_quarantined",
        "x-dlq-error": clip(why, _MAX_HEADER),
        "x-dlq-topic": topic,
        # It never reached Kafka, so it has no partition and offset: Kafka's "none" is -1.
        "x-dlq-partition": "-1",
        "x-dlq-offset": "-1",
        "x-dlq-service": schema,
        "x-dlq-outbox-id": str(row.id),  # where operators find the row: <schema>.outbox
    }
    return topics.DEADLETTER, key[:_MAX_HEADER], ce | dlq, b""
