"""Webhook delivery on the real PostgreSQL to a real receiver verifying with standardwebhooks:
signatures and rotation, the retry schedule under 500 / 429 / timeouts / 3xx / 410, outcomes,
disabling, and isolation of a dead endpoint. Workers run in-process, scoped to each test's
partners; the schedule is shortened to fractions of a second."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg
from httpcore._synchronization import current_async_library
from standardwebhooks import Webhook

from services.notifier.domain import Rotated
from services.notifier.handlers.endpoints import rotate_secret
from services.notifier.unit_of_work import pg_units
from tests.notifier.helpers import (
    Canary,
    Reply,
    add_contact,
    add_endpoint,
    apply,
    deliveries_of,
    delivery_deps,
    offer_event,
    outbox_events,
    receiving,
    run_workers_until,
    settled,
    smtp_server,
)


async def _offer(pool: asyncpg.Pool, partner_id: str) -> UUID:
    envelope, offer = offer_event(partner_id)
    return await apply(pool, offer, envelope)


async def test_a_webhook_is_signed_verified_by_standardwebhooks_and_announced_delivered(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner = f"p-{unique}"
    with receiving(Reply(204)) as receiver:
        _, secret = await add_endpoint(pool, partner, receiver.url)
        receiver.secrets.append(secret)
        event_id = await _offer(pool, partner)
        async with delivery_deps(pool, [partner]) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))
    [row] = await deliveries_of(pool, partner)
    [got] = receiver.received
    assert got.verified, got.error
    assert got.webhook_id == str(row["delivery_id"])
    assert got.body is not None and got.body["type"] == "ta.assignment.offered"
    assert got.body["data"]["partner_id"] == partner
    assert (row["status"], row["attempts"], row["event_id"]) == ("delivered", 1, event_id)
    [announced] = await outbox_events(pool, "ta.notification.delivered", row["delivery_id"])
    assert announced["channel"] == "webhook" and announced["attempts"] == 1


async def test_retries_follow_the_schedule_and_keep_the_same_webhook_id(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner = f"p-{unique}"
    with receiving(Reply(500), Reply(503), Reply(200)) as receiver:
        _, secret = await add_endpoint(pool, partner, receiver.url)
        receiver.secrets.append(secret)
        await _offer(pool, partner)
        async with delivery_deps(pool, [partner], schedule=[0, 0.5, 1.0, 1.0]) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))
    [row] = await deliveries_of(pool, partner)
    assert (row["status"], row["attempts"]) == ("delivered", 3)
    assert {r.webhook_id for r in receiver.received} == {str(row["delivery_id"])}
    assert all(r.verified for r in receiver.received)  # re-signed with a fresh timestamp each time
    gaps = [b - a for a, b in zip(receiver.arrivals, receiver.arrivals[1:], strict=False)]
    assert 0.5 * 0.8 - 0.05 <= gaps[0] < 0.5 * 1.2 + 0.5  # ±20 % jitter, plus polling slack
    assert 1.0 * 0.8 - 0.05 <= gaps[1] < 1.0 * 1.2 + 0.5


async def test_retry_after_on_a_429_lengthens_the_wait(pool: asyncpg.Pool, unique: str) -> None:
    partner = f"p-{unique}"
    with receiving(Reply(429, {"Retry-After": "2"}), Reply(204)) as receiver:
        await add_endpoint(pool, partner, receiver.url)
        await _offer(pool, partner)
        async with delivery_deps(
            pool, [partner], schedule=[0, 0.2, 0.2], overload_penalty=0.5
        ) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))
    [row] = await deliveries_of(pool, partner)
    assert (row["status"], row["attempts"]) == ("delivered", 2)
    assert receiver.arrivals[1] - receiver.arrivals[0] >= 1.95  # not the schedule's 0.2 s


async def test_a_timeout_fails_the_attempt_and_waits_at_least_the_overload_penalty(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner = f"p-{unique}"
    with receiving(Reply(204, delay=2.0), Reply(204)) as receiver:
        await add_endpoint(pool, partner, receiver.url)
        await _offer(pool, partner)
        async with delivery_deps(
            pool, [partner], schedule=[0, 0.1, 0.1], http_timeout=0.5, overload_penalty=1.5
        ) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))
    [row] = await deliveries_of(pool, partner)
    assert (row["status"], row["attempts"]) == ("delivered", 2)
    assert receiver.arrivals[1] - receiver.arrivals[0] >= 1.45
    assert len({r.webhook_id for r in receiver.received}) == 1


async def test_a_redirect_is_a_failure_and_is_never_followed(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner = f"p-{unique}"
    canary = Canary()
    location = {"Location": f"http://127.0.0.1:{canary.port}/internal"}
    try:
        with receiving(Reply(302, location)) as receiver:
            await add_endpoint(pool, partner, receiver.url)
            await _offer(pool, partner)
            async with delivery_deps(pool, [partner], schedule=[0, 0.1]) as deps:
                await run_workers_until(deps, settled(pool, partner, 1))
    finally:
        canary.close()
    [row] = await deliveries_of(pool, partner)
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 2, "HTTP 302")
    assert canary.hits == 0


async def test_an_exhausted_delivery_is_kept_failed_announced_and_the_secretariat_emailed(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner = f"p-{unique}"
    secretariat_mail = f"secretariat-{unique}@example.org"
    with smtp_server() as (sink, port), receiving(Reply(500)) as receiver:
        await add_endpoint(pool, partner, receiver.url)
        await add_contact(pool, "secretariat", secretariat_mail)
        await _offer(pool, partner)
        async with delivery_deps(
            pool, [partner, "secretariat"], schedule=[0, 0.2, 0.2], smtp_port=port
        ) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))

            async def secretariat_told() -> bool:
                return bool(sink.to(secretariat_mail))

            await run_workers_until(deps, secretariat_told)
    [row] = await deliveries_of(pool, partner)
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 3, "HTTP 500")
    assert len(receiver.received) == 3
    [failed] = await outbox_events(pool, "ta.notification.failed", row["delivery_id"])
    assert failed["attempts"] == 3 and failed["last_error"] == "HTTP 500"
    [mail] = sink.to(secretariat_mail)
    assert str(row["delivery_id"]) in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]


async def test_a_410_disables_the_endpoint_and_the_partner_is_told_by_email(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner = f"p-{unique}"
    with smtp_server() as (sink, port), receiving(Reply(410)) as receiver:
        endpoint_id, _ = await add_endpoint(pool, partner, receiver.url)
        await add_contact(pool, partner, f"ops@{unique}.example.org", language="es")
        await _offer(pool, partner)
        async with delivery_deps(pool, [partner], smtp_port=port) as deps:
            await run_workers_until(deps, settled(pool, partner, 3))  # webhook, offer mail, notice
    endpoint = await pool.fetchrow(
        "SELECT enabled, disabled_reason FROM notifier.endpoints WHERE endpoint_id = $1",
        endpoint_id,
    )
    assert endpoint is not None and not endpoint["enabled"]
    assert "410" in endpoint["disabled_reason"]
    webhook = [r for r in await deliveries_of(pool, partner) if r["channel"] == "webhook"]
    assert [(r["status"], r["attempts"]) for r in webhook] == [("failed", 1)]  # 410: no retry
    assert len(receiver.received) == 1
    subjects = sorted(str(m["Subject"]) for m in sink.messages)
    assert any("desactivado" in s for s in subjects), subjects  # in the contact's language


async def test_an_endpoint_failing_for_n_days_is_disabled_and_its_partner_told(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner = f"p-{unique}"
    with smtp_server() as (sink, port), receiving(Reply(500)) as receiver:
        endpoint_id, _ = await add_endpoint(pool, partner, receiver.url)
        await add_contact(pool, partner, f"ops@{unique}.example.org")
        await _offer(pool, partner)
        # "N days" shortened to 0.7 s; the schedule would try for longer than that.
        async with delivery_deps(
            pool,
            [partner],
            schedule=[0, 0.5, 0.5, 0.5, 0.5],
            disable_after_days=0.7 / 86400,
            smtp_port=port,
        ) as deps:

            async def told() -> bool:
                return any("disabled" in str(m["Subject"]) for m in sink.messages)

            await run_workers_until(deps, told)
    enabled = await pool.fetchval(
        "SELECT enabled FROM notifier.endpoints WHERE endpoint_id = $1", endpoint_id
    )
    assert enabled is False
    assert 2 <= len(receiver.received) < 5


async def test_rotation_sends_both_signatures_during_the_overlap_then_only_the_new_one(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner = f"p-{unique}"

    async def rotate(overlap: float) -> Rotated:
        async with pg_units(pool)() as uow:
            until = datetime.now(UTC) + timedelta(seconds=overlap)
            return await rotate_secret(uow, partner, endpoint_id, None, overlap_until=until)

    with receiving(Reply(204)) as receiver:
        endpoint_id, old = await add_endpoint(pool, partner, receiver.url)
        rotated = await rotate(3600)
        await _offer(pool, partner)
        async with delivery_deps(pool, [partner]) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))
            third = await rotate(0)
            await _offer(pool, partner)
            await run_workers_until(deps, settled(pool, partner, 2))
    first, second = receiver.received
    payloads = {str(r["delivery_id"]): r["payload"] for r in await deliveries_of(pool, partner)}
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    for secret in (old, rotated.secret):  # either secret alone verifies the same message
        Webhook(secret).verify(payloads[first.webhook_id], first.headers)
    assert len(second.headers["webhook-signature"].split(" ")) == 1  # overlap of 0 s: over
    Webhook(third.secret).verify(payloads[second.webhook_id], second.headers)


async def test_a_dead_endpoint_does_not_delay_the_healthy_ones(
    pool: asyncpg.Pool, unique: str
) -> None:
    slow, healthy = f"slow-{unique}", f"ok-{unique}"
    with receiving(Reply(204, delay=6.0)) as dead, receiving(Reply(204)) as alive:
        await add_endpoint(pool, slow, dead.url)
        await add_endpoint(pool, healthy, alive.url)
        for _ in range(6):
            await _offer(pool, slow)  # queued first: the oldest due work is the dead endpoint's
        for _ in range(10):
            await _offer(pool, healthy)
        async with delivery_deps(
            pool, [slow, healthy], http_timeout=5.0, max_in_flight=2, schedule=[0, 30]
        ) as deps:
            started = time.monotonic()
            await run_workers_until(deps, settled(pool, healthy, 10), workers=4)
            healthy_done = time.monotonic() - started
            dead_rows = await deliveries_of(pool, slow)
    assert len(alive.received) == 10
    # All delivered while the dead endpoint's first requests were still waiting to time out...
    assert healthy_done < 4.0
    assert all(r["attempts"] == 0 for r in dead_rows)
    # ...and it never held more than its 2 leases: 4 of its 6 deliveries were never taken.
    assert sum(r["claimed_until"] is not None for r in dead_rows) == 2
    assert len(dead.received) == 2


async def test_a_secret_that_does_not_decode_fails_each_attempt_on_the_schedule(
    pool: asyncpg.Pool, unique: str
) -> None:
    # Whatever goes wrong inside an attempt is a recorded failed attempt: never a row leased
    # again and again with attempts = 0, ahead of every real retry.
    partner = f"p-{unique}"
    with receiving(Reply(204)) as receiver:
        endpoint_id, _ = await add_endpoint(pool, partner, receiver.url)
        await pool.execute(  # stored before secrets were decode-checked: the old pattern only
            "UPDATE notifier.endpoints SET secret = $2 WHERE endpoint_id = $1",
            endpoint_id,
            "whsec_" + "A" * 33,
        )
        await _offer(pool, partner)
        async with delivery_deps(pool, [partner], schedule=[0, 0.2, 0.2]) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))
    [row] = await deliveries_of(pool, partner)
    assert (row["status"], row["attempts"]) == ("failed", 3)
    assert row["last_error"].startswith("binascii.Error: ")
    assert receiver.received == []
    [failed] = await outbox_events(pool, "ta.notification.failed", row["delivery_id"])
    assert failed["attempts"] == 3


async def test_a_retry_after_that_is_neither_ascii_digits_nor_a_date_is_ignored(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner = f"p-{unique}"
    # "²".isdigit() is true, float("²") fails.
    with receiving(Reply(503, {"Retry-After": "²"})) as receiver:
        await add_endpoint(pool, partner, receiver.url)
        await _offer(pool, partner)
        async with delivery_deps(pool, [partner], schedule=[0, 0.2, 0.2]) as deps:
            await run_workers_until(deps, settled(pool, partner, 1))
    [row] = await deliveries_of(pool, partner)
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 3, "HTTP 503")
    assert receiver.arrivals[-1] - receiver.arrivals[0] < 0.2 * 1.2 * 2 + 1.0  # the schedule's


class _Lookups:
    """An import finder that only counts: every import not already loaded asks it first."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, name: str, *_: object) -> None:
        self.names.append(name)


async def test_httpcore_finds_its_async_library_without_searching_for_a_module() -> None:
    """httpcore asks which async library runs on every request and every connection it lets
    go, by importing sniffio; were sniffio missing, each ask would search sys.path in vain
    (about 20 µs, some 2 % of notifier's CPU under load). pyproject depends on sniffio."""
    lookups = _Lookups()
    sys.meta_path.insert(0, lookups)
    try:
        assert current_async_library() == "asyncio"
    finally:
        sys.meta_path.remove(lookups)
    assert lookups.names == []
