"""Pure rules of matcher. No I/O here.

Walking-skeleton rule: every accepted request is offered, as lead, to the Secretariat, which
covers every topic. The scoring and saga of the matcher issue replace `placeholder_offer`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from shared.events import AssignmentOffered, RequestAccepted, Role


@dataclass(frozen=True)
class Partner:
    partner_id: str
    name: str


SECRETARIAT = Partner("secretariat", "Secretariat of the Stockholm Convention")


def placeholder_offer(
    request: RequestAccepted, *, assignment_id: UUID, now: datetime, respond_within: timedelta
) -> AssignmentOffered:
    return AssignmentOffered(
        assignment_id=assignment_id,
        request_id=request.request_id,
        partner_id=SECRETARIAT.partner_id,
        partner_name=SECRETARIAT.name,
        role=Role.LEAD,
        score=1.0,
        reasons=["placeholder rule: the Secretariat leads every request"],
        covers_topics=list(request.topics),
        respond_by=now + respond_within,
    )
