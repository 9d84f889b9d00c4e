"""Kafka channel: a partner's events mirrored, through the outbox, to ta.partner.<id>.v1."""

from __future__ import annotations

from shared.envelope import Envelope, OutgoingRecord, mirror_record
from shared.topics import partner_topic

SOURCE = "/stax/notifier"


def partner_mirror(envelope: Envelope, partner_id: str) -> OutgoingRecord:
    """Same type, subject, time and data as the event mirrored; source is notifier's. Its ce_id
    is shared.envelope's: derived from the event and the partner's topic, so the same after any
    retry, and distinct per partner (the outbox keys on ce_id)."""
    return mirror_record(envelope, partner_topic(partner_id), source=SOURCE)
