"""CloudEvents 1.0 in Kafka binary mode: the `ce_*` headers around every record.

Records are built and read with the `cloudevents` SDK so that what we write is exactly what any
CloudEvents consumer expects, and what we accept is checked against the spec.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent

from shared import storable
from shared.events import Event

JSON = "application/json"


class PoisonRecord(Exception):  # noqa: N818 - it names the record, not the failure
    """A record that can never be processed, however often it is retried: dead-letter it."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(f"{reason}: {error}")
        self.reason = reason
        self.error = error


@dataclass(frozen=True)
class Envelope:
    """The CloudEvents attributes of one record, plus its JSON data."""

    id: UUID
    type: str
    source: str
    subject: str | None
    time: datetime
    data: dict[str, Any]
    # The tenant whose topic the record arrived on (brief §7.1): the broker's ACLs vouch for it,
    # unlike anything in the headers or the data. None on STAX's own topics.
    tenant: str | None = None


@dataclass(frozen=True)
class OutgoingRecord:
    ce_id: UUID
    topic: str
    key: bytes
    headers: dict[str, str]
    value: bytes


def build_record(
    event: Event,
    *,
    source: str,
    subject: str,
    ce_id: UUID | None = None,
    time: datetime | None = None,
) -> OutgoingRecord:
    """Wrap event data in binary-mode CloudEvents headers; the key is the subject (request id)."""
    attributes: dict[str, Any] = {
        "id": str(ce_id or uuid4()),
        "source": source,
        "type": event.ce_type,
        "specversion": "1.0",
        "time": time or datetime.now(UTC),
        "subject": subject,
        "datacontenttype": JSON,
    }
    message = ce_kafka.to_binary_event(
        CloudEvent(attributes, event.model_dump(mode="json")),
        key_mapper=lambda _event: subject,
    )
    return OutgoingRecord(
        ce_id=UUID(attributes["id"]),
        topic=event.topic,
        key=subject.encode(),
        headers={k: v.decode() for k, v in message.headers.items()},
        value=message.value,
    )


def mirror_record(
    envelope: Envelope, topic: str, *, source: str, ce_id: UUID | None = None
) -> OutgoingRecord:
    """A copy of a consumed event for another topic: same type, subject, time and data.

    Its ce_id is new (the outbox is keyed by ce_id, and one event may be mirrored to several
    topics) but derived from the original and the topic unless given, so it is the same after
    any retry."""
    ce_id = ce_id or uuid5(NAMESPACE_URL, f"stax:mirror:{topic}:{envelope.id}")
    subject = envelope.subject or str(envelope.id)
    attributes: dict[str, Any] = {
        "id": str(ce_id),
        "source": source,
        "type": envelope.type,
        "specversion": "1.0",
        "time": envelope.time,
        "subject": subject,
        "datacontenttype": JSON,
    }
    message = ce_kafka.to_binary_event(
        CloudEvent(attributes, envelope.data), key_mapper=lambda _event: subject
    )
    return OutgoingRecord(
        ce_id=ce_id,
        topic=topic,
        key=subject.encode(),
        headers={k: v.decode() for k, v in message.headers.items()},
        value=message.value,
    )


def as_envelope(record: OutgoingRecord) -> Envelope:
    """The envelope a consumer will read for a record STAX itself is about to publish."""
    return Envelope(
        id=record.ce_id,
        type=record.headers["ce_type"],
        source=record.headers["ce_source"],
        subject=record.headers.get("ce_subject"),
        time=datetime.fromisoformat(record.headers["ce_time"]),
        data=json.loads(record.value),
    )


def parse_record(
    headers: Sequence[tuple[str, bytes | None]], key: bytes | None, value: bytes | None
) -> Envelope:
    """Read a consumed record; anything that is not a binary-mode JSON CloudEvent is poison."""
    try:
        as_dict = {k: (v or b"") for k, v in headers}
        event = ce_kafka.from_binary_event(
            ce_kafka.KafkaMessage(headers=as_dict, key=key, value=value or b"")
        )
    except UnicodeDecodeError as exc:
        raise PoisonRecord("bad_encoding", str(exc)) from exc
    except json.JSONDecodeError as exc:
        raise PoisonRecord("not_json", str(exc)) from exc
    except ValueError as exc:  # an attribute the SDK cannot read, say a ce_time that is no time
        raise PoisonRecord("not_a_cloudevent", f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:
        raise PoisonRecord("not_a_cloudevent", f"{type(exc).__name__}: {exc}") from exc
    return _to_envelope(event)


def _to_envelope(event: Any) -> Envelope:
    # The SDK also reads CloudEvents 0.3; the contract (brief §3) is 1.0 only.
    if event.get_specversion() != "1.0":
        raise PoisonRecord(
            "not_a_cloudevent", f"ce_specversion is {event.get_specversion()!r}, not '1.0'"
        )
    data = event.get_data()
    if isinstance(data, str | bytes):  # the SDK hands back undecodable JSON as raw text
        raise PoisonRecord("not_json", f"value is not JSON: {str(data)[:80]!r}")
    if not isinstance(data, dict):
        raise PoisonRecord("not_json_object", f"data is {type(data).__name__}, not an object")
    _check_storable(data)
    for attribute in (event.get_type(), event.get_source(), event.get_subject()):
        _check_text(str(attribute or ""))  # stored in text columns too: the same refusal
    try:
        ce_id = UUID(str(event.get_id()))
    except ValueError as exc:
        raise PoisonRecord("bad_ce_id", f"ce_id is not a UUID: {event.get_id()!r}") from exc
    time = event.get_time() or datetime.now(UTC)
    return Envelope(
        id=ce_id,
        type=str(event.get_type()),
        source=str(event.get_source()),
        subject=event.get_subject(),
        time=time,
        data=data,
    )


def _check_storable(data: dict[str, Any]) -> None:
    """Refuse data PostgreSQL can never store (handlers keep event data in jsonb and text):
    every retry would meet the same error (shared.storable)."""
    found = storable.first_unstorable(data)
    if found is not None:
        raise PoisonRecord(found.code, found.message)


def _check_text(text: str) -> None:
    problem = storable.text_problem(text)
    if problem is not None:
        raise PoisonRecord(storable.UNSTORABLE_TEXT, problem)
