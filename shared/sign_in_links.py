"""Signed sign-in links to the partner portal (brief §7.4: "sign-in by e-mailed magic link").

Pure: no I/O. A person asks intake's portal for a link with an e-mail address; intake passes
only that address's digest to notifier (`email_digest`), which e-mails a link to each partner
contact registered with that address. The token names the partner and the contact, expires
after `VALID_FOR`, and carries a nonce, so every link is distinct: intake keeps the digest of
each link used and refuses it a second time. Signed with the secret of answer links under its
own salt, so an answer link is never a sign-in link, nor the other way round.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from shared.answer_links import BadLink, ExpiredLink, digest, signed_payload, signed_token

SALT = "stax.sign-in-link.v1"
VALID_FOR = timedelta(minutes=15)

__all__ = ["BadLink", "ExpiredLink", "SignInLink", "digest", "email_digest", "sign", "verify"]


@dataclass(frozen=True)
class SignInLink:
    partner_id: str
    contact_id: UUID
    nonce: str  # the e-mail's delivery id: one link per e-mail sent
    expires_at: datetime  # timezone-aware


def email_digest(email: str) -> str:
    """What travels from intake to notifier instead of the address: SHA-256 of its trimmed,
    lower-cased form. notifier computes the same over its contacts (PostgreSQL's sha256)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def sign(link: SignInLink, secret: str) -> str:
    payload = {"p": link.partner_id, "c": str(link.contact_id), "n": link.nonce}
    return signed_token(payload, link.expires_at, secret, SALT)


def verify(token: str, secret: str, now: datetime) -> SignInLink:
    """The link `token` stands for; raises BadLink or ExpiredLink, nothing else."""
    link = _parse(signed_payload(token, secret, SALT))
    if now > link.expires_at:
        raise ExpiredLink(f"the link expired at {link.expires_at.isoformat()}")
    return link


def _parse(payload: Any) -> SignInLink:
    """The signed payload, checked anyway: a signature says who wrote it, not that it is sane."""
    if not isinstance(payload, dict) or set(payload) != {"p", "c", "n", "e"}:
        raise BadLink("not a valid link")
    values = [payload[k] for k in ("p", "c", "n", "e")]
    if not all(isinstance(v, str) and 0 < len(v) <= 100 for v in values):
        raise BadLink("not a valid link")
    partner, contact, nonce, expires = values
    try:
        expires_at = datetime.fromisoformat(expires)
        contact_id = UUID(contact)
    except ValueError as exc:
        raise BadLink("not a valid link") from exc
    if expires_at.tzinfo is None:
        raise BadLink("not a valid link")
    return SignInLink(partner, contact_id, nonce, expires_at)
