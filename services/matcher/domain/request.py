"""What matcher knows of a request: only what matching reads (issue 9, finding 8), and when
it was accepted (what its time to first offer and to match are counted from).

`ta.request.accepted` also carries the requesting Party's contact, which matcher never uses, so
it is never kept: this is the shape stored in `matcher.requests.request`.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict

from shared.events import RequestAccepted, Urgency


class MatchRequest(BaseModel):
    # extra="ignore": rows stored before this shape existed read the same way.
    model_config = ConfigDict(frozen=True, extra="ignore")
    request_id: UUID
    party: str
    region: str
    topics: list[str]
    assistance_types: list[str]
    languages: list[str]
    # Rows stored before migration 0004 have none: they are treated as routine.
    urgency: Urgency = Urgency.ROUTINE
    # Rows stored before the metrics (issue 15) have none: their times are not counted.
    accepted_at: datetime | None = None

    @classmethod
    def of(cls, accepted: RequestAccepted) -> MatchRequest:
        return cls.model_validate(accepted.model_dump(include=set(cls.model_fields)))

    def seconds_since_accepted(self, now: datetime) -> float | None:
        """How long since intake accepted it: since its submission, as intake's console and
        report count it (an HTTP submission is accepted as it arrives). None if not known."""
        if self.accepted_at is None:
            return None
        return max(0.0, (now - self.accepted_at).total_seconds())
