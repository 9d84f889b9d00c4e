"""Operators read the dead letters and replay one, at most once (intake's /v1/dead-letters).

The topic is reached through a `DeadLetterTopic` (the Kafka adapter app.py builds, or a fake),
the replays are recorded through the unit of work. These use cases take the unit factory: a read
opens its unit only once Kafka has answered, so no pooled connection waits on the broker.
"""

from __future__ import annotations

from typing import Protocol

from services.intake.domain.dead_letters import (
    DeadLetter,
    DeadLetterPage,
    Inspected,
    Refusal,
    Replay,
    Replayed,
    already_replayed,
    inspect,
    replay_of,
)
from services.intake.domain.errors import NotReplayable, UnknownDeadLetter
from services.intake.domain.model import Clock
from services.intake.unit_of_work import IntakeUnits


class DeadLetterTopic(Protocol):
    """ta.deadletter.v1, and the topics its records go back to. Raises DeadLettersUnavailable
    when Kafka does not answer in time."""

    async def newest(self, *, before: int | None, limit: int) -> DeadLetterPage:
        """Up to `limit` dead letters below offset `before` (None: from the newest), newest
        first; each value cut to what a listing previews."""
        ...

    async def at(self, offset: int) -> DeadLetter | None:
        """The whole dead letter at `offset`; None if the topic has none there (or no more)."""
        ...

    async def send(self, replay: Replay) -> None:
        """Write the record and wait for the broker's ack; NotReplayable if the broker refuses
        it for good (no such topic or partition, or intake may not write it)."""
        ...


async def newest(
    topic: DeadLetterTopic, units: IntakeUnits, *, before: int | None, limit: int
) -> tuple[list[Inspected], int | None]:
    """A page of dead letters, newest first, each with its replay if any; and the `before` of
    the next (older) page, None at the oldest."""
    page = await topic.newest(before=before, limit=limit)
    async with units() as uow:
        replays = await uow.replays.of([letter.offset for letter in page.letters])
    return [
        inspect(letter, replays.get(letter.offset)) for letter in page.letters
    ], page.next_before


async def one(topic: DeadLetterTopic, units: IntakeUnits, offset: int) -> Inspected:
    letter = await _letter(topic, offset)
    async with units() as uow:
        replays = await uow.replays.of([offset])
    return inspect(letter, replays.get(offset))


async def replay(
    topic: DeadLetterTopic, units: IntakeUnits, offset: int, *, by: str, clock: Clock
) -> Replayed:
    """Write dead letter `offset` back where it came from, once; `by` is the operator key's id.
    UnknownDeadLetter, or NotReplayable (refused, or replayed before)."""
    record = replay_of(await _letter(topic, offset))
    if isinstance(record, Refusal):
        raise NotReplayable(record)
    done = Replayed(offset, record.topic, clock(), by)
    # Claim, produce, commit, in this order. The claim's primary key makes a concurrent second
    # replay wait for this one's commit and then find it; a failed produce raises, which rolls
    # the claim back so that the operator may try again. What remains: the broker acknowledged
    # and the commit then failed (the database went away just then); the dead letter then reads
    # as not replayed, and a second replay would write the record twice.
    async with units() as uow:
        if not await uow.replays.claim(done):
            earlier = (await uow.replays.of([offset]))[offset]
            raise NotReplayable(already_replayed(earlier))
        await topic.send(record)
    return done


async def _letter(topic: DeadLetterTopic, offset: int) -> DeadLetter:
    letter = await topic.at(offset)
    if letter is None:
        raise UnknownDeadLetter(str(offset))
    return letter
