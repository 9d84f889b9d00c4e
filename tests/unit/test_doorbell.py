"""shared.doorbell without a database: a ring wakes one waiter, and is kept when none waits."""

from __future__ import annotations

import asyncio
import time

from shared.doorbell import Doorbell


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
