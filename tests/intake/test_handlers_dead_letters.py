"""Reading and replaying dead letters on the in-memory topic and unit of work: pages newest
first, a replay at most once, and a replay the broker refused left free to try again."""

from __future__ import annotations

import pytest

from services.intake.domain.dead_letters import Replayed
from services.intake.domain.errors import (
    DeadLettersUnavailable,
    NotReplayable,
    UnknownDeadLetter,
)
from services.intake.handlers import dead_letters
from shared import bounds, topics
from tests.intake.dead_letters import AT, FakeDeadLetterTopic, dead_lettered, original
from tests.intake.fakes import IntakeStore, fake_units


async def _topic(*offsets: int) -> FakeDeadLetterTopic:
    topic = FakeDeadLetterTopic()
    for offset in offsets:
        record = original(topics.REQUESTS, key=f"key-{offset}".encode())
        topic.letters[offset] = await dead_lettered(record, offset=offset)
    return topic


async def test_dead_letters_are_listed_newest_first_a_page_at_a_time() -> None:
    topic, units = await _topic(3, 4, 5, 6, 7), fake_units(IntakeStore())
    page, next_before = await dead_letters.newest(topic, units, before=None, limit=2)
    assert [i.letter.offset for i in page] == [7, 6] and next_before == 6
    page, next_before = await dead_letters.newest(topic, units, before=next_before, limit=2)
    assert [i.letter.offset for i in page] == [5, 4] and next_before == 4
    page, next_before = await dead_letters.newest(topic, units, before=next_before, limit=2)
    assert [i.letter.offset for i in page] == [3] and next_before is None
    assert all(i.refusal is None and i.replayed is None for i in page)


async def test_a_dead_letter_is_replayed_once_and_says_so_afterwards() -> None:
    topic, store = await _topic(5), IntakeStore()
    units = fake_units(store)
    done = await dead_letters.replay(topic, units, 5, by="op-key", clock=lambda: AT)
    assert done == Replayed(5, topics.REQUESTS, AT, "op-key")
    [sent] = topic.sent
    assert (sent.topic, sent.partition, sent.key) == (topics.REQUESTS, 2, b"key-5")
    with pytest.raises(NotReplayable) as again:
        await dead_letters.replay(topic, units, 5, by="other-key", clock=lambda: AT)
    assert again.value.refusal.code == "already_replayed"
    assert "op-key" in again.value.refusal.message
    assert len(topic.sent) == 1
    inspected = await dead_letters.one(topic, units, 5)
    assert inspected.replayed == done and inspected.refusal is not None


async def test_a_replay_the_broker_did_not_take_can_be_tried_again() -> None:
    topic, store = await _topic(5), IntakeStore()
    units = fake_units(store)
    topic.failure = DeadLettersUnavailable("broker down")
    with pytest.raises(DeadLettersUnavailable):
        await dead_letters.replay(topic, units, 5, by="op-key", clock=lambda: AT)
    assert store.replays == {} and store.rollbacks == 1  # the claim went with the unit
    await dead_letters.replay(topic, units, 5, by="op-key", clock=lambda: AT)
    assert [r.offset for r in store.replays.values()] == [5] and len(topic.sent) == 1


async def test_a_dead_letter_that_cannot_be_replayed_is_refused_before_anything_is_claimed() -> (
    None
):
    topic, store = await _topic(), IntakeStore()
    big = original(topics.REQUESTS, value=b"x" * (bounds.DLQ_MAX_VALUE_BYTES + 1))
    topic.letters[8] = await dead_lettered(big, offset=8)
    with pytest.raises(NotReplayable) as refused:
        await dead_letters.replay(topic, fake_units(store), 8, by="k", clock=lambda: AT)
    assert refused.value.refusal.code == "value_dropped"
    assert store.replays == {} and topic.sent == []


async def test_an_offset_without_a_dead_letter_is_unknown() -> None:
    topic, units = await _topic(5), fake_units(IntakeStore())
    with pytest.raises(UnknownDeadLetter):
        await dead_letters.one(topic, units, 6)
    with pytest.raises(UnknownDeadLetter):
        await dead_letters.replay(topic, units, 6, by="k", clock=lambda: AT)
