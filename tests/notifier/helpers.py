"""Real test peers for notifier: a scripted webhook receiver (verifying with standardwebhooks),
aiosmtpd SMTP servers (one that counts connections and can misbehave), a canary TCP listener,
and in-process delivery workers."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import aclosing, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from uuid import UUID, uuid4

import aiosmtplib
import asyncpg
import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI

from deploy.local.receiver import WebhookReceiver
from services.notifier import api, domain
from services.notifier.adapters.mailer import Mailer, SmtpConfig, Templates
from services.notifier.adapters.smtp_pool import SmtpPool
from services.notifier.adapters.ssrf import SsrfGuard
from services.notifier.adapters.webhook import WebhookSender, webhook_client
from services.notifier.handlers.delivery import Channels, DeliveryRules, deliver_due
from services.notifier.handlers.endpoints import new_secret
from services.notifier.handlers.fanout import fan_out
from services.notifier.unit_of_work import NotifierUnits, pg_units
from shared import api_gate, http_errors
from shared.auth import Authenticator, create_key
from shared.envelope import Envelope as Envelope_
from shared.events import (
    AssignmentOffered,
    Contact,
    Eligibility,
    Event,
    RequestAccepted,
    Role,
    Urgency,
)

LOCAL = ["127.0.0.1/32"]


def free_port() -> int:
    # aiosmtpd's Controller refuses port 0 (it probes the port it was given): pick one first.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# ------------------------------------------------------------------------------ webhooks


@dataclass(frozen=True)
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class ScriptedReceiver(WebhookReceiver):
    """deploy/local/receiver.py's verifying receiver, answering from a script: the n-th POST
    gets script[n] (the last entry repeats); arrival times are kept for schedule checks."""

    script: list[Reply] = field(default_factory=lambda: [Reply()])
    arrivals: list[float] = field(default_factory=list)

    def start(self) -> ScriptedReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._arrived:
                    n = len(receiver.arrivals)
                    receiver.arrivals.append(time.monotonic())
                reply = receiver.script[min(n, len(receiver.script) - 1)]
                receiver._record(body.decode(errors="replace"), dict(self.headers.items()))
                if reply.delay:
                    time.sleep(reply.delay)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the notifier gave up waiting (timeout) and closed the connection

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self


@contextmanager
def receiving(*script: Reply) -> Iterator[ScriptedReceiver]:
    receiver = ScriptedReceiver(script=list(script) or [Reply()]).start()
    try:
        yield receiver
    finally:
        receiver.stop()


# ------------------------------------------------------------------------------ e-mail


class SmtpSink:
    """Accepts mail, except: `…@soft.invalid` gets 451 (temporary) while `soft_failures` last,
    `…@hard.invalid` gets 550 (permanent)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []  # each message as DATA carried it
        self.soft_failures = 0
        self.refused: list[str] = []

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.endswith("@hard.invalid"):
            self.refused.append(address)
            return "550 5.1.1 mailbox unavailable"
        if address.endswith("@soft.invalid") and self.soft_failures > 0:
            self.soft_failures -= 1
            self.refused.append(address)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        raw = envelope.original_content or b""
        self.raw.append(raw)
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@contextmanager
def smtp_server() -> Iterator[tuple[SmtpSink, int]]:
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


Misbehaviour = Literal["close", "421"]
Peer = object  # a connection's (host, port), as aiosmtpd's Session has it


class CountingSink(SmtpSink):
    """SmtpSink that knows its clients' connections (those that greeted: aiosmtpd's Controller
    opens one of its own at start), and drops the next `drop_mail` MAIL commands, or the next
    `drop_after_data` connections once it has the message, as told by `how`."""

    def __init__(self) -> None:
        super().__init__()
        self.greeted: list[Peer] = []
        self.lost: set[Peer] = set()
        self.most_open = 0
        self.quits = 0
        self.drop_mail = 0
        self.drop_after_data = 0
        self.how: Misbehaviour = "close"
        self.delay = 0.0  # before answering MAIL and DATA
        self.envelopes: list[tuple[str | None, list[str]]] = []

    @property
    def open(self) -> list[Peer]:
        return [peer for peer in self.greeted if peer not in self.lost]

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: Any
    ) -> Any:
        session.host_name = hostname  # what aiosmtpd leaves to this hook
        self.greeted.append(session.peer)
        self.most_open = max(self.most_open, len(self.open))
        return responses

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        await asyncio.sleep(self.delay)
        if self.drop_mail > 0:
            self.drop_mail -= 1
            return self._drop(server)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        await asyncio.sleep(self.delay)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        accepted = await super().handle_DATA(server, session, envelope)
        if self.drop_after_data > 0:
            self.drop_after_data -= 1
            return self._drop(server)
        return accepted

    async def handle_QUIT(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.quits += 1
        return "221 Bye"

    def _drop(self, server: SMTP) -> str:
        transport = server.transport
        assert transport is not None
        if self.how == "close":  # gone without a word: the answer below is never written
            transport.close()
            return "250 never seen"
        server.loop.call_soon(transport.close)  # after the answer
        return "421 4.4.2 closing this connection"


class CountingSMTP(SMTP):
    def connection_lost(self, error: Exception | None) -> None:
        assert self.session is not None
        self.event_handler.lost.add(self.session.peer)
        super().connection_lost(error)


class CountingController(Controller):
    def factory(self) -> SMTP:
        return CountingSMTP(self.handler, **self.SMTP_kwargs)


# Every header the mailer writes, in the order it writes them; templates and data reach each
# of them: the subject, the contact's address, the delivery id, the template's language.
WRITTEN_HEADERS = [
    "From",
    "To",
    "Subject",
    "Message-ID",
    "X-STAX-Delivery-Id",
    "MIME-Version",
    "Content-Type",
    "Content-Language",
]


def plain_pool(port: int) -> SmtpPool:
    """A pool of one plain connection to the test server on `port`, for tests of what the pool
    itself sends."""

    async def connect() -> aiosmtplib.SMTP:
        conn = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=5, local_hostname="t")
        await conn.connect()
        return conn

    return SmtpPool(connect, size=1, timeout=5)


