"""One process of the design floor (bench.e2e_floor): a request's hops with nothing of STAX in
them. Run as `python -m bench.floor_worker <role>`, role intake, matcher or notifier.

Each process makes the hops its namesake makes for one request, the cheapest way this stack
offers, and nothing else: no validation, authentication, schemas, CloudEvents, FastStream,
FastAPI, logs, metrics or traces. What it keeps is what the brief's guarantees need of the
design: every state change and the records it causes in one PostgreSQL statement or transaction
(a transactional outbox, relayed by an idempotent acks=all producer), an inbox claim so a record
redelivered has no second effect, offsets committed after the transaction, deliveries recorded
before they are made. Records are consumed in batches of up to 100 (one transaction a batch),
as STAX's are.

  intake:   POST /v1/requests -> the request and its `accepted` record (one statement); reads
            all three topics into a timeline (one statement a batch)
  matcher:  reads requests -> two offers, a partner's load counted, two `offered` records
  notifier: reads requests and offers -> one e-mail (the requester) and two signed webhooks
            (Standard Webhooks), each recorded before and after, one `delivered` record each

Configuration comes from the environment (FLOOR_*), set by bench.e2e_floor; FLOOR_GATHER_MS
(default 0) lets every hop wait that long to gather records, the latency-for-CPU trade;
FLOOR_OUTCOMES=off drops the outcome records (and intake's reading of them): what a design
without a `ta.notification.*` event per delivery would save.
GET /ready answers 200 once the consumer has its partitions; GET /stats gives the counts of work
done.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiosmtplib
import asyncpg
import httpx
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from standardwebhooks import Webhook

from shared.consuming import GATHER_BYTES
from shared.kafka_access import KafkaAccess

REQUESTS, ASSIGNMENTS, NOTIFICATIONS = (
    "bench.floor.requests",
    "bench.floor.assignments",
    "bench.floor.notifications",
)
TOPICS = {REQUESTS: 6, ASSIGNMENTS: 6, NOTIFICATIONS: 6}
READS = {
    "intake": (REQUESTS, ASSIGNMENTS, NOTIFICATIONS),
    "matcher": (REQUESTS,),
    "notifier": (REQUESTS, ASSIGNMENTS),
}


def reads(role: str, *, outcomes: bool) -> tuple[str, ...]:
    """The topics `role` reads; without outcome records there is no NOTIFICATIONS to read."""
    return tuple(t for t in READS[role] if outcomes or t != NOTIFICATIONS)


ACCEPTED, OFFERED, DELIVERED = "ta.request.accepted", "ta.assignment.offered", "delivered"
PARTNERS = 20
T = TypeVar("T")
BATCH = 100
SMTP_CONNECTIONS = 4

SCHEMA = """
CREATE SCHEMA IF NOT EXISTS bench_floor;
CREATE TABLE IF NOT EXISTS bench_floor.requests (id uuid PRIMARY KEY, body jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS bench_floor.outbox (
    id bigserial PRIMARY KEY, role text NOT NULL, topic text NOT NULL, key bytea, value bytea);
CREATE INDEX IF NOT EXISTS outbox_role ON bench_floor.outbox (role, id);
CREATE TABLE IF NOT EXISTS bench_floor.inbox (role text, id uuid, PRIMARY KEY (role, id));
CREATE TABLE IF NOT EXISTS bench_floor.timeline (
    role text, id uuid, request_id uuid, type text, PRIMARY KEY (role, id));
CREATE TABLE IF NOT EXISTS bench_floor.partners (id int PRIMARY KEY, open int NOT NULL);
INSERT INTO bench_floor.partners SELECT g, 0 FROM generate_series(0, 19) g ON CONFLICT DO NOTHING;
CREATE TABLE IF NOT EXISTS bench_floor.assignments (
    id uuid PRIMARY KEY, request_id uuid NOT NULL, partner int NOT NULL);
CREATE TABLE IF NOT EXISTS bench_floor.deliveries (
    id uuid PRIMARY KEY, event_id uuid NOT NULL, request_id uuid NOT NULL, channel text NOT NULL,
    status text NOT NULL);
"""

# Marks the last round's rows sent (deleted) and takes the next round's, in one statement; the
# SELECT sees the snapshot from before the DELETE, hence the exclusion.
RELAY = """
WITH sent AS (DELETE FROM bench_floor.outbox WHERE id = ANY($1::bigint[]))
SELECT id, topic, key, value FROM bench_floor.outbox
WHERE role = $2 AND NOT (id = ANY($1::bigint[])) ORDER BY id LIMIT 500
"""
ACCEPT = """
WITH r AS (INSERT INTO bench_floor.requests VALUES ($1, $2::jsonb))
INSERT INTO bench_floor.outbox (role, topic, key, value) VALUES ('intake', $3, $4, $5)
"""
CLAIM = """
INSERT INTO bench_floor.inbox (role, id) SELECT $1, unnest($2::uuid[])
ON CONFLICT DO NOTHING RETURNING id
"""
TIMELINE = """
WITH new AS (
    INSERT INTO bench_floor.inbox (role, id) SELECT 'intake', unnest($1::uuid[])
    ON CONFLICT DO NOTHING RETURNING id)
INSERT INTO bench_floor.timeline
SELECT 'intake', t.id, t.request_id, t.type
FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS t(id, request_id, type) JOIN new USING (id)
"""
OFFER = """
WITH a AS (
    INSERT INTO bench_floor.assignments SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::int[])),
