"""shared.runtime.start_together without Kafka: a service's consumers start at once, so that they
join their group in one rebalance (each aiokafka consumer's start returns only once the group
has given it partitions, which a start one after another makes a rebalance each), and a failed
start leaves none of them in a group for the retry to find."""

from __future__ import annotations

import asyncio

import pytest

from shared.runtime import start_together


class _Consumer:
    """Starts only once every consumer of the broker has begun starting, as the members of a
    rebalance round are all given partitions together: started one after another, the first
    would wait for ever."""

    def __init__(self, everyone: asyncio.Barrier, *, fails: bool = False) -> None:
        self.everyone = everyone
        self.fails = fails
        self.started = False
        self.stopped = False

    async def start(self) -> None:
        await self.everyone.wait()
        if self.fails:
            raise ConnectionError("the broker went away mid-join")
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


class _Publisher:
    def __init__(self) -> None:
        self.started = False

    async def start(self) -> None:
        self.started = True


class _Broker:
    def __init__(self, subscribers: list[_Consumer]) -> None:
        self.subscribers = subscribers
        self.publishers = [_Publisher()]
        self.running = False
        self.connected = False

    async def connect(self) -> None:
        self.connected = True


async def test_every_consumer_starts_at_once_then_the_publishers() -> None:
    joined = asyncio.Barrier(3)
    broker = _Broker([_Consumer(joined) for _ in range(3)])
    async with asyncio.timeout(2):  # one after another, the first start never returns
        await start_together(broker)
    assert broker.connected and broker.running
    assert all(c.started for c in broker.subscribers)
    assert all(p.started for p in broker.publishers)


async def test_a_failed_start_stops_every_consumer_and_says_why() -> None:
    joined = asyncio.Barrier(3)
    broker = _Broker([_Consumer(joined), _Consumer(joined, fails=True), _Consumer(joined)])
    with pytest.raises(ExceptionGroup) as failed:
        async with asyncio.timeout(2):
            await start_together(broker)
    assert failed.group_contains(ConnectionError, match="mid-join")
    assert all(c.stopped for c in broker.subscribers)
    assert not broker.running and not any(p.started for p in broker.publishers)
