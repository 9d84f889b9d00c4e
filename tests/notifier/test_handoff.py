"""A fan-out's deliveries leased by the unit that queued them, and sent once it commits
(DirectSends): no claim, no doorbell and no worker between (issue 11). Where the unit may not
lease them (an endpoint at its cap, no room), they stay due and the workers are rung, as before.

The real PostgreSQL, the real senders, a receiver that verifies each signature; no worker runs
in any of these tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import asyncpg
from prometheus_client import REGISTRY

from services.notifier.handlers.delivery import DirectSends, OutcomeRecorder
from services.notifier.handlers.fanout import fan_out
from services.notifier.repositories.deliveries import DUE_CHANNEL
from services.notifier.unit_of_work import pg_units
from tests.notifier.helpers import (
    Delivering,
    Reply,
    ScriptedReceiver,
    add_endpoint,
    apply,
    deliveries_of,
    delivery_deps,
    offer_event,
    receiving,
    seconds_until,
    settled,
)


@asynccontextmanager
async def direct_sends(
    deps: Delivering, *, most: int = 8, more_due: Callable[[], None] = lambda: None
) -> AsyncIterator[DirectSends]:
    direct = DirectSends(deps.clock, most=most)
    recorder = OutcomeRecorder(deps.units, deps.rules, deps.clock)
    direct.open(deps.channels, recorder, deps.rules, more_due=more_due)
    try:
        yield direct
    finally:
        await direct.close()
        await recorder.close()


@asynccontextmanager
async def doorbell_rings(database_url: str) -> AsyncIterator[list[str]]:
    """The NOTIFYs on the workers' channel while the block runs."""
    heard: list[str] = []
    conn = await asyncpg.connect(database_url)
    await conn.add_listener(DUE_CHANNEL, lambda *args: heard.append(str(args[-1])))
    try:
        yield heard
        await asyncio.sleep(0.2)  # a NOTIFY reaches the listener just after its commit
    finally:
        await conn.close()


async def fan_out_handing_over(
    pool: asyncpg.Pool, direct: DirectSends, partner: str, *, events: int = 1
) -> None:
    """`events` offers to `partner`, fanned out in one unit (as a batch of records is)."""
    async with pg_units(pool, direct)() as uow:
        for _ in range(events):
            envelope, offer = offer_event(partner)
            await fan_out(uow, envelope, offer)


async def until(done: Callable[[], Awaitable[bool]]) -> float:
    return await seconds_until(done, within=5.0, failure="the delivery was not sent")


async def left_for_the_workers(
    pool: asyncpg.Pool, partner: str, receiver: ScriptedReceiver, rings: list[str], count: int
) -> list[asyncpg.Record]:
    """The partner's unleased rows, checked to be `count`, all due, none sent, and the
    workers rung for them."""
    unleased = [r for r in await deliveries_of(pool, partner) if r["claimed_until"] is None]
    assert [r["status"] for r in unleased] == ["pending"] * count
    assert receiver.received == []
    assert rings, "a delivery left due must ring the workers' doorbell"
    return unleased


def leases(by: str) -> float:
    """stax_delivery_leases_total{by} as it stands."""
    return REGISTRY.get_sample_value("stax_delivery_leases_total", {"by": by}) or 0.0


async def test_a_fanned_out_delivery_is_sent_once_its_unit_commits_with_no_worker_running(
    pool: asyncpg.Pool, database_url: str, unique: str
) -> None:
    partner = f"p-{unique}"
    queued_before = leases("queued")
    with receiving(Reply(204)) as receiver:
        _, secret = await add_endpoint(pool, partner, receiver.url)
        receiver.secrets.append(secret)
        async with (
            delivery_deps(pool, [partner]) as deps,
            direct_sends(deps) as direct,
            doorbell_rings(database_url) as rings,
        ):
            await fan_out_handing_over(pool, direct, partner)
            waited = await until(settled(pool, partner, 1))
    [row] = await deliveries_of(pool, partner)
    assert (row["status"], row["attempts"]) == ("delivered", 1)
    assert [(r.webhook_id, r.verified) for r in receiver.received] == [
        (str(row["delivery_id"]), True)
    ]
    assert waited < 3.0, waited
    assert rings == [], "the workers were rung for a delivery already on its way"
    assert leases("queued") == queued_before + 1


