"""The mailer keeps its SMTP connections open, against a real aiosmtpd server: one message at a
time per connection, a bounded number of them, a fresh one after a refusal, a drop or a long
idle time, never a message sent twice, and QUIT on each when the mailer closes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from datetime import UTC, datetime
from email.message import EmailMessage
from uuid import uuid4

import pytest
from aiosmtplib.email import flatten_message

from services.notifier import domain
from services.notifier.adapters.mailer import Mailer, SmtpConfig, Templates
from services.notifier.domain import AttemptResult
from shared.events import AssignmentOffered
from tests.notifier.helpers import (
    Misbehaviour,
    SmtpSink,
    counting_server,
    offer_event,
    plain_pool,
)


@asynccontextmanager
async def mailer_to(
    port: int, *, connections: int = 4, idle: float = 30.0
) -> AsyncIterator[Mailer]:
    config = SmtpConfig(
        "127.0.0.1", port, "stax@test.invalid", 5.0, local_hostname="t", connections=connections
    )
    async with aclosing(Mailer(config, Templates(), idle_seconds=idle)) as mailer:
        yield mailer


def _offer() -> str:
    _, offer = offer_event(f"p-{uuid4().hex[:8]}")
    return domain.webhook_body(
        AssignmentOffered.ce_type, datetime.now(UTC), offer.model_dump(mode="json")
    )


async def send(mailer: Mailer, to: str, delivery_id: str, body: str | None = None) -> AttemptResult:
    return await mailer.send(
        to=to,
        language="en",
        event_type=AssignmentOffered.ce_type,
        body=body or _offer(),
        delivery_id=delivery_id,
    )


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "the server never saw it"
        await asyncio.sleep(0.02)


def ids(sink: SmtpSink) -> list[str]:
    return [str(m["X-STAX-Delivery-Id"]) for m in sink.messages]


def _parts(mail: EmailMessage) -> list[str]:
    # SMTP carries lines ended by CR LF, which the parsed message keeps.
    return [str(part.get_content()).replace("\r\n", "\n") for part in mail.iter_parts()]


async def test_messages_sent_one_after_another_share_one_connection_and_arrive_intact(
    unique: str,
) -> None:
    address = f"one-{unique}@example.org"
    bodies = [_offer() for _ in range(5)]
    with counting_server() as (sink, port):
        async with mailer_to(port) as mailer:
            for n, body in enumerate(bodies):
                assert await send(mailer, address, f"d-{n}", body) == AttemptResult(ok=True)
            assert len(sink.greeted) == 1 and sink.open == sink.greeted
    assert ids(sink) == [f"d-{n}" for n in range(5)]
    for n, (mail, body) in enumerate(zip(sink.messages, bodies, strict=True)):
        composed = mailer.compose(
            to=address,
            language="en",
            event_type=AssignmentOffered.ce_type,
            body=body,
            delivery_id=f"d-{n}",
        )
        for header in ("From", "To", "Subject", "Content-Language"):
            assert mail[header] == composed[header]
        assert _parts(mail) == _parts(composed)


async def test_concurrent_sends_never_open_more_than_the_bound_and_each_arrives_once(
    unique: str,
) -> None:
    address = f"many-{unique}@example.org"
    with counting_server() as (sink, port):
        sink.delay = 0.05  # so that the sends overlap
        async with mailer_to(port, connections=3) as mailer:
            results = await asyncio.gather(*(send(mailer, address, f"d-{n}") for n in range(20)))
    assert all(r.ok for r in results)
    assert sorted(ids(sink)) == sorted(f"d-{n}" for n in range(20))
    assert sink.most_open == 3 and len(sink.greeted) == 3


async def test_a_sender_that_waits_longer_than_the_timeout_for_a_connection_fails_retryably(
    unique: str,
) -> None:
    address = f"wait-{unique}@example.org"
    with counting_server() as (sink, port):
        sink.delay = 0.6  # each answer comes in time, the whole message takes longer
        config = SmtpConfig(
            "127.0.0.1", port, "stax@test.invalid", 1.0, local_hostname="t", connections=1
        )
        async with aclosing(Mailer(config, Templates())) as mailer:
            first, second = await asyncio.gather(
                send(mailer, address, "d-first"), send(mailer, address, "d-second")
            )
    assert first.ok is True and second.ok is False and second.permanent is False
    assert second.error is not None and second.error.startswith("NoConnectionFreeError: ")
    assert ids(sink) == ["d-first"] and len(sink.greeted) == 1


async def test_a_connection_the_server_dropped_while_idle_is_replaced_and_the_message_arrives_once(
    unique: str,
) -> None:
    address = f"idle-{unique}@example.org"
    with counting_server(timeout=0.3) as (sink, port):
        async with mailer_to(port) as mailer:
            assert (await send(mailer, address, "d-1")).ok
            await eventually(lambda: not sink.open)  # the server's idle timeout
            assert (await send(mailer, address, "d-2")).ok
    assert ids(sink) == ["d-1", "d-2"] and len(sink.greeted) == 2


@pytest.mark.parametrize("how", ["close", "421"])
async def test_a_reused_connection_lost_as_the_message_starts_is_retried_once_on_a_fresh_one(
    unique: str, how: Misbehaviour
) -> None:
    # The server closed it, or said 421 and closed it, as MAIL FROM came: a server's idle
    # timeout that the client had not noticed yet. Nothing of the message was sent.
    address = f"stale-{unique}@example.org"
    with counting_server() as (sink, port):
        async with mailer_to(port) as mailer:
            assert (await send(mailer, address, "d-1")).ok
            sink.how, sink.drop_mail = how, 1
            assert (await send(mailer, address, "d-2")).ok
    assert ids(sink) == ["d-1", "d-2"] and len(sink.greeted) == 2


async def test_a_fresh_connection_that_fails_the_same_way_is_not_retried_again(unique: str) -> None:
    address = f"down-{unique}@example.org"
    with counting_server() as (sink, port):
        async with mailer_to(port) as mailer:
            assert (await send(mailer, address, "d-1")).ok
            sink.how, sink.drop_mail = "421", 100
            result = await send(mailer, address, "d-2")
            assert (await send(mailer, address, "d-3")).error == result.error
    assert result == domain.classify_smtp(421, "4.4.2 closing this connection")
    assert not result.permanent
    # d-2: the reused connection, then one fresh one; d-3: a fresh one (nothing was idle).
    assert ids(sink) == ["d-1"] and len(sink.greeted) == 3 and sink.drop_mail == 100 - 3


@pytest.mark.parametrize(
    ("domain_", "code", "reply"),
    [
        ("hard.invalid", 550, "5.1.1 mailbox unavailable"),
        ("soft.invalid", 451, "4.3.0 try again later"),
    ],
)
async def test_a_refused_recipient_is_classified_as_before_and_the_next_mail_gets_a_new_connection(
    unique: str, domain_: str, code: int, reply: str
) -> None:
    refused, address = f"no-{unique}@{domain_}", f"yes-{unique}@example.org"
    with counting_server() as (sink, port):
        sink.soft_failures = 1
        async with mailer_to(port) as mailer:
            assert (await send(mailer, address, "d-1")).ok
            result = await send(mailer, refused, "d-2")  # on the reused connection
            assert (await send(mailer, address, "d-3")).ok
            await eventually(lambda: len(sink.open) == 1)  # the refusal's was closed
    assert result == domain.classify_smtp(code, reply)
    assert result.permanent is (code == 550)
    assert sink.refused == [refused] and ids(sink) == ["d-1", "d-3"]
    assert len(sink.greeted) == 2  # the refusal's connection was not used again


@pytest.mark.parametrize("how", ["close", "421"])
async def test_a_failure_after_data_on_a_reused_connection_is_not_retried_and_is_retryable(
    unique: str, how: Misbehaviour
) -> None:
    # The server has the message and drops the connection (or answers 421) instead of 250:
    # sending it again here would deliver it twice; the delivery schedule decides.
    address = f"data-{unique}@example.org"
    with counting_server() as (sink, port):
        async with mailer_to(port) as mailer:
            assert (await send(mailer, address, "d-1")).ok
            sink.how, sink.drop_after_data = how, 1
            result = await send(mailer, address, "d-2")
            assert ids(sink) == ["d-1", "d-2"] and len(sink.greeted) == 1
            assert (await send(mailer, address, "d-3")).ok
    assert result.ok is False and result.permanent is False
    expected = "SMTP 421" if how == "421" else "SMTPServerDisconnected: "
    assert result.error is not None and result.error.startswith(expected)
    assert ids(sink) == ["d-1", "d-2", "d-3"] and len(sink.greeted) == 2


async def test_a_connection_idle_longer_than_the_limit_is_closed_by_the_mailer(unique: str) -> None:
    address = f"rest-{unique}@example.org"
    with counting_server() as (sink, port):
        async with mailer_to(port, idle=0.2) as mailer:
            assert (await send(mailer, address, "d-1")).ok
            await eventually(lambda: not sink.open)
            assert (await send(mailer, address, "d-2")).ok
            assert len(sink.open) == 1
    assert ids(sink) == ["d-1", "d-2"] and len(sink.greeted) == 2


async def test_closing_the_mailer_quits_every_connection_it_kept(unique: str) -> None:
    address = f"bye-{unique}@example.org"
    with counting_server() as (sink, port):
        sink.delay = 0.1
        async with mailer_to(port, connections=3) as mailer:
            results = await asyncio.gather(*(send(mailer, address, f"d-{n}") for n in range(3)))
            assert all(r.ok for r in results) and len(sink.open) == 3
            assert sink.quits == 0
        await eventually(lambda: sink.quits == 3 and not sink.open)
        # A send after closing still goes, on a connection closed after it.
        assert (await send(mailer, address, "d-late")).ok
        await eventually(lambda: not sink.open)
    assert len(sink.messages) == 4


async def test_the_envelope_is_the_sender_and_recipient_given_never_the_headers(
    unique: str,
) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"] = "boss@evil.example", f"other-{unique}@evil.example"
    msg["Bcc"] = f"hidden-{unique}@evil.example"
    msg.set_content("Hello")
    with counting_server() as (sink, port):
        pool = plain_pool(port)
        data = flatten_message(msg)  # as aiosmtplib's send_message would write it: no Bcc
        await pool.send(data, sender="stax@test.invalid", recipient=f"to-{unique}@example.org")
        await pool.aclose()
    assert sink.envelopes == [("stax@test.invalid", [f"to-{unique}@example.org"])]
    [mail] = sink.messages
    assert mail["To"] == f"other-{unique}@evil.example" and mail["Bcc"] is None
