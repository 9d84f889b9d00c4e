"""An event in, deliveries out: who hears of it, one delivery row per endpoint and contact that
wants it, and the partners' Kafka-channel mirrors through the outbox, all in the consumer's
unit, so the inbox row, the deliveries and the mirrors commit together or not at all."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel

from services.notifier import domain
from services.notifier.adapters.kafka_channel import partner_mirror
from services.notifier.handlers import requesters
from services.notifier.unit_of_work import NotifierUnitOfWork
from shared.envelope import Envelope
from shared.events import RequestAccepted


async def fan_out(uow: NotifierUnitOfWork, envelope: Envelope, data: BaseModel) -> None:
    remembered = None
    if isinstance(data, RequestAccepted):
        remembered = await requesters.remember(uow, data)
    body = domain.webhook_body(envelope.type, envelope.time, domain.minimised(envelope.data))
    for who in domain.audience(envelope.type, envelope.data):
        if isinstance(who, domain.Requester):
            await requesters.tell(uow, envelope, who.request_id, body, remembered=remembered)
            continue
        subscribers = await uow.subscribers.of_partner(who.partner_id)
        await queue_for_partner(
            uow,
            subscribers,
            event_type=envelope.type,
            event_id=envelope.id,
            body=body,
            request_id=_request_id(envelope.data),
        )
        await _mirror(uow, envelope, subscribers)


def _request_id(data: dict[str, Any]) -> UUID | None:
    return UUID(str(data["request_id"])) if "request_id" in data else None


async def _mirror(
    uow: NotifierUnitOfWork, envelope: Envelope, subscribers: domain.Subscribers
) -> None:
    channel = subscribers.channel
    if channel is not None and channel.wants(envelope.type):
        await uow.emit([partner_mirror(envelope, subscribers.partner_id)])


async def queue_for_partner(
    uow: NotifierUnitOfWork,
    subscribers: domain.Subscribers,
    *,
    event_type: str,
    event_id: UUID,
    body: str,
    request_id: UUID | None,
    email_only: bool = False,
    ignore_filters: bool = False,
) -> None:
    """Deliveries to a partner's endpoints and contacts that want this event type."""
    endpoints = [] if email_only else subscribers.endpoints
    targets = [(c, False) for c in subscribers.contacts] + [(e, True) for e in endpoints]
    for subscriber, is_endpoint in targets:
        if ignore_filters or subscriber.wants(event_type):
            delivery = domain.NewDelivery(
                delivery_id=uuid4(),
                event_id=event_id,
                event_type=event_type,
                partner_id=subscribers.partner_id,
                request_id=request_id,
                payload=body,
                endpoint_id=subscriber.target_id if is_endpoint else None,
                contact_id=None if is_endpoint else subscriber.target_id,
            )
            await uow.deliveries.add(delivery)
