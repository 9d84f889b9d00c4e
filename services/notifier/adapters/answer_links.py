"""The links people follow from e-mails, signed here with the secret intake verifies them with:
an offer's Accept / Decline links to intake's `/answer/{token}` pages (shared.answer_links), and
a portal sign-in link to `/portal/sign-in/link/{token}` (shared.sign_in_links)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

from shared import answer_links, sign_in_links
from shared.answer_links import AnswerLink
from shared.events import PortalSignInRequested
from shared.sign_in_links import SignInLink

# Only offers are answered by a person from the e-mail; webhooks never carry links (programs
# answer with their partner key).
ANSWERABLE = "ta.assignment.offered"
# A sign-in e-mail is nothing but its link.
SIGN_IN = PortalSignInRequested.ce_type


@dataclass(frozen=True)
class LinkMaker:
    public_url: str  # intake as people reach it, e.g. https://stax.example.org
    secret: str

    def links(self, data: Mapping[str, Any]) -> dict[str, str]:
        """{"accept": url, "decline": url} for an offer's event data (as notifier stored it)."""
        base = self.public_url.rstrip("/")
        expires_at = datetime.fromisoformat(str(data["respond_by"]))
        return {
            decision: f"{base}/answer/{quote(self._token(data, decision, expires_at), safe='')}"
            for decision in answer_links.DECISIONS
        }

    def sign_in(self, data: Mapping[str, Any]) -> str:
        """The portal sign-in link for a sign-in e-mail's data (domain.sign_in_data). Signed
        when the e-mail is made, so the deliveries table never holds a usable link; the same
        data always gives the same token, so a retried e-mail carries the same one link."""
        link = SignInLink(
            partner_id=str(data["partner_id"]),
            contact_id=UUID(str(data["contact_id"])),
            nonce=str(data["nonce"]),
            expires_at=datetime.fromisoformat(str(data["expires_at"])),
        )
        token = sign_in_links.sign(link, self.secret)
        return f"{self.public_url.rstrip('/')}/portal/sign-in/link/{quote(token, safe='')}"

    def _token(
        self, data: Mapping[str, Any], decision: answer_links.LinkDecision, expires_at: datetime
    ) -> str:
        link = AnswerLink(
            UUID(str(data["assignment_id"])), str(data["partner_id"]), decision, expires_at
        )
        return answer_links.sign(link, self.secret)


def link_maker(public_url: str, secret: str) -> LinkMaker | None:
    """None when no secret is set: offer e-mails then carry no links, and sign-in e-mails are
    not sent (see mailer.Templates)."""
    return LinkMaker(public_url, secret) if secret else None