p AS (
    UPDATE bench_floor.partners SET open = open + c.n
    FROM (SELECT partner, count(*) AS n FROM unnest($3::int[]) AS partner GROUP BY 1) AS c
    WHERE id = c.partner)
INSERT INTO bench_floor.outbox (role, topic, key, value)
SELECT 'matcher', $4, k, v FROM unnest($5::bytea[], $6::bytea[]) AS t(k, v)
"""
RECORD_DELIVERIES = """
WITH new AS (
    INSERT INTO bench_floor.inbox (role, id) SELECT 'notifier', unnest($1::uuid[])
    ON CONFLICT DO NOTHING RETURNING id)
INSERT INTO bench_floor.deliveries
SELECT gen_random_uuid(), t.id, t.request_id, t.channel, 'pending'
FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS t(id, request_id, channel) JOIN new USING (id)
RETURNING id, request_id, channel
"""
# Without outcome records (FLOOR_OUTCOMES=off, a design without ta.notification.* events).
DELIVERED_ONLY = """
UPDATE bench_floor.deliveries SET status = 'delivered' WHERE id = ANY($1::uuid[])
"""
DELIVERED_SQL = """
WITH d AS (UPDATE bench_floor.deliveries SET status = 'delivered' WHERE id = ANY($1::uuid[]))
INSERT INTO bench_floor.outbox (role, topic, key, value)
SELECT 'notifier', $2, k, v FROM unnest($3::bytea[], $4::bytea[]) AS t(k, v)
"""


@dataclass
class Counts:
    """Work done so far, for the driver to divide by the requests it completed."""

    requests: int = 0  # intake's: requests accepted over HTTP
    records_produced: int = 0
    records_consumed: int = 0
    batches: int = 0
    statements: int = 0
    deliveries: int = 0


@dataclass
class Event:
    id: uuid.UUID
    type: str
    request_id: uuid.UUID
    partner: int = -1

    def record(self) -> tuple[bytes, bytes]:
        """(key, value) as produced: keyed by request, so one request's events stay in order."""
        data = {"request_id": str(self.request_id), "partner": self.partner}
        value = json.dumps({"id": str(self.id), "type": self.type, "data": data})
        return str(self.request_id).encode(), value.encode()

    @classmethod
    def parse(cls, value: bytes) -> Event:
        body: dict[str, Any] = json.loads(value)
        data = body["data"]
        return cls(
            uuid.UUID(body["id"]), body["type"], uuid.UUID(data["request_id"]), data["partner"]
        )


@dataclass
class Worker:
    role: str
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    counts: Counts = field(default_factory=Counts)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    async def sql(self, statement: Awaitable[T]) -> T:
        """One statement (or CTE), counted: each is a round trip PostgreSQL parses and runs."""
        self.counts.statements += 1
        return await statement

    async def relay(self) -> None:
        """The outbox relay: woken after each commit that wrote to it; a round a second
        whatever happens, so nothing written waits for long if a wake-up is missed."""
        sent: list[int] = []
        while True:
            self.wake.clear()
            rows = await self.sql(self.pool.fetch(RELAY, sent, self.role))
            if not rows and not sent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), 1.0)
                continue
            acks = [await self.producer.send(r["topic"], r["value"], key=r["key"]) for r in rows]
            await asyncio.gather(*acks)
            self.counts.records_produced += len(rows)
            sent = [r["id"] for r in rows]


# ----------------------------------------------------------------------------- the roles


