"""Kafka channel: a partner's events mirrored, through the outbox, to ta.partner.<id>.v1."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent

from shared.envelope import JSON, Envelope, OutgoingRecord
from shared.topics import partner_topic

SOURCE = "/stax/notifier"


def mirror_id(event_id: UUID, partner_id: str) -> UUID:
    """The mirror's ce_id: new (the outbox keys on ce_id, and one event may be mirrored to
    several partners) but derived from the original, so it is the same after any retry."""
    return uuid5(NAMESPACE_URL, f"stax:mirror:{partner_id}:{event_id}")


def mirror_record(envelope: Envelope, partner_id: str) -> OutgoingRecord:
    """Same type, subject, time and data as the event mirrored; source is notifier's."""
    ce_id = mirror_id(envelope.id, partner_id)
    subject = envelope.subject or str(envelope.id)
    attributes: dict[str, Any] = {
        "id": str(ce_id),
        "source": SOURCE,
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
        topic=partner_topic(partner_id),
        key=subject.encode(),
        headers={k: v.decode() for k, v in message.headers.items()},
        value=message.value,
    )
