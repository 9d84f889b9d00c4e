"""Offset commits, paced: at most one per subscription every `COMMIT_INTERVAL_S`.

A commit only ever names positions whose records were settled (their transaction committed, or
they were dead-lettered), so what a crash makes Kafka send again is only records already
applied, which the inbox absorbs (product brief §4). A commit need not follow every batch,
then: each costs a round trip to the group coordinator, a write to `__consumer_offsets`, and,
awaited inside the consume loop, a wait before the next fetch. Under load a subscription settles
a batch every few milliseconds; paced, it commits a few times a second.

The positions of batches settled since the last commit wait here and are committed:
- at once when a batch rewound a partition (a record to retry), as before;
- after the interval, by a timer, when no batch comes to carry them;
- when the group takes partitions away (a rebalance), before the next owner reads them.
A process that stops sends again, on its restart or to the next owner, what it settled in its
last interval: at most `COMMIT_INTERVAL_S` of records, each absorbed by the inbox.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

log = logging.getLogger(__name__)

COMMIT_INTERVAL_S = 0.2


class PacedCommits:
    """One subscription's commits: `settled` after each batch, `revoked` from the rebalance
    listener. Commits run one at a time, so a later position is never overtaken by an older."""

    def __init__(self, interval_s: float = COMMIT_INTERVAL_S) -> None:
        self._interval = interval_s
        self._pending: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._last = 0.0
        self._timer: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def settled(
        self, consumer: AIOKafkaConsumer, positions: Mapping[TopicPartition, int], *, now: bool
    ) -> None:
        """A batch is settled; its partitions stand at `positions`. `now`: commit at once."""
        self._consumer = consumer
        self._pending.update(positions)
        if now or time.monotonic() - self._last >= self._interval:
            await self.flush()
        elif self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(self._flush_later())

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """The group takes these away: commit what was settled on them while they are ours."""
        if any(p in self._pending for p in partitions):
            await self.flush()

    async def flush(self) -> bool:
        """Commit what is pending; False when a failed commit kept it for the next one."""
        async with self._lock:
            pending, self._pending = self._pending, {}
            consumer = self._consumer
            if consumer is None or not pending:
                return True
            held = consumer.assignment()
            offsets = {p: at for p, at in pending.items() if p in held}
            self._last = time.monotonic()
            if not offsets:
                return True
            try:
                await consumer.commit(offsets)
            except KafkaError as exc:
                # Kept for the next commit, unless newer positions came meanwhile; if the
                # partitions went elsewhere, their next owner reads these records again.
                self._pending = offsets | self._pending
                log.warning("offset commit failed, kept for the next one: %r", exc)
                return False
            return True

    async def _flush_later(self) -> None:
        # Positions settled while this timer's commit was under way found it still running, so
        # `settled` started no other: they are this timer's too. Without that, the last batch
        # of a burst stayed uncommitted until the next batch came, however late.
        while True:
            await asyncio.sleep(max(0.0, self._last + self._interval - time.monotonic()))
            try:
                committed = await self.flush()
            except Exception as exc:  # noqa: BLE001 - a stopping consumer; the inbox covers a replay
                log.warning("offset commit failed: %r", exc)
                return
            if not committed or not self._pending:
                return  # a failed commit's positions wait for the next batch, as before
