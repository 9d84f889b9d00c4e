"""What matcher knows of a request: only what matching reads (issue 9, finding 8).

`ta.request.accepted` also carries the requesting Party's contact, which matcher never uses, so
it is never kept: this is the shape stored in `matcher.requests.request`.
"""

from __future__ import annotations

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

    @classmethod
    def of(cls, accepted: RequestAccepted) -> MatchRequest:
        return cls.model_validate(accepted.model_dump(include=set(cls.model_fields)))
