"""Kafka channel: a partner's events mirrored, through the outbox, to ta.partner.<id>.v1."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from shared import envelope as ce
from shared.envelope import Envelope, OutgoingRecord
from shared.topics import partner_topic

SOURCE = "/stax/notifier"


def mirror_id(event_id: UUID, partner_id: str) -> UUID:
    """The mirror's ce_id: new (the outbox keys on ce_id, and one event may be mirrored to
    several partners) but derived from the original, so it is the same after any retry."""
    return uuid5(NAMESPACE_URL, f"stax:mirror:{partner_id}:{event_id}")


def mirror_record(envelope: Envelope, partner_id: str) -> OutgoingRecord:
    """Same type, subject, time and data as the event mirrored; source is notifier's."""
    return ce.mirror_record(
        envelope,
        partner_topic(partner_id),
        source=SOURCE,
        ce_id=mirror_id(envelope.id, partner_id),
    )
