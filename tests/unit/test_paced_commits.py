"""shared.offsets.PacedCommits: batches settled within one interval share a commit; a rewind,
the timer and a rebalance commit at once; partitions no longer held are never committed."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaConnectionError

from shared.offsets import PacedCommits

P0, P1 = TopicPartition("t", 0), TopicPartition("t", 1)


class Consumer:
    """What PacedCommits uses of a consumer: its assignment and commit(offsets)."""

    def __init__(self, *held: TopicPartition) -> None:
        self.held = set(held)
        self.commits: list[dict[TopicPartition, int]] = []
        self.fail_next = False

    def assignment(self) -> set[TopicPartition]:
        return self.held

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        if self.fail_next:
            self.fail_next = False
            raise KafkaConnectionError("coordinator gone")
        self.commits.append(dict(offsets))


def _real(consumer: Consumer) -> AIOKafkaConsumer:
    return cast(AIOKafkaConsumer, cast(Any, consumer))


async def test_batches_within_an_interval_share_one_commit_made_by_the_timer() -> None:
    consumer, commits = Consumer(P0, P1), PacedCommits(interval_s=0.2)
    await commits.settled(_real(consumer), {P0: 1}, now=False)  # the first: at once
    await commits.settled(_real(consumer), {P0: 5}, now=False)
    await commits.settled(_real(consumer), {P1: 3}, now=False)
    assert consumer.commits == [{P0: 1}]
    await asyncio.sleep(0.35)
    assert consumer.commits == [{P0: 1}, {P0: 5, P1: 3}]


async def test_a_rewind_commits_at_once_and_a_rebalance_commits_what_it_takes_away() -> None:
    consumer, commits = Consumer(P0, P1), PacedCommits(interval_s=10)
    await commits.settled(_real(consumer), {P0: 1}, now=False)
    await commits.settled(_real(consumer), {P0: 4}, now=True)  # rewound to offset 4
    await commits.settled(_real(consumer), {P1: 7}, now=False)
    assert consumer.commits == [{P0: 1}, {P0: 4}]
    await commits.revoked({P0})  # nothing settled there since: no commit
    assert len(consumer.commits) == 2
    await commits.revoked({P1})
    assert consumer.commits[-1] == {P1: 7}


async def test_a_partition_no_longer_held_is_not_committed_and_a_failed_commit_is_kept() -> None:
    consumer, commits = Consumer(P0), PacedCommits(interval_s=10)
    consumer.fail_next = True
    await commits.settled(_real(consumer), {P0: 2, P1: 9}, now=True)
    assert consumer.commits == []  # failed: kept for the next commit
    await commits.settled(_real(consumer), {P0: 3}, now=True)
    assert consumer.commits == [{P0: 3}]  # the newer position; P1 was never ours to commit


class SlowConsumer(Consumer):
    """Its commits take until `answer` is set: the group coordinator's round trip."""

    def __init__(self, *held: TopicPartition) -> None:
        super().__init__(*held)
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.asked.set()
        await self.answer.wait()
        await super().commit(offsets)


async def test_a_batch_settled_while_the_timers_commit_is_under_way_is_committed_after_it() -> None:
    consumer, commits = SlowConsumer(P0), PacedCommits(interval_s=0.1)
    consumer.answer.set()
    await commits.settled(_real(consumer), {P0: 1}, now=False)  # the first: at once
    consumer.answer.clear()
    consumer.asked.clear()
    await commits.settled(_real(consumer), {P0: 5}, now=False)  # the timer's
    await asyncio.wait_for(consumer.asked.wait(), 1)  # the timer is committing 5 ...
    await commits.settled(_real(consumer), {P0: 7}, now=False)  # ... when this one settles
    consumer.answer.set()
    await asyncio.sleep(0.4)  # no batch comes after it: the last of the traffic
    assert consumer.commits == [{P0: 1}, {P0: 5}, {P0: 7}]
