"""A portal sign-in link asked for (ta.portal.sign_in_requested): one e-mail to each partner
contact registered with that address, at most one a minute each, and nothing to anyone else.

The e-mail goes to the contact whatever its event-type filter says (it asked, or someone asked
in its name: either way only its own inbox may get the link), never to webhooks or Kafka
channels: a link that signs a person in belongs in that person's mailbox only."""

from __future__ import annotations

import logging
from uuid import uuid4

from services.notifier import domain
from services.notifier.unit_of_work import NotifierUnitOfWork
from shared.envelope import Envelope
from shared.events import PortalSignInRequested

SIGN_IN = PortalSignInRequested.ce_type

log = logging.getLogger(__name__)


async def send_links(
    uow: NotifierUnitOfWork, envelope: Envelope, asked: PortalSignInRequested
) -> None:
    # No match is not worth a log line: the digest stands for an address, and a line saying
    # "nobody has it" next to it would help whoever guesses addresses (and keep one of them).
    for contact in await uow.contacts.with_address_digest(asked.email_sha256):
        # Race-free without a lock: records are keyed by the digest, so every request for one
        # address (hence for one contact) is on one partition, applied one after another; a
        # batch is one transaction, which sees its own earlier rows.
        if await uow.deliveries.queued_within(contact.contact_id, SIGN_IN, domain.SIGN_IN_THROTTLE):
            log.info(
                "sign-in e-mail to contact %s held back: one was queued in the last minute",
                contact.contact_id,
            )
            continue
        await uow.deliveries.add(_delivery(envelope, contact))


def _delivery(envelope: Envelope, contact: domain.Contact) -> domain.NewDelivery:
    delivery_id = uuid4()
    # The delivery's id is the link's nonce: one link per e-mail, traceable to its row.
    data = domain.sign_in_data(
        contact.partner_id, contact.contact_id, str(delivery_id), envelope.time
    )
    return domain.NewDelivery(
        delivery_id=delivery_id,
        event_id=envelope.id,  # a redelivered request queues nothing more (event_id, contact_id)
        event_type=SIGN_IN,
        partner_id=contact.partner_id,
        request_id=None,
        payload=domain.webhook_body(SIGN_IN, envelope.time, data),
        contact_id=contact.contact_id,
    )