async def intake_batch(worker: Worker, events: Sequence[Event]) -> None:
    await worker.sql(
        worker.pool.execute(
            TIMELINE,
            [e.id for e in events],
            [e.request_id for e in events],
            [e.type for e in events],
        )
    )


def intake_routes(worker: Worker) -> list[web.RouteDef]:
    async def submit(request: web.Request) -> web.Response:
        body = await request.read()
        json.loads(body)  # a request is parsed once, as any server would
        event = Event(uuid.uuid4(), ACCEPTED, uuid.uuid4())
        key, value = event.record()
        text = body.decode()
        await worker.sql(worker.pool.execute(ACCEPT, event.request_id, text, REQUESTS, key, value))
        worker.wake.set()
        worker.counts.requests += 1
        return web.json_response({"request_id": str(event.request_id)}, status=202)

    return [web.post("/v1/requests", submit)]


class Matcher:
    """Two partners an accepted request, round robin: the scoring itself is not the floor's."""

    def __init__(self) -> None:
        self.next = 0

    def partners(self) -> tuple[int, int]:
        self.next = (self.next + 2) % PARTNERS
        return self.next, self.next + 1

    async def batch(self, worker: Worker, events: Sequence[Event]) -> None:
        accepted = [e for e in events if e.type == ACCEPTED]
        if not accepted:
            return
        async with worker.pool.acquire() as conn, conn.transaction():
            ids = [e.id for e in accepted]
            new = {r["id"] for r in await worker.sql(conn.fetch(CLAIM, "matcher", ids))}
            offers = [
                Event(uuid.uuid4(), OFFERED, e.request_id, p)
                for e in accepted
                if e.id in new
                for p in self.partners()
            ]
            if offers:
                records = [o.record() for o in offers]
                await worker.sql(
                    conn.execute(
                        OFFER,
                        [o.id for o in offers],
                        [o.request_id for o in offers],
                        [o.partner for o in offers],
                        ASSIGNMENTS,
                        [k for k, _ in records],
                        [v for _, v in records],
                    )
                )
        worker.wake.set()


class Notifier:
    """An e-mail to the requester of each accepted request, a signed webhook to each offered
    partner: recorded (with the inbox claim), made, then recorded as delivered with their
    outcome records, a batch at a time."""

    def __init__(self, webhook_url: str, smtp_port: int, *, outcomes: bool) -> None:
        self.url, self.smtp_port, self.outcomes = webhook_url, smtp_port, outcomes
        self.http = httpx.AsyncClient(timeout=10.0)
        self.signer = Webhook(base64.b64encode(b"bench-floor-secret-0123456789ab").decode())
        self.smtp: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        for _ in range(SMTP_CONNECTIONS):
            conn = aiosmtplib.SMTP(hostname="127.0.0.1", port=self.smtp_port, start_tls=False)
            await conn.connect()
            self.smtp.put_nowait(conn)

    async def batch(self, worker: Worker, events: Sequence[Event]) -> None:
        wanted = [e for e in events if e.type in (ACCEPTED, OFFERED)]
        if not wanted:
            return
        rows = await worker.sql(
            worker.pool.fetch(
                RECORD_DELIVERIES,
                [e.id for e in wanted],
                [e.request_id for e in wanted],
                ["email" if e.type == ACCEPTED else "webhook" for e in wanted],
            )
        )
        # Delivered apart from consumption, as STAX's workers do: the next batch need not wait.
        task = asyncio.create_task(self.deliver(worker, rows))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def deliver(self, worker: Worker, rows: Sequence[asyncpg.Record]) -> None:
        await asyncio.gather(*(self.one(r["channel"], r["request_id"]) for r in rows))
        if self.outcomes:
            await self.recorded(worker, rows)
        else:
            await worker.sql(worker.pool.execute(DELIVERED_ONLY, [r["id"] for r in rows]))
        worker.counts.deliveries += len(rows)

    async def recorded(self, worker: Worker, rows: Sequence[asyncpg.Record]) -> None:
        """Delivered, with an outcome record each, in one statement."""
        outcomes = [Event(uuid.uuid4(), DELIVERED, r["request_id"]).record() for r in rows]
        await worker.sql(
            worker.pool.execute(
                DELIVERED_SQL,
                [r["id"] for r in rows],
                NOTIFICATIONS,
                [k for k, _ in outcomes],
                [v for _, v in outcomes],
            )
        )
        worker.wake.set()

    async def one(self, channel: str, request_id: uuid.UUID) -> None:
        if channel == "email":
            await self.email(request_id)
        else:
            await self.webhook(request_id)

    async def webhook(self, request_id: uuid.UUID) -> None:
        body = json.dumps({"type": OFFERED, "data": {"request_id": str(request_id)}})
        msg_id = f"msg_{uuid.uuid4().hex}"
        now = time.time()
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now)),
            "webhook-signature": self.signer.sign(msg_id, datetime.fromtimestamp(now, UTC), body),
        }
        answer = await self.http.post(self.url, content=body, headers=headers)
        answer.raise_for_status()

    async def email(self, request_id: uuid.UUID) -> None:
        message = (
            "From: stax@example.org\r\nTo: party@example.org\r\n"
            f"Subject: Request {request_id} received\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Your request {request_id} was received.\r\n"
        )
        conn = await self.smtp.get()
        try:
            await conn.sendmail("stax@example.org", ["party@example.org"], message)
        finally:
            self.smtp.put_nowait(conn)


