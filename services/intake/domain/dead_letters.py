"""Dead letters (ta.deadletter.v1) as operators see them, and when one may be replayed.

A dead letter is the original record (key, value, text headers) plus `x-dlq-*` headers saying
where it was and why it failed (shared.kafka.DeadLetters; the outbox reports a quarantined event
the same way, without its body). Only STAX principals may write the topic, so the headers are
trusted; they are checked all the same, because a replay writes wherever they point. A replay
puts the record back as it was, where it was: its topic (one a STAX service consumes) and its
partition (so it stays beside its key's other records). A record kept incomplete is never
replayed: the replay would not be the record that failed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from shared import bounds, topics

PREFIX = "x-dlq-"  # the headers the dead-lettering adds; every other header is the original's
PREVIEW_BYTES = 2048  # as much of a value as a listing shows
_KAFKA_MAX_TOPIC = 249  # the longest topic name Kafka allows
_MAX_PARTITION = 2**31 - 1  # partitions are int32 in Kafka's protocol
_ESCAPE = re.compile(r"\\x[0-9a-f]{2}")  # what "backslashreplace" makes of bytes not UTF-8
_NUMBER = re.compile(r"-?[0-9]{1,19}")
# What FastStream adds to a record it publishes when not given: shared.kafka.PUBLISHER_HEADERS,
# which the domain may not import (a test compares them).
PUBLISHER_HEADERS = frozenset({"content-type", "correlation_id"})

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class DeadLetter:
    """One record of ta.deadletter.v1; `value` may be only its first bytes (of `size`)."""

    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes
    size: int
    headers: Headers

    @property
    def whole(self) -> bool:
        return len(self.value) == self.size


@dataclass(frozen=True)
class DeadLetterPage:
    """Dead letters newest first; `next_before` asks for the page of older ones (None: none)."""

    letters: list[DeadLetter]
    next_before: int | None


@dataclass(frozen=True)
class Origin:
    """What the x-dlq-* headers say, each None when missing (or, for numbers, not one)."""

    reason: str | None
    error: str | None
    topic: str | None
    partition: int | None
    offset: int | None
    service: str | None


@dataclass(frozen=True)
class Refusal:
    """Why a dead letter cannot be replayed: a stable code and a sentence for the operator."""

    code: str
    message: str


@dataclass(frozen=True)
class Replay:
    """The record to write back: as it was, where it was."""

    topic: str
    partition: int
    key: bytes | None
    value: bytes
    headers: Headers


@dataclass(frozen=True)
class Replayed:
    """A dead letter already replayed (intake.dead_letter_replays): where, when, by which key."""

    offset: int
    topic: str
    at: datetime
    by: str


@dataclass(frozen=True)
class Inspected:
    """A dead letter as an operator sees it: whether a replay would be accepted now, and the
    replay made before, if any."""

    letter: DeadLetter
    refusal: Refusal | None
    replayed: Replayed | None


def inspect(letter: DeadLetter, replayed: Replayed | None) -> Inspected:
    refused = already_replayed(replayed) if replayed is not None else refusal(letter)
    return Inspected(letter, refused, replayed)


def original_headers(letter: DeadLetter) -> Headers:
    """The headers the record had: without the x-dlq-* ones, and without those the publisher of
    the dead letter added (x-dlq-added; only FastStream's own two can be named there)."""
    added = {n.strip() for v in dlq_headers(letter).get("x-dlq-added", []) for n in v.split(",")}
    dropped = added & PUBLISHER_HEADERS
    return tuple((k, v) for k, v in letter.headers if not k.startswith(PREFIX) and k not in dropped)


def dlq_headers(letter: DeadLetter) -> dict[str, list[str]]:
    """The x-dlq-* headers as text, every value of each (DeadLetters writes each once)."""
    found: dict[str, list[str]] = {}
    for k, v in letter.headers:
        if k.startswith(PREFIX):
            found.setdefault(k, []).append(v.decode("utf-8", "replace"))
    return found


def origin(letter: DeadLetter) -> Origin:
    dlq = {k: vs[0] for k, vs in dlq_headers(letter).items()}
    return Origin(
        reason=dlq.get("x-dlq-reason"),
        error=dlq.get("x-dlq-error"),
        topic=dlq.get("x-dlq-topic"),
        partition=_number(dlq.get("x-dlq-partition")),
        offset=_number(dlq.get("x-dlq-offset")),
        service=dlq.get("x-dlq-service"),
    )


def preview(letter: DeadLetter) -> str:
    """The start of the value for a person: never more than PREVIEW_BYTES, always text."""
    return letter.value[:PREVIEW_BYTES].decode("utf-8", "replace")


def refusal(letter: DeadLetter) -> Refusal | None:
    """Why the dead letter cannot be replayed, or None when it can (a listing's letters too:
    this reads the headers and the key, not the value)."""
    where = origin(letter)
    return _where_refusal(letter, where) or _dropped_refusal(letter) or _altered_refusal(letter)


def replay_of(letter: DeadLetter) -> Replay | Refusal:
    """The record to write back, or why there is none."""
    refused = refusal(letter)
    if refused is not None:
        return refused
    if not letter.whole:
        raise ValueError(f"dead letter {letter.offset}: only the start of its value was read")
    where = origin(letter)
    assert where.topic is not None and where.partition is not None  # refusal() checked both
    return Replay(where.topic, where.partition, letter.key, letter.value, original_headers(letter))


def already_replayed(done: Replayed) -> Refusal:
    return Refusal(
        "already_replayed",
        f"dead letter {done.offset} was replayed to {done.topic} at {done.at.isoformat()} "
        f"by key {done.by}; a dead letter is replayed at most once",
    )


def _where_refusal(letter: DeadLetter, where: Origin) -> Refusal | None:
    dlq = dlq_headers(letter)
    if where.reason == "outbox_quarantined" or -1 in (where.partition, where.offset):
        return Refusal(
            "never_published",
            f"this event never reached {where.topic}: its outbox row was quarantined "
            f"(x-dlq-outbox-id {_first(dlq, 'x-dlq-outbox-id')} in {where.service}.outbox), "
            "so there is no record to replay",
        )
    for name in ("x-dlq-topic", "x-dlq-partition", "x-dlq-offset"):
        if len(dlq.get(name, [])) != 1:
            return Refusal("invalid_origin", f"the dead letter has no single {name} header")
    if where.partition is None or not 0 <= where.partition <= _MAX_PARTITION:
        return Refusal("invalid_origin", "x-dlq-partition is not a partition number")
    if where.offset is None or where.offset < 0:
        return Refusal("invalid_origin", "x-dlq-offset is not an offset")
    topic = where.topic or ""
    if len(topic) > _KAFKA_MAX_TOPIC or not topics.is_consumed(topic):
        return Refusal(
            "invalid_origin",
            f"x-dlq-topic {bounds.quoted(topic)} is not a topic STAX consumes: "
            "a dead letter goes back only where a STAX service read it",
        )
    return None


def _dropped_refusal(letter: DeadLetter) -> Refusal | None:
    dropped = _first(dlq_headers(letter), "x-dlq-value-dropped")
    if dropped is None:
        return None
    return Refusal(
        "value_dropped",
        f"the value ({bounds.clip(dropped, 40)}) was too large to keep in the dead letter; the "
        "original stays readable at x-dlq-topic, x-dlq-partition and x-dlq-offset until the "
        "topic's retention ends",
    )


def _altered_refusal(letter: DeadLetter) -> Refusal | None:
    """DeadLetters says in x-dlq-altered what it did not keep as it was. Dead letters written
    before it did are judged by its bounds: a key or header at them may have been cut, and bytes
    that were not UTF-8 were kept as \\xNN escapes."""
    altered = _first(dlq_headers(letter), "x-dlq-altered")
    if altered is not None:
        return Refusal(
            "altered",
            f"the dead letter does not keep the original's {bounds.clip(altered, 40)} as they "
            "were (cut, merged or escaped to fit)",
        )
    limit = bounds.DLQ_MAX_HEADER_CHARS
    headers = original_headers(letter)
    if len(letter.key or b"") >= limit or len(headers) >= bounds.DLQ_MAX_HEADERS:
        return Refusal("altered", "its key or its list of headers may have been cut")
    for name, raw in headers:
        text = raw.decode("utf-8", "replace")
        if len(name) >= limit or len(text) >= limit or _ESCAPE.search(text):
            return Refusal(
                "altered",
                f"header {bounds.quoted(name)} may have been cut, or held bytes that are not "
                "UTF-8 (kept as \\xNN escapes)",
            )
    return None


def _first(dlq: dict[str, list[str]], name: str) -> str | None:
    values = dlq.get(name)
    return values[0] if values else None


def _number(text: str | None) -> int | None:
    """An integer as DeadLetters writes one (str(int)), or None: no "+", spaces or other digits."""
    return int(text) if text is not None and _NUMBER.fullmatch(text) else None
