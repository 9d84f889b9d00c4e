"""Portal sign-in e-mails: what a queued one carries, and how often a contact may get one."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from shared import sign_in_links

# At most one sign-in e-mail per contact in this window: the portal's form asks for an address
# only, so anyone could otherwise fill a contact's inbox with them.
SIGN_IN_THROTTLE = timedelta(seconds=60)


def sign_in_data(
    partner_id: str, contact_id: UUID, nonce: str, asked_at: datetime
) -> dict[str, str]:
    """What the stored e-mail body holds: the link's parts, never the signed token itself (the
    mailer signs it when it sends, so no usable link rests in the deliveries table)."""
    return {
        "partner_id": partner_id,
        "contact_id": str(contact_id),
        "nonce": nonce,
        "expires_at": (asked_at + sign_in_links.VALID_FOR).isoformat(),
    }