@contextmanager
def counting_server(**smtp: Any) -> Iterator[tuple[CountingSink, int]]:
    """aiosmtpd on a free port; `smtp` are its SMTP server's parameters (`timeout`: idle)."""
    sink, port = CountingSink(), free_port()
    controller = CountingController(sink, hostname="127.0.0.1", port=port, **smtp)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


# ------------------------------------------------------------------------------ canary


class Canary:
    """A TCP listener on 127.0.0.1 that counts every connection made to it."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port: int = self._sock.getsockname()[1]
        self.hits = 0
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.hits += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


# ------------------------------------------------------------------------------ workers


@dataclass
class Clock:
    """Real time plus an offset, so a test can jump days ahead."""

    offset: float = 0.0

    def __call__(self) -> datetime:
        return datetime.fromtimestamp(time.time() + self.offset, UTC)


@dataclass(frozen=True)
class Delivering:
    """What the delivery use case runs with: units on the real Postgres, the real senders."""

    units: NotifierUnits
    channels: Channels
    rules: DeliveryRules
    clock: Callable[[], datetime]

    async def one(self) -> bool:
        return await deliver_due(self.units, self.channels, self.rules, self.clock) > 0


@asynccontextmanager
async def delivery_deps(
    pool: asyncpg.Pool,
    partners: Sequence[str],
    *,
    schedule: Sequence[float] = (0, 0.3, 0.3),
    smtp_port: int = 1,
    http_timeout: float = 2.0,
    overload_penalty: float = 1.0,
    disable_after_days: float = 5.0,
    max_in_flight: int = 2,
    lease: float = 10.0,
    clock: Callable[[], datetime] | None = None,
    allow: Sequence[str] = LOCAL,
) -> AsyncIterator[Delivering]:
    """The real senders and the real Postgres; workers see only these partners' deliveries."""
    guard = SsrfGuard(allow)
    mailer = Mailer(SmtpConfig("127.0.0.1", smtp_port, "stax@test.invalid", 5.0), Templates())
    async with (
        webhook_client(guard, timeout=http_timeout, max_connections=16) as client,
        aclosing(mailer),  # its SMTP connections do not outlive the test's server
    ):
        yield Delivering(
            units=pg_units(pool),
            channels=Channels(webhooks=WebhookSender(client, guard, http_timeout), email=mailer),
            rules=DeliveryRules(
                policy=domain.RetryPolicy(schedule, overload_penalty=overload_penalty),
                lease_seconds=lease,
                max_in_flight_per_endpoint=max_in_flight,
                disable_after_days=disable_after_days,
                partners=list(partners),
            ),
            clock=clock or Clock(),
        )


async def run_workers_until(
    deps: Delivering,
    done: Callable[[], Awaitable[bool]],
    *,
    workers: int = 4,
    within: float = 30.0,
    poll: float = 0.05,
) -> None:
    """Run `workers` delivery loops until `done()` holds; fails the test on timeout."""
    stop = asyncio.Event()

    async def loop() -> None:
        while not stop.is_set():
            if not await deps.one():
                await asyncio.sleep(poll)

    tasks = [asyncio.create_task(loop()) for _ in range(workers)]
    try:
        deadline = time.monotonic() + within
        while not await done():
            assert time.monotonic() < deadline, "deliveries did not finish in time"
            for task in tasks:
                if task.done():
                    task.result()  # re-raise a worker's crash
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# ------------------------------------------------------------------------------ events in


def offer_event(
    partner_id: str, request_id: UUID | None = None
) -> tuple[Envelope_, AssignmentOffered]:
    offer = AssignmentOffered(
        assignment_id=uuid4(),
        request_id=request_id or uuid4(),
        partner_id=partner_id,
        partner_name=f"Partner {partner_id}",
        role=Role.LEAD,
        score=0.9,
        reasons=["covers PCB", "serves <SEN>"],
        covers_topics=["PCB"],
        respond_by=datetime.now(UTC) + timedelta(days=5),
    )
    return envelope_of(offer), offer


