"""shared.doorbell without a database: a ring wakes one waiter, and is kept when none waits; a
notice wakes those who wait for its payload, and only so many may wait."""

from __future__ import annotations

import asyncio
import time

from shared.doorbell import Arrivals, Doorbell


async def test_a_ring_wakes_one_waiter_the_longest_waiting() -> None:
    bell = Doorbell("test")
    first = asyncio.create_task(bell.wait(5))
    await asyncio.sleep(0)
    second = asyncio.create_task(bell.wait(5))
    await asyncio.sleep(0)

    bell.ring()
    await asyncio.sleep(0.01)
    assert first.done() and not second.done()

    bell.ring()
    await asyncio.wait_for(second, 1)


async def test_a_ring_with_nobody_waiting_is_kept_for_the_next_wait() -> None:
    bell = Doorbell("test")
    bell.ring()
    started = time.monotonic()
    await bell.wait(5)
    assert time.monotonic() - started < 0.5
    started = time.monotonic()
    await bell.wait(0.05)  # kept once, not for ever
    assert time.monotonic() - started >= 0.04


async def test_a_waiter_that_timed_out_does_not_swallow_the_next_ring() -> None:
    bell = Doorbell("test")
    await bell.wait(0.01)  # timed out: it must not stay in line
    waiting = asyncio.create_task(bell.wait(5))
    await asyncio.sleep(0)
    bell.ring()
    await asyncio.wait_for(waiting, 1)


async def test_a_notice_wakes_every_waiter_for_its_payload_and_no_other() -> None:
    arrivals = Arrivals("test", capacity=8, per_owner=8)
    with (
        arrivals.expecting("a", "p") as first,
        arrivals.expecting("a", "q") as second,
        arrivals.expecting("b", "p") as other,
    ):
        assert first is not None and second is not None and other is not None
        arrivals.heard(None, 1, "test", "b-not-a")
        arrivals.heard(None, 1, "test", "a")
        assert first.is_set() and second.is_set() and not other.is_set()


async def test_a_notice_before_anyone_expects_it_is_not_kept() -> None:
    """Callers enter `expecting` before they look for the thing: a notice before that is for a
    thing the look will find."""
    arrivals = Arrivals("test", capacity=8, per_owner=8)
    arrivals.heard(None, 1, "test", "a")
    with arrivals.expecting("a", "p") as waiting:
        assert waiting is not None and not waiting.is_set()


async def test_beyond_its_capacity_nobody_more_waits_until_a_waiter_leaves() -> None:
    arrivals = Arrivals("test", capacity=2, per_owner=8)
    with (
        arrivals.expecting("a", "p") as one,
        arrivals.expecting("a", "q") as two,
        arrivals.expecting("b", "r") as three,
    ):
        assert one is not None and two is not None and three is None
    with arrivals.expecting("b", "r") as again:  # both left: room again
        assert again is not None
        arrivals.heard(None, 1, "test", "b")
        assert again.is_set()


async def test_one_owner_cannot_take_every_place() -> None:
    arrivals = Arrivals("test", capacity=8, per_owner=2)
    with (
        arrivals.expecting("a", "greedy") as one,
        arrivals.expecting("b", "greedy") as two,
        arrivals.expecting("c", "greedy") as three,
        arrivals.expecting("c", "other") as others,
    ):
        assert one is not None and two is not None and three is None
        assert others is not None
    with arrivals.expecting("d", "greedy") as later:  # its places were given back
        assert later is not None