# ----------------------------------------------------------------------------- the process


async def consume(
    worker: Worker,
    consumer: AIOKafkaConsumer,
    handle: Callable[[Worker, Sequence[Event]], Awaitable[None]],
) -> None:
    """Batches of up to BATCH records, each handled in its own transaction, then its offsets
    committed."""
    while True:
        fetched = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
        records: list[ConsumerRecord[bytes, bytes]] = [r for rs in fetched.values() for r in rs]
        if not records:
            continue
        await handle(worker, [Event.parse(r.value or b"{}") for r in records])
        await consumer.commit()
        worker.counts.records_consumed += len(records)
        worker.counts.batches += 1


async def serve(role: str) -> None:
    env = os.environ
    access = KafkaAccess(**json.loads(env["FLOOR_KAFKA"]))
    pool = await asyncpg.create_pool(env["FLOOR_DB"], min_size=2, max_size=16)
    gather = int(env.get("FLOOR_GATHER_MS", "0"))
    producer = AIOKafkaProducer(
        **access.aiokafka(), acks="all", enable_idempotence=True, linger_ms=gather
    )
    outcomes = env.get("FLOOR_OUTCOMES", "on") == "on"
    consumer = AIOKafkaConsumer(
        *reads(role, outcomes=outcomes),
        **access.aiokafka(),
        group_id=f"bench-floor-{role}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **_gathering(gather),
    )
    await producer.start()
    await consumer.start()
    worker = Worker(role, pool, producer)
    routes, handle = await _role(role, worker, outcomes=outcomes)
    app = web.Application()
    app.add_routes(
        [*routes, web.get("/ready", _ready(consumer)), web.get("/stats", _stats(worker))]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", int(env["FLOOR_PORT"])).start()
    await asyncio.gather(worker.relay(), consume(worker, consumer, handle))


def _gathering(gather_ms: int) -> dict[str, int]:
    """With gather_ms > 0, a fetch waits up to that long for 64 KiB (as STAX's gathering
    subscriptions do: shared.consuming.Fetching), and a send up to that long for others to go
    in the same produce request: fuller batches, fewer requests to the broker, more latency."""
    if gather_ms <= 0:
        return {}
    return {"fetch_max_wait_ms": gather_ms, "fetch_min_bytes": GATHER_BYTES}


async def _role(
    role: str, worker: Worker, *, outcomes: bool
) -> tuple[list[web.RouteDef], Callable[[Worker, Sequence[Event]], Awaitable[None]]]:
    if role == "intake":
        return intake_routes(worker), intake_batch
    if role == "matcher":
        return [], Matcher().batch
    notifier = Notifier(
        os.environ["FLOOR_WEBHOOK_URL"], int(os.environ["FLOOR_SMTP_PORT"]), outcomes=outcomes
    )
    await notifier.start()
    return [], notifier.batch


def _ready(consumer: AIOKafkaConsumer) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def ready(_: web.Request) -> web.Response:
        return web.Response(status=200 if consumer.assignment() else 503)

    return ready


def _stats(worker: Worker) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def stats(_: web.Request) -> web.Response:
        return web.json_response(vars(worker.counts))

    return stats


def main() -> None:
    role = sys.argv[1] if len(sys.argv) > 1 else ""
    if role not in READS:
        raise SystemExit(f"usage: python -m bench.floor_worker {'|'.join(READS)}")
    asyncio.run(serve(role))


if __name__ == "__main__":
    main()
