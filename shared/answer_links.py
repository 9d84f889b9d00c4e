"""Signed one-click answer links (brief §7.4): who may answer which offer, how, until when.

Pure: no I/O. notifier signs them into offer e-mails, intake verifies them when a person follows
one. The token is the capability (no API key goes with it), so it is signed with a secret both
services share (STAX_ANSWER_LINK_SECRET) and carries its own expiry, the offer's `respond_by`.
Single use is intake's to enforce: it keeps the digest of every link confirmed (`digest`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from itsdangerous import BadData, URLSafeSerializer

LinkDecision = Literal["accept", "decline"]
DECISIONS: tuple[LinkDecision, ...] = ("accept", "decline")
# A new salt (…v2) invalidates every link signed before: change it if the payload changes.
SALT = "stax.answer-link.v1"
# Real tokens are ~200 characters; anything far longer is refused before it is decoded.
MAX_TOKEN_LENGTH = 1024


class BadLink(ValueError):  # noqa: N818 - the brief's name for what a page says
    """Not a link we signed: tampered, truncated, garbage, or signed with another secret."""


class ExpiredLink(ValueError):  # noqa: N818 - as BadLink
    """A genuine link whose offer's `respond_by` has passed."""


@dataclass(frozen=True)
class AnswerLink:
    assignment_id: UUID
    partner_id: str
    decision: LinkDecision
    expires_at: datetime  # timezone-aware: the offer's respond_by


def sign(link: AnswerLink, secret: str) -> str:
    payload = {"a": str(link.assignment_id), "p": link.partner_id, "d": link.decision}
    return signed_token(payload, link.expires_at, secret, SALT)


def signed_token(payload: dict[str, str], expires_at: datetime, secret: str, salt: str) -> str:
    """`payload` with its expiry (key "e"), signed by `secret` under `salt` (shared by every
    kind of signed link; `signed_payload` reads it back)."""
    if not secret:
        raise ValueError("signed links need a secret")
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    token: str = URLSafeSerializer(secret, salt=salt).dumps(payload | {"e": expires_at.isoformat()})
    return token


def verify(token: str, secret: str, now: datetime) -> AnswerLink:
    """The link `token` stands for; raises BadLink or ExpiredLink, nothing else."""
    link = _parse(signed_payload(token, secret, SALT))
    if now > link.expires_at:
        raise ExpiredLink(f"the link expired at {link.expires_at.isoformat()}")
    return link


def digest(token: str) -> str:
    """What intake keeps of a confirmed link: enough to know it again, useless to forge one."""
    return hashlib.sha256(token.encode()).hexdigest()


def signed_payload(token: str, secret: str, salt: str) -> Any:
    """What `token` carries if `secret` signed it under `salt`; BadLink otherwise. A token over
    MAX_TOKEN_LENGTH is refused before it is decoded (shared by every kind of signed link)."""
    if not secret or len(token) > MAX_TOKEN_LENGTH:
        raise BadLink("not a valid link")
    try:
        return URLSafeSerializer(secret, salt=salt).loads(token)
    except (BadData, ValueError, UnicodeError) as exc:  # BadSignature, BadPayload, …
        raise BadLink("not a valid link") from exc


def _parse(payload: Any) -> AnswerLink:
    """The signed payload, checked anyway: a signature says who wrote it, not that it is sane."""
    if not isinstance(payload, dict) or set(payload) != {"a", "p", "d", "e"}:
        raise BadLink("not a valid link")
    assignment, partner, decision, expires = (payload[k] for k in ("a", "p", "d", "e"))
    if not all(isinstance(v, str) for v in (assignment, partner, decision, expires)):
        raise BadLink("not a valid link")
    try:
        expires_at = datetime.fromisoformat(expires)
        assignment_id = UUID(assignment)
    except ValueError as exc:
        raise BadLink("not a valid link") from exc
    if decision not in DECISIONS or not partner or expires_at.tzinfo is None:
        raise BadLink("not a valid link")
    return AnswerLink(assignment_id, partner, decision, expires_at)
