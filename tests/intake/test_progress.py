"""Which view of a request's status is the later one (domain.progress), rule by rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.intake.domain.model import RequestStatus, StatusMark
from services.intake.domain.progress import supersedes

T = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
LATER = T + timedelta(seconds=1)


def mark(status: RequestStatus, at: datetime | None = T) -> StatusMark:
    return StatusMark(status, at)


@pytest.mark.parametrize(
    ("new", "current", "wins"),
    [
        (mark("matching"), mark("accepted", None), True),  # the matcher's first word
        (mark("accepted", None), mark("accepted", None), False),
        (mark("matching", LATER), mark("matched"), True),  # a re-offer after the match
        (mark("matching"), mark("matched", LATER), False),  # an offer heard late
        (mark("matching", LATER), mark("waiting"), True),  # a waiting request gets an offer
        (mark("waiting", LATER), mark("matching"), True),
        (mark("matched"), mark("matching"), True),  # a tie: the settlement outranks the offer
        (mark("matching"), mark("matched"), False),
        (mark("matched"), mark("matched"), False),  # the same again changes nothing
        (mark("completed"), mark("matched", LATER), True),  # completed follows any of them
        (mark("matching", LATER), mark("completed"), False),
        (mark("closed"), mark("completed", LATER), True),
        (mark("closed"), mark("unmatched", LATER), True),  # an operator closes an unmatched one
        (mark("completed", LATER), mark("closed"), False),  # nothing moves a closed request
        (mark("matched", LATER), mark("closed"), False),
        (mark("closed", LATER), mark("closed"), False),
    ],
)
def test_the_later_view_wins_and_closed_and_completed_are_final(
    new: StatusMark, current: StatusMark, wins: bool
) -> None:
    assert supersedes(new, current) is wins
