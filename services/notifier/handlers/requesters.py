"""The requesting Party: its contact recorded from ta.request.accepted, the notices for it, and
its share of an erasure (ta.request.erased)."""

from __future__ import annotations

from uuid import UUID, uuid4, uuid5

from services.notifier import domain
from services.notifier.unit_of_work import NotifierUnitOfWork
from shared.envelope import Envelope
from shared.events import NotificationFailed, RequestAccepted, RequestErased


def contact_id_of(request_id: UUID) -> UUID:
    # Derived from the request, so the contact has one id however often it is recorded.
    return uuid5(request_id, "requester")


async def remember(
    uow: NotifierUnitOfWork, accepted: RequestAccepted
) -> domain.RequesterContact | None:
    """Record the Party's contact, then send it the notices that arrived before it; the
    contact as recorded (None if erased meanwhile), its row lock held until the unit ends."""
    await uow.requesters.lock(accepted.request_id)
    await uow.requesters.save_contact(
        contact_id=contact_id_of(accepted.request_id),
        request_id=accepted.request_id,
        party=accepted.party,
        email=str(accepted.contact.email),
        name=accepted.contact.name,
        language=domain.pick_language(accepted.languages),
    )
    contact = await uow.requesters.contact(accepted.request_id)
    for notice in await uow.requesters.take_pending(accepted.request_id):
        if contact is not None and contact.enabled:
            await _deliver(uow, contact, accepted.request_id, notice)
    return contact


async def tell(
    uow: NotifierUnitOfWork,
    envelope: Envelope,
    request_id: UUID,
    body: str,
    *,
    remembered: domain.RequesterContact | None = None,
) -> None:
    """`remembered`: the contact `remember` just recorded in this unit, under the same lock
    (two round trips fewer for every request's ta.request.accepted)."""
    contact = remembered
    if contact is None:
        # Serialised with the recording of the contact (see RequesterRepository.lock).
        await uow.requesters.lock(request_id)
        contact = await uow.requesters.contact(request_id)
    if contact is None:
        # Its ta.request.accepted (another topic) is not consumed yet: wait for it there.
        await uow.requesters.add_pending(request_id, envelope.id, envelope.type, body)
        return
    if not contact.enabled:
        return  # its personal data was erased: nobody is left to tell
    notice = domain.PendingNotice(envelope.id, envelope.type, body)
    await _deliver(uow, contact, request_id, notice)


async def _deliver(
    uow: NotifierUnitOfWork,
    contact: domain.RequesterContact,
    request_id: UUID,
    notice: domain.PendingNotice,
) -> None:
    await uow.deliveries.add(
        domain.NewDelivery(
            delivery_id=uuid4(),
            event_id=notice.event_id,
            event_type=notice.event_type,
            partner_id=f"party:{contact.party}",
            request_id=request_id,
            payload=notice.payload,
            contact_id=contact.contact_id,
        )
    )


async def erase(uow: NotifierUnitOfWork, _envelope: Envelope, erased: RequestErased) -> None:
    """notifier's share of an erasure: the Party's contact, the bodies and errors that name it."""
    # Serialised with the fan-out of this request's notices (see RequesterRepository.lock).
    await uow.requesters.lock(erased.request_id)
    contact_id = contact_id_of(erased.request_id)
    await uow.requesters.erase(contact_id, erased.request_id)
    await uow.deliveries.redact_request(erased.request_id, contact_id)
    # Notices still waiting for the contact have no one to go to any more.
    await uow.requesters.drop_pending(erased.request_id)
    await uow.redact_outbox(erased.request_id, [NotificationFailed.ce_type], ["last_error"])
