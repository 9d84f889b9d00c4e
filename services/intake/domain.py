"""Pure rules of intake: what an accepted request is. No I/O here."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from shared.events import Eligibility, RequestAccepted, RequestSubmission

# Regions of the Western European and Others Group are donors, not recipients (reference:
# eligibility.md). The full eligibility table (EIT, LDC, SIDS) arrives with the intake issue.
_DONOR_REGION = "WEOG"


@dataclass(frozen=True)
class Reference:
    """Reference facts intake needs: ISO-3 code → UN regional group code."""

    regions: Mapping[str, str]


class UnknownPartyError(ValueError):
    """The party code is not in the reference data."""


def body_hash(submission: RequestSubmission) -> str:
    """A stable fingerprint of a submission, to tell a retry from a changed resubmission."""
    canonical = json.dumps(submission.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def accept(
    submission: RequestSubmission,
    *,
    request_id: UUID,
    submitter: str,
    reference: Reference,
    now: datetime,
) -> RequestAccepted:
    region = reference.regions.get(submission.party)
    if region is None:
        raise UnknownPartyError(submission.party)
    return RequestAccepted(
        **submission.model_dump(),
        request_id=request_id,
        submitter=submitter,
        region=region,
        eligibility=Eligibility(
            developing=region != _DONOR_REGION, economy_in_transition=False, ldc=False, sids=False
        ),
        accepted_at=now,
    )
