"""The dead-letter topic and its replay (operators): list, read one, write one back once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status

from services.intake.api.common import AUTH, INVALID, Operator, Units
from services.intake.domain import dead_letters as rules
from services.intake.domain.errors import (
    DeadLettersUnavailable,
    NotReplayable,
    UnknownDeadLetter,
)
from services.intake.domain.model import Clock
from services.intake.handlers import dead_letters
from services.intake.handlers.dead_letters import DeadLetterTopic
from services.intake.schemas import (
    DeadLetterPageView,
    DeadLetterRefusal,
    DeadLetterReplayView,
    DeadLetterView,
)
from shared import bounds
from shared.errors import ApiError

MAX_OFFSET = 2**63 - 1  # Kafka's offsets are int64
LISTED_HEADER_CHARS = 200  # a page shows each header's start; one dead letter shows it whole

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"description": "Kafka did not answer in time; try again"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No dead letter at this offset (never written, or past retention)"},
}


async def _topic(request: Request) -> DeadLetterTopic:
    topic: DeadLetterTopic = request.app.state.dead_letters  # set by app.py's lifespan
    return topic


Topic = Annotated[DeadLetterTopic, Depends(_topic)]
Offset = Annotated[int, Path(ge=0, le=MAX_OFFSET, description="Offset on ta.deadletter.v1")]


def install(api: APIRouter, clock: Clock) -> None:
    @api.get(
        "/dead-letters",
        tags=["dead letters"],
        response_model=DeadLetterPageView,
        responses={**AUTH, **INVALID, **UNAVAILABLE},
        summary="The newest dead letters, a page at a time (operator key)",
        description="Records a service could never process, newest first, from "
        "`ta.deadletter.v1`: where each came from and why, its key and headers, the start of "
        "its value, and whether it can be replayed. `before` pages back: pass the previous "
        "page's `next_before`.",
    )
    async def listing(
        units: Units,
        topic: Topic,
        _who: Operator,
        before: Annotated[
            int | None, Query(ge=0, le=MAX_OFFSET, description="Only offsets below this one")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=100, description="At most this many")] = 20,
    ) -> DeadLetterPageView:
        with _answers():
            page, next_before = await dead_letters.newest(topic, units, before=before, limit=limit)
        return DeadLetterPageView(
            dead_letters=[_view(i, LISTED_HEADER_CHARS) for i in page], next_before=next_before
        )

    @api.get(
        "/dead-letters/{offset}",
        tags=["dead letters"],
        response_model=DeadLetterView,
        responses={**AUTH, **INVALID, **NOT_FOUND, **UNAVAILABLE},
        summary="One dead letter (operator key)",
    )
    async def one(offset: Offset, units: Units, topic: Topic, _who: Operator) -> DeadLetterView:
        with _answers():
            inspected = await dead_letters.one(topic, units, offset)
        return _view(inspected, bounds.DLQ_MAX_HEADER_CHARS)

    @api.post(
        "/dead-letters/{offset}/replay",
        tags=["dead letters"],
        status_code=status.HTTP_202_ACCEPTED,
        response_model=DeadLetterReplayView,
        responses={
            **AUTH,
            **INVALID,
            **NOT_FOUND,
            409: {"description": "Replayed before, or cannot be replayed (the code says why)"},
            **UNAVAILABLE,
        },
        summary="Write a dead letter back to the topic it came from, once (operator key)",
        description="The original key, value and headers (without the `x-dlq-*` ones) go back "
        "to the topic and partition the record came from; the answer comes once Kafka "
        "acknowledged them. A dead letter is replayed at most once: fix what made it fail first.",
    )
    async def replay(
        offset: Offset, units: Units, topic: Topic, who: Operator
    ) -> DeadLetterReplayView:
        with _answers():
            done = await dead_letters.replay(topic, units, offset, by=who.key_id, clock=clock)
        return _replay_view(done)


@contextmanager
def _answers() -> Iterator[None]:
    """The use cases' outcomes as the one error body."""
    try:
        yield
    except UnknownDeadLetter as exc:
        raise ApiError.one(404, "not_found", f"no dead letter at offset {exc}") from exc
    except NotReplayable as exc:
        raise ApiError.one(409, exc.refusal.code, exc.refusal.message) from exc
    except DeadLettersUnavailable as exc:
        raise ApiError.one(503, "unavailable", "Kafka did not answer in time") from exc


def _view(inspected: rules.Inspected, header_chars: int) -> DeadLetterView:
    letter, where = inspected.letter, rules.origin(inspected.letter)
    return DeadLetterView(
        offset=letter.offset,
        timestamp=letter.timestamp,
        reason=where.reason,
        error=where.error,
        service=where.service,
        topic=where.topic,
        partition=where.partition,
        original_offset=where.offset,
        key=None if letter.key is None else letter.key.decode("utf-8", "replace"),
        headers={
            name: bounds.clip(raw.decode("utf-8", "replace"), header_chars)
            for name, raw in rules.original_headers(letter)
        },
        value_bytes=letter.size,
        value_preview=rules.preview(letter),
        replayable=inspected.refusal is None,
        refusal=_refusal(inspected.refusal),
        replayed=None if inspected.replayed is None else _replay_view(inspected.replayed),
    )


def _refusal(refusal: rules.Refusal | None) -> DeadLetterRefusal | None:
    return (
        None if refusal is None else DeadLetterRefusal(code=refusal.code, message=refusal.message)
    )


def _replay_view(done: rules.Replayed) -> DeadLetterReplayView:
    return DeadLetterReplayView(
        offset=done.offset, topic=done.topic, replayed_at=done.at, replayed_by=done.by
    )