async def test_an_endpoint_at_its_cap_keeps_its_new_delivery_due_and_the_workers_are_rung(
    pool: asyncpg.Pool, database_url: str, unique: str
) -> None:
    partner = f"p-{unique}"
    with receiving(Reply(204)) as receiver:
        await add_endpoint(pool, partner, receiver.url)
        await apply(pool, offer_event(partner)[1])  # a delivery due, queued the old way
        async with delivery_deps(pool, [partner], max_in_flight=1) as deps:
            now = deps.clock()
            async with deps.units() as uow:  # a worker's lease on it: the endpoint's only one
                claim = await uow.deliveries.claim_batch(
                    now=now,
                    lease_until=now + timedelta(minutes=5),
                    max_in_flight_per_endpoint=1,
                    partners=[partner],
                    limit=1,
                )
            assert len(claim.deliveries) == 1
            async with direct_sends(deps) as direct, doorbell_rings(database_url) as rings:
                await fan_out_handing_over(pool, direct, partner)
    [unleased] = await left_for_the_workers(pool, partner, receiver, rings, 1)
    assert unleased["delivery_id"] != claim.deliveries[0].delivery_id


async def test_when_a_send_that_took_its_endpoint_to_the_cap_ends_the_workers_are_rung(
    pool: asyncpg.Pool, unique: str
) -> None:
    # Two deliveries to one endpoint in one unit, a cap of 1: the first is sent directly, the
    # second waits for a claim. Once the first's lease is let go, nothing but a ring tells the
    # workers that the second may go now (no commit announces it).
    partner = f"p-{unique}"
    rung: list[str] = []
    with receiving(Reply(204)) as receiver:
        await add_endpoint(pool, partner, receiver.url)
        async with (
            delivery_deps(pool, [partner], max_in_flight=1) as deps,
            direct_sends(deps, more_due=lambda: rung.append("ring")) as direct,
        ):
            await fan_out_handing_over(pool, direct, partner, events=2)
            await until(lambda: _statuses(pool, partner, ["delivered", "pending"]))

            async def rang() -> bool:  # just after the outcome's commit, from the same task
                return bool(rung)

            await until(rang)
    assert len(receiver.received) == 1
    assert rung == ["ring"]


async def _statuses(pool: asyncpg.Pool, partner: str, wanted: list[str]) -> bool:
    return sorted(r["status"] for r in await deliveries_of(pool, partner)) == sorted(wanted)


async def test_a_new_delivery_does_not_overtake_one_waiting_for_its_endpoint(
    pool: asyncpg.Pool, database_url: str, unique: str
) -> None:
    # One delivery waits for a claim (queued without a hand-over, as when the endpoint was at
    # its cap). The endpoint has room now, but the newer one must not go first: it waits too,
    # and the workers, rung, take both in order.
    partner = f"p-{unique}"
    with receiving(Reply(204)) as receiver:
        await add_endpoint(pool, partner, receiver.url)
        await apply(pool, offer_event(partner)[1])
        [waiting] = await deliveries_of(pool, partner)
        async with (
            delivery_deps(pool, [partner]) as deps,
            direct_sends(deps) as direct,
            doorbell_rings(database_url) as rings,
        ):
            await fan_out_handing_over(pool, direct, partner)
    rows = await left_for_the_workers(pool, partner, receiver, rings, 2)
    assert rows[0]["delivery_id"] == waiting["delivery_id"]


async def test_without_room_the_unit_leases_nothing_and_rings_the_workers(
    pool: asyncpg.Pool, database_url: str, unique: str
) -> None:
    partner = f"p-{unique}"
    with receiving(Reply(204)) as receiver:
        await add_endpoint(pool, partner, receiver.url)
        async with delivery_deps(pool, [partner]) as deps, doorbell_rings(database_url) as rings:
            closed = DirectSends(deps.clock, most=8)  # never opened: no senders to hand to
            await fan_out_handing_over(pool, closed, partner)
    await left_for_the_workers(pool, partner, receiver, rings, 1)


async def test_a_unit_that_rolls_back_hands_nothing_over(pool: asyncpg.Pool, unique: str) -> None:
    partner = f"p-{unique}"
    with receiving(Reply(204)) as receiver:
        await add_endpoint(pool, partner, receiver.url)
        async with delivery_deps(pool, [partner]) as deps, direct_sends(deps) as direct:
            envelope, offer = offer_event(partner)
            try:
                async with pg_units(pool, direct)() as uow:
                    await fan_out(uow, envelope, offer)
                    await uow.deliveries.recent(partner_id=partner, status=None, limit=1)
                    raise RuntimeError("the batch failed after its deliveries were written")
            except RuntimeError:
                pass
            terms = direct.terms(8)
    assert terms is not None and terms.most == 8  # no send was started
    assert await deliveries_of(pool, partner) == []
    assert receiver.received == []