def envelope_of(event: Event) -> Envelope_:
    return Envelope_(
        id=uuid4(),
        type=event.ce_type,
        source="/test",
        subject=str(getattr(event, "request_id", "")),
        time=datetime.now(UTC),
        data=event.model_dump(mode="json"),
    )


def request_accepted(
    request_id: UUID, email: str, title: str = "PCB inventory <support>"
) -> RequestAccepted:
    """A request accepted from Senegal, its Party reachable at `email`."""
    return RequestAccepted(
        external_ref=f"ref-{request_id}",
        party="SEN",
        title=title,
        description="Help to finish the national PCB inventory.",
        topics=["PCB"],
        assistance_types=["training"],
        languages=["es", "fr"],
        urgency=Urgency.URGENT,
        needed_by=date.today() + timedelta(days=60),
        contact=Contact(name="A. Ndiaye", email=email, organisation="Ministry"),
        request_id=request_id,
        submitter="test",
        region="AFR",
        eligibility=Eligibility(developing=True, economy_in_transition=False, ldc=True, sids=False),
        accepted_at=datetime.now(UTC),
    )


async def apply(pool: asyncpg.Pool, event: Event, envelope: Envelope_ | None = None) -> UUID:
    """What notifier's consumer does with one event (its transaction, minus Kafka)."""
    envelope = envelope or envelope_of(event)
    async with pg_units(pool)() as uow:
        await fan_out(uow, envelope, event)
    return envelope.id


async def add_endpoint(
    pool: asyncpg.Pool, partner_id: str, url: str, event_types: Sequence[str] = ()
) -> tuple[UUID, str]:
    endpoint_id, secret = uuid4(), new_secret()
    async with pg_units(pool)() as uow:
        await uow.endpoints.create(
            endpoint_id=endpoint_id,
            partner_id=partner_id,
            url=url,
            secret=secret,
            event_types=list(event_types),
        )
    return endpoint_id, secret


async def add_contact(
    pool: asyncpg.Pool, partner_id: str, email: str, language: str = "en"
) -> UUID:
    contact_id = uuid4()
    async with pg_units(pool)() as uow:
        await uow.contacts.create(
            contact_id=contact_id,
            partner_id=partner_id,
            email=email,
            name="Test contact",
            language=language,
            event_types=[],
        )
    return contact_id


async def deliveries_of(pool: asyncpg.Pool, partner_id: str) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT * FROM notifier.deliveries WHERE partner_id = $1 ORDER BY created_at",
            partner_id,
        )
    )


def settled(pool: asyncpg.Pool, partner_id: str, count: int) -> Callable[[], Awaitable[bool]]:
    """True once `count` deliveries of the partner exist and none is pending any more."""

    async def check() -> bool:
        rows = await deliveries_of(pool, partner_id)
        return len(rows) >= count and all(r["status"] != "pending" for r in rows)

    return check


async def outbox_events(
    pool: asyncpg.Pool, ce_type: str, delivery_id: UUID
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT headers, value FROM notifier.outbox WHERE headers->>'ce_type' = $1", ce_type
    )
    found = [json.loads(bytes(r["value"])) for r in rows]
    return [f for f in found if f["delivery_id"] == str(delivery_id)]


# ------------------------------------------------------------------------------ the HTTP API


async def _no_topics(_topic: str) -> bool:
    raise AssertionError("not used here")


def api_deps(
    pool: asyncpg.Pool, *, overlap: float = 3600.0, quotas: domain.Quotas | None = None
) -> api.ApiDeps:
    return api.ApiDeps(
        units=pg_units(pool),
        guard=SsrfGuard(LOCAL),
        topic_writable=_no_topics,
        clock=lambda: datetime.now(UTC),
        secret_overlap_seconds=overlap,
        quotas=quotas or domain.Quotas(endpoints=10, contacts=20),
    )


@asynccontextmanager
async def api_client(
    pool: asyncpg.Pool, quotas: domain.Quotas | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """notifier's subscription and delivery routes in this process, on the real PostgreSQL, as
    an operator (the routes, validation, handlers and units are the real ones; Kafka is not
    involved)."""
    app = FastAPI()
    app.include_router(api.subscriptions_router())
    app.include_router(api.deliveries_router())
    http_errors.install(app)
    api_gate.install(app, max_body_bytes=64 * 1024, rate_limit="1000/second")
    app.state.authenticator = Authenticator(pool)
    app.state.notifier = api_deps(pool, quotas=quotas)
    async with pool.acquire() as conn:
        _, key = await create_key(conn, role="operator", name="notifier-api-test")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://notifier.test",
        headers={"Authorization": f"Bearer {key}"},
    ) as client:
        yield client
