"""The Accept / Decline links of an offer e-mail: intake's `/answer/{token}` pages, signed here
with the secret intake verifies them with (shared.answer_links)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

from shared import answer_links
from shared.answer_links import AnswerLink

# Only offers are answered by a person from the e-mail; webhooks never carry links (programs
# answer with their partner key).
ANSWERABLE = "ta.assignment.offered"


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

    def _token(
        self, data: Mapping[str, Any], decision: answer_links.LinkDecision, expires_at: datetime
    ) -> str:
        link = AnswerLink(
            UUID(str(data["assignment_id"])), str(data["partner_id"]), decision, expires_at
        )
        return answer_links.sign(link, self.secret)


def link_maker(public_url: str, secret: str) -> LinkMaker | None:
    """None when no secret is set: the e-mails then carry no links."""
    return LinkMaker(public_url, secret) if secret else None
