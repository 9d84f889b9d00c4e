"""notifier's consume-side use case: turn one event into deliveries (in the consumer's tx)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4, uuid5

import asyncpg
from pydantic import BaseModel

from services.notifier import domain, kafka_channel, repository
from shared.db import Conn
from shared.envelope import Envelope
from shared.events import NotificationFailed, RequestAccepted, RequestErased
from shared.outbox import Outbox


class Fanout:
    """Applies an event: one delivery row per (event, endpoint) and (event, contact), and the
    Kafka-channel mirrors through the outbox, all in the consumer's transaction, so the inbox
    row, the deliveries and the mirrors commit together or not at all."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    async def __call__(self, conn: Conn, envelope: Envelope, data: BaseModel) -> None:
        if isinstance(data, RequestAccepted):
            await _remember_requester(conn, data)
        body = domain.webhook_body(envelope.type, envelope.time, domain.minimised(envelope.data))
        request_id = _request_id(envelope.data)
        for who in domain.audience(envelope.type, envelope.data):
            if isinstance(who, domain.Requester):
                await _to_requester(conn, envelope, who.request_id, body)
                continue
            await queue_for_partner(
                conn,
                who.partner_id,
                event_type=envelope.type,
                event_id=envelope.id,
                body=body,
                request_id=request_id,
            )
            channel = await repository.kafka_channel(conn, who.partner_id)
            if channel is not None and domain.wants(channel["event_types"], envelope.type):
                await self._outbox.add(
                    conn, [kafka_channel.mirror_record(envelope, who.partner_id)]
                )


def _request_id(data: dict[str, Any]) -> UUID | None:
    return UUID(str(data["request_id"])) if "request_id" in data else None


async def on_request_erased(
    outbox: Outbox, conn: Conn, _envelope: Envelope, erased: RequestErased
) -> None:
    """notifier's share of an erasure: the Party's contact, the bodies and errors that name it."""
    # Serialised with the Fanout of this request's notices (see lock_requester).
    await repository.lock_requester(conn, erased.request_id)
    contact_id = requester_contact_id(erased.request_id)
    await repository.erase_requester(conn, contact_id, erased.request_id)
    await repository.redact_deliveries(conn, erased.request_id, contact_id)
    await outbox.redact(conn, erased.request_id, [NotificationFailed.ce_type], ["last_error"])


def requester_contact_id(request_id: UUID) -> UUID:
    # Derived from the request, so the contact has one id however often it is recorded.
    return uuid5(request_id, "requester")


async def _remember_requester(conn: Conn, accepted: RequestAccepted) -> None:
    await repository.lock_requester(conn, accepted.request_id)
    await repository.save_requester_contact(
        conn,
        contact_id=requester_contact_id(accepted.request_id),
        request_id=accepted.request_id,
        party=accepted.party,
        email=str(accepted.contact.email),
        name=accepted.contact.name,
        language=domain.pick_language(accepted.languages),
    )
    contact = await repository.requester_contact(conn, accepted.request_id)
    for notice in await repository.take_requester_pending(conn, accepted.request_id):
        if contact is not None and contact["enabled"]:
            await _requester_delivery(
                conn,
                contact,
                event_id=notice["event_id"],
                event_type=notice["event_type"],
                request_id=accepted.request_id,
                body=notice["payload"],
            )


async def _to_requester(conn: Conn, envelope: Envelope, request_id: UUID, body: str) -> None:
    await repository.lock_requester(conn, request_id)
    contact = await repository.requester_contact(conn, request_id)
    if contact is None:
        # Its ta.request.accepted (another topic) is not consumed yet: wait for it there.
        await repository.add_requester_pending(conn, request_id, envelope.id, envelope.type, body)
        return
    if not contact["enabled"]:
        return  # its personal data was erased: nobody is left to tell
    await _requester_delivery(
        conn,
        contact,
        event_id=envelope.id,
        event_type=envelope.type,
        request_id=request_id,
        body=body,
    )


async def _requester_delivery(
    conn: Conn,
    contact: asyncpg.Record,
    *,
    event_id: UUID,
    event_type: str,
    request_id: UUID,
    body: str,
) -> None:
    await repository.add_delivery(
        conn,
        delivery_id=uuid4(),
        event_id=event_id,
        event_type=event_type,
        partner_id=f"party:{contact['party']}",
        request_id=request_id,
        payload=body,
        contact_id=contact["contact_id"],
    )


async def queue_for_partner(
    conn: Conn,
    partner_id: str,
    *,
    event_type: str,
    event_id: UUID,
    body: str,
    request_id: UUID | None,
    email_only: bool = False,
    ignore_filters: bool = False,
) -> int:
    """Deliveries to a partner's endpoints and contacts that want this event type."""
    queued = 0
    targets: list[tuple[str, Any, list[str]]] = [
        ("contact", c["contact_id"], c["event_types"])
        for c in await repository.contacts_of(conn, partner_id)
    ]
    if not email_only:
        targets += [
            ("endpoint", e.endpoint_id, list(e.event_types))
            for e in await repository.endpoints_of(conn, partner_id)
        ]
    for kind, target_id, event_types in targets:
        if ignore_filters or domain.wants(event_types, event_type):
            queued += await repository.add_delivery(
                conn,
                delivery_id=uuid4(),
                event_id=event_id,
                event_type=event_type,
                partner_id=partner_id,
                request_id=request_id,
                payload=body,
                endpoint_id=target_id if kind == "endpoint" else None,
                contact_id=target_id if kind == "contact" else None,
            )
    return queued
