"""A notifier process that stops QUITs the SMTP connections its mailer kept open (app.py closes
the mailer once the delivery workers have stopped)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from uuid import UUID, uuid4

import asyncpg
import pytest
from faststream.kafka import KafkaBroker

from deploy.local import stack
from shared.envelope import build_record
from shared.kafka import publish_all
from tests.intake.events import eventually
from tests.notifier.helpers import counting_server, request_accepted
from tests.stack_helpers import Services

pytestmark = pytest.mark.e2e


async def _until(check: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "not in time"
        await asyncio.sleep(0.1)


async def _email_status(pool: asyncpg.Pool, request_id: UUID) -> str | None:
    status: str | None = await pool.fetchval(
        "SELECT status FROM notifier.deliveries WHERE request_id = $1", request_id
    )
    return status


async def _mailing_notifier(
    services: Services, broker: KafkaBroker, smtp_port: int, request_id: UUID, address: str
) -> None:
    """notifier (re)started on `smtp_port`, and told of a request whose Party is `address`."""
    env = {"STAX_NOTIFIER_SMTP_PORT": str(smtp_port), "STAX_NOTIFIER_POLL_SECONDS": "0.1"}
    services.restart("notifier", env)
    record = build_record(
        request_accepted(request_id, address), source="/test", subject=str(request_id)
    )
    await publish_all(broker, [(record.topic, record.key, record.headers, record.value)])


async def test_a_stopping_notifier_quits_the_smtp_connections_it_kept(
    services: Services,
    broker: KafkaBroker,
    infra: stack.StackSettings,
    pool: asyncpg.Pool,
    unique: str,
) -> None:
    address, request_id = f"party-{unique}@example.sn", uuid4()
    log = infra.log_file("notifier")
    logged = log.stat().st_size if log.exists() else 0
    with counting_server() as (sink, port):
        await _mailing_notifier(services, broker, port, request_id, address)
        await _until(lambda: bool(sink.to(address)), 30)
        # The server has the message before the notifier has its answer; once the outcome is
        # recorded, the send has ended and its connection waits, idle, for the next.
        status = await eventually(
            lambda: _email_status(pool, request_id), lambda s: s == "delivered", 10
        )
        assert status == "delivered"
        assert sink.open and sink.quits == 0  # kept open after the message
        await asyncio.to_thread(services.stop, "notifier")
        await _until(lambda: not sink.open, 5)
    assert sink.quits >= 1
    with log.open("rb") as written:
        written.seek(logged)  # only what this run of notifier wrote
        assert b"Traceback" not in written.read()


async def test_a_notifier_stopped_mid_send_finishes_it_records_it_and_quits(
    services: Services, broker: KafkaBroker, pool: asyncpg.Pool, unique: str
) -> None:
    """A rolling restart should not send an e-mail twice: a send cut off once the server may
    have the message would be sent again when its lease runs out."""
    address, request_id = f"party-{unique}@example.sn", uuid4()
    with counting_server() as (sink, port):
        sink.delay = 1.0  # MAIL and DATA each answered a second late: the send takes two
        await _mailing_notifier(services, broker, port, request_id, address)
        await _until(lambda: bool(sink.greeted), 30)  # the send has begun
        await asyncio.to_thread(services.stop, "notifier")
        assert len(sink.to(address)) == 1
        assert await _email_status(pool, request_id) == "delivered"
        assert sink.quits >= 1
